"""Tryout 16b (issue 16), labelfix: a barcode already known is refused at `tape label`;
a tape whose label cannot be read costs that tape only; LTFS messages that say what
happened; the room of a tape without walking it; the TUI tape screen's words."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.test_station import settings_in
from tests.test_tape_retrieve import cli, station_root  # noqa: F401 (fixture)
from workbench.station import Station
from workbench.tape.tapes import LABEL


def test_label_refuses_a_barcode_the_ledger_knows_for_another_cartridge(
        station_root: Path, tmp_path: Path):  # noqa: F811
    root = station_root
    # the real primary cartridge leaves the station; a blank one gets its barcode
    shutil.move(root / "tape" / "P00001L8", tmp_path / "shelf-P00001L8")
    run = cli(root, "tape", "label", str(root / "tape" / "NEW"), "--barcode", "P00001L8",
              "--pool", "primary")
    assert run.returncode == 6, run.stderr
    assert "P00001L8" in run.stderr and "pool primary" in run.stderr
    assert "1 bag on it" in run.stderr
    assert not (root / "tape" / "NEW" / LABEL).exists()
    # so verify never marks the real cartridge's good copies failed
    shutil.move(tmp_path / "shelf-P00001L8", root / "tape" / "P00001L8")
    run = cli(root, "tape", "verify")
    assert run.returncode == 0, run.stdout + run.stderr
    # a barcode nobody knows is labelled as before
    run = cli(root, "tape", "label", str(root / "tape" / "NEW"), "--barcode", "P00002L8",
              "--pool", "primary")
    assert run.returncode == 0, run.stderr


def test_the_same_cartridge_whose_label_was_lost_may_be_labelled_again(
        station_root: Path):  # noqa: F811
    root = station_root
    (root / "tape" / "P00001L8" / LABEL).unlink()  # its own catalogue names only it
    with Station(settings_in(root)) as st:
        tape = st.tapes.label(root / "tape" / "P00001L8", "P00001L8", "primary", "LTO-8",
                              50_000_000)
    assert tape.barcode == "P00001L8"


def test_a_tape_whose_label_cannot_be_read_costs_that_tape_only(
        station_root: Path, tmp_path: Path):  # noqa: F811
    root = station_root
    label = root / "tape" / "S00001L8" / LABEL
    label.write_text(label.read_text().replace('"LTO-8"', '"LTO-99"'))
    for args in (("tape", "plan"), ("where", "FD-1"), ("tape", "verify"),
                 ("retrieve", "FD-1", "--to", str(tmp_path / "back"))):
        run = cli(root, *args)
        assert run.returncode in (0, 3), (args, run.stdout, run.stderr)
        assert "S00001L8" in run.stderr and "LTO-99" in run.stderr, args
        assert "correct" in run.stderr and "other tapes work" in run.stderr, args
    assert (tmp_path / "back" / "FD-1" / "bagit.txt").is_file()  # from the good tape
    run = cli(root, "tape", "verify")
    assert "FD-1 on P00001L8" in run.stdout or "P00001L8" in run.stdout
    assert run.returncode == 3  # a tape went unchecked: not plain success
    label.write_bytes(b"barcode = \xff\xfe [[[")  # damaged beyond the lenient reading
    run = cli(root, "tape", "plan")
    assert run.returncode == 3 and "S00001L8" in run.stderr, run.stderr
    assert "P00001L8" in run.stdout  # the good tape is listed


def test_tape_screen_gets_back_into_the_stations_folder_and_speaks_the_clis_words(
        station_root: Path, tmp_path: Path, monkeypatch):  # noqa: F811
    import asyncio

    from textual.widgets import DataTable, Input

    from tests.test_tui import text_of, wait_for
    from workbench.station import reverify, tape_view
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.tape import TapeScreen
    root = station_root
    elsewhere = tmp_path / "started-here"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the UI's folder is not where bags go back to

    async def scenario() -> None:
        app = WorkbenchApp(settings_in(root))
        async with app.run_test(size=(120, 60)) as pilot:
            await pilot.press("t")
            assert isinstance(app.screen, TapeScreen)
            await wait_for(pilot, lambda: app.screen.query_one("#tapes", DataTable)
                           .row_count == 2)
            assert app.screen.query_one("#tape-to", Input).value == str(root / "retrieved")
            app.screen.query_one("#tape-item", Input).value = "FD-1"
            await pilot.press("g")
            await wait_for(pilot, lambda: "every file matches" in text_of(app, "#tape-status"))
            await pilot.press("g")  # again: the folder holds it now
            await wait_for(pilot, lambda: "already exists" in text_of(app, "#tape-status"))
            assert "--to" not in text_of(app, "#tape-status")
            assert "field above" in text_of(app, "#tape-status")
            await pilot.press("d")  # copies verified just now: nothing is due
            await wait_for(pilot, lambda: "No copy is due" in text_of(app, "#tape-status"))
    asyncio.run(scenario())
    assert (root / "retrieved" / "FD-1" / "bagit.txt").is_file()
    assert not (elsewhere / "retrieved").exists()

    # every copy due; the secondary cartridge is on the shelf
    monkeypatch.setattr(reverify, "schedule", lambda days: 0.0)
    monkeypatch.setattr(tape_view, "schedule", lambda days: 0.0)
    shutil.move(root / "tape" / "S00001L8", tmp_path / "shelf-S00001L8")

    async def due() -> None:
        app = WorkbenchApp(settings_in(root))
        async with app.run_test(size=(120, 60)) as pilot:
            await pilot.press("t")
            await wait_for(pilot, lambda: "S00001L8" in text_of(app, "#tape-due"))
            assert "1 copy on it is due" in text_of(app, "#tape-due")
            assert "2 copies due" in text_of(app, "#tape-due")
            await pilot.press("d")
            await wait_for(pilot, lambda: "verified" in text_of(app, "#tape-status"))
            status = text_of(app, "#tape-status")
            assert "Tape S00001L8 (secondary) is not mounted: 1 copy on it is due" in status
    asyncio.run(due())


def test_verify_of_a_barcode_not_mounted_and_a_forecast_typo_are_said(
        station_root: Path, tmp_path: Path):  # noqa: F811
    root = station_root
    run = cli(root, "tape", "verify", "--barcode", "NOPE")
    assert run.returncode == 2 and "NOPE" in run.stderr and "P00001L8" in run.stderr
    shutil.move(root / "tape" / "S00001L8", tmp_path / "shelf-S00001L8")
    run = cli(root, "tape", "verify", "--barcode", "S00001L8")
    assert run.returncode == 6 and "S00001L8 (secondary) is not mounted" in run.stderr
    run = cli(root, "tape", "forecast", "--plan", "100:nonesuch")
    assert run.returncode == 2 and "nonesuch" in run.stderr and "fd35-2hd" in run.stderr
    run = cli(root, "tape", "forecast", "--plan", "100:fd35-2hd")
    assert run.returncode == 0, run.stderr


def test_used_on_ltfs_comes_from_the_mount_and_walks_nothing(tmp_path: Path, monkeypatch):
    from workbench.tape import tapes
    mount = tmp_path / "T1"
    mount.mkdir()
    attrs = {"user.ltfs.mediaDataPartitionTotalCapacity": b"2842",
             "user.ltfs.mediaDataPartitionAvailableSpace": b"2839"}

    def getxattr(path, name, *a, **k):
        if name in attrs:
            return attrs[name]
        raise OSError(61, "No data available")

    def walk(*a, **k):
        raise AssertionError("walked the tape")

    monkeypatch.setattr(tapes.os, "getxattr", getxattr)
    monkeypatch.setattr(tapes, "folder_used", walk)
    tape = tapes.Tape(mount, "T1", "p", "LTO-8", 10**12)
    assert tape.used() == 3 << 20


def test_used_of_a_folder_follows_bags_written_and_removed(tmp_path: Path):
    from workbench.tape.tapes import Tape

    def walk(mount: Path) -> int:
        return sum(p.stat().st_size for p in mount.rglob("*")
                   if p.is_file() and p.name != LABEL)

    mount = tmp_path / "T1"
    (mount / "A" / "data").mkdir(parents=True)
    (mount / LABEL).write_text('barcode = "T1"\n')
    (mount / "A" / "data" / "a.bin").write_bytes(b"a" * 1000)
    tape = Tape(mount, "T1", "p", "LTO-8", 10**12)
    assert tape.used() == walk(mount) == 1000
    partial = mount / ".B.partial" / "data"
    partial.mkdir(parents=True)
    (partial / "b.bin").write_bytes(b"b" * 500)
    assert tape.used() == 1500
    (partial / "c.bin").write_bytes(b"c" * 10)  # deep inside a partial: still counted
    assert tape.used() == 1510
    (mount / ".B.partial").rename(mount / "B")
    assert tape.used() == walk(mount) == 1510
    shutil.rmtree(mount / "A")
    (mount / "A" / "data").mkdir(parents=True)  # rewritten, smaller
    (mount / "A" / "data" / "a.bin").write_bytes(b"a" * 10)
    assert tape.used() == walk(mount) == 520
    (mount / "B.tar").write_bytes(b"t" * 7)
    assert tape.used() == walk(mount) == 527
