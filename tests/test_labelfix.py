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


def test_plan_says_a_pool_without_tapes_and_an_index_partition_under_the_rule(
        tmp_path: Path, monkeypatch):
    from tests.test_tape import fake_bag
    from workbench.tape import tapes
    from workbench.tape.catalogue import Catalogue
    from workbench.tape.plan import plan
    bag = fake_bag(tmp_path / "b", "A", 600)
    mount = tmp_path / "T1"
    mount.mkdir()
    tape = tapes.Tape(mount, "T1", "p", "LTO-8", 10_000)
    _, unplaced = plan([bag], [tape], Catalogue(tmp_path / "c.json"), ("p", "q"), 0.0)
    assert [(u.pool, u.reason) for u in unplaced] == [("q", "none_mounted")]
    attrs = {"user.ltfs.mediaIndexPartitionAvailableSpace": b"7",
             "user.ltfs.mediaDataPartitionAvailableSpace": b"150",
             "user.ltfs.mediaDataPartitionTotalCapacity": b"185"}

    def getxattr(path, name, *a, **k):
        if name in attrs:
            return attrs[name]
        raise OSError(61, "No data available")

    monkeypatch.setattr(tapes.os, "getxattr", getxattr)
    _, unplaced = plan([bag], [tape], Catalogue(tmp_path / "c.json"), ("p",), 0.0)
    assert [(u.pool, u.reason) for u in unplaced] == [("p", "index_full")]
    from workbench.i18n import t
    assert "index partition" in t("tape.unplaced_index_full", bag="A", size="600 B",
                                  pool="p")


def test_unmount_of_a_plain_folder_says_not_mounted_and_removes_it(tmp_path: Path,
                                                                    monkeypatch):
    import pytest

    from tests.test_ltfs import Drive
    from workbench.errors import BadInput, Refused
    from workbench.station import cartridge
    from workbench.tape.ltfs import Ltfs
    playing = Drive(tmp_path / "shelf")
    monkeypatch.setattr(cartridge, "drive", lambda station: Ltfs(
        "/dev/nst0", "/dev/sg3", playing, which=lambda tool: f"/usr/bin/{tool}",
        ismount=lambda p: p in playing.mounted, running=lambda p: False))
    settings = settings_in(tmp_path / "station")
    left = settings.paths.tape / "WRONG1L8"
    left.mkdir(parents=True)
    with Station(settings) as st:
        with pytest.raises(BadInput, match=r"not mounted.*plain folder"):
            cartridge.unmount_cartridge(st, "WRONG1L8")
        assert not left.exists() and "fusermount" not in playing.ran
        done = cartridge.format_cartridge(st, "primary", "LTO-8")
        with pytest.raises(Refused, match="already mounted") as refused:
            cartridge.mount_cartridge(st, "A00001L8")
        assert refused.value.exit_code == 6 and playing.ran.count("ltfs") == 1
        assert done.generation_checked  # the cartridge memory said LTO-8
        cartridge.unmount_cartridge(st, "A00001L8")
        assert not done.tape.mount.exists()  # no empty folder left behind


LTFS_BIN = Path("/tmp/ltfs-inst/bin")  # where tests/ltfs_outputs/README.md builds LTFS


def small_cartridge(shelf: Path, capacity_mb: int = 200) -> None:
    """A file-simulator cartridge of an LTO-5 (cart_type L5) that small, made before
    mkltfs sees it."""
    shelf.mkdir(parents=True)
    (shelf / "filedebug_tc_conf.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<filedebug_cartridge_config>\n'
        "<dummy_io>false</dummy_io><emulate_readonly>false</emulate_readonly>\n"
        f"<capacity_mb>{capacity_mb}</capacity_mb><cart_type>L5</cart_type>"
        "<density_code>58</density_code><delay_mode>None</delay_mode><wraps>40</wraps>"
        "<eot_to_bot_sec>12</eot_to_bot_sec><change_direction_us>2000000"
        "</change_direction_us><change_track_us>10000</change_track_us>"
        "<threading_sec>0</threading_sec>\n</filedebug_cartridge_config>\n")


def test_real_ltfs_messages_say_what_happened(tmp_path: Path, monkeypatch):
    import os
    import subprocess

    import pytest
    if LTFS_BIN.is_dir():
        monkeypatch.setenv("PATH", f"{LTFS_BIN}:{os.environ['PATH']}")
    if not (shutil.which("mkltfs") and shutil.which("ltfs") and shutil.which("fusermount")
            and os.access("/dev/fuse", os.R_OK | os.W_OK)):
        pytest.skip("needs the LTFS tools and FUSE: see tests/ltfs_outputs/README.md")
    root, shelf = tmp_path / "station", tmp_path / "shelf" / "A00001L8"
    root.mkdir()
    small_cartridge(shelf)
    config = root / "workbench.toml"
    config.write_text(f'[tape]\nheadroom_percent = 0\ndevice = "{shelf}"\n'
                      'ltfs_backend = "file"\n')
    tape = root / "tape"
    try:
        run = cli(root, "tape", "format", "--pool", "primary", "--barcode", "A00001L8")
        # 185 MiB: its index partition is under the 64 MiB rule, and said so
        assert run.returncode == 3, run.stderr
        assert "index partition has less than 64 MiB" in run.stderr
        assert "not checked" in run.stdout and "185.0 MiB" in run.stdout
        assert "an LTO-8 cartridge holds" in run.stderr  # the generation is doubted
        run = cli(root, "tape", "plan")
        assert "index partition" in run.stdout
        run = cli(root, "tape", "mount", "--barcode", "A00001L8")
        assert run.returncode == 6 and "already mounted" in run.stderr, run.stderr
        assert cli(root, "tape", "unmount", "A00001L8").returncode == 0
        assert sorted(p.name for p in tape.iterdir()) == []  # no empty folder left
        run = cli(root, "tape", "mount", "--barcode", "WRONG1L8")  # holds A00001L8
        assert run.returncode == 6 and "labelled A00001L8" in run.stderr
        assert sorted(p.name for p in tape.iterdir()) == []
        config.write_text(config.read_text().replace(str(shelf), str(shelf) + "-gone"))
        run = cli(root, "tape", "mount", "--barcode", "A00001L8")
        assert run.returncode == 6 and "does not exist" in run.stderr, run.stderr
        assert "damaged" not in run.stderr
        assert sorted(p.name for p in tape.iterdir()) == []
    finally:
        for p in tape.iterdir() if tape.is_dir() else []:
            if os.path.ismount(p):
                subprocess.run(["fusermount", "-u", str(p)], check=False, timeout=60)


def test_a_dead_mount_costs_that_tape_only_and_the_screen_reads_say_it(
        station_root: Path, monkeypatch):  # noqa: F811
    import errno

    from workbench.station.tape_view import read_view
    root = station_root
    dead = root / "tape" / "S00001L8"
    real_is_file = Path.is_file

    def is_file(self: Path) -> bool:
        if self.parent == dead:  # what a FUSE mount whose ltfs process died says
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        return real_is_file(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    with Station(settings_in(root)) as st:
        assert [tp.barcode for tp in st.tapes.mounted()] == ["P00001L8"]
        view = read_view(st)
        assert [r.barcode for r in view.tapes] == ["P00001L8"]
        assert len(view.unreadable) == 1
        line = view.unreadable[0]
        assert "S00001L8" in line and "not connected" in line
        assert "workbench tape unmount S00001L8" in line
