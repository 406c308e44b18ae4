"""Getting a bag back from tape (two pools), where every copy is, re-verification of old
copies (a flipped byte caught and recorded), and a new copy where a pool lost its own."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import workbench_run
from tests.test_station import GOOD, mount_tapes, settings_in
from workbench import PROJECT_ROOT
from workbench.errors import Refused
from workbench.package.bags import check_bag, read_manifest
from workbench.station import State, Station
from workbench.station.recopy import recopy
from workbench.station.retrieve import Retrieval
from workbench.station.reverify import due_copies, parse_age, tape_order
from workbench.tape.catalogue import CopyEntry
from workbench.tape.retrieve import tape_order as files_in_tape_order
from workbench.tape.tapes import label_tape, load_generations


@pytest.fixture
def station_root(tmp_path: Path) -> Path:
    """A station with FD-1 bagged and verified on a primary and a secondary tape (made
    anew for each test: the ledger names its bags by absolute path)."""
    root = tmp_path / "station"
    mount_tapes(root)
    with Station(settings_in(root)) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1")
        assert st.state("FD-1").state is State.ON_TAPE
    return root


def cli(root: Path, *args: str):
    """The CLI at the station folder (its default paths are settings_in(root)'s)."""
    config = root / "workbench.toml"
    if not config.exists():
        config.write_text("[tape]\nheadroom_percent = 0\n")
    return workbench_run(*args, cwd=root)


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def image_on(root: Path, barcode: str) -> Path:
    return next((root / "tape" / barcode / "FD-1" / "data").glob("*.img"))


def test_round_trip_through_two_pools(station_root: Path, tmp_path: Path):
    settings = settings_in(station_root)
    with Station(settings) as st:
        staged = read_manifest(station_root / "bags" / "FD-1" / "manifest-sha256.txt")
        got = Retrieval(st).retrieve("FD-1", tmp_path / "back1")
        assert got.source is not None and got.source.pool == "primary"
        assert got.path == tmp_path / "back1" / "FD-1"
        assert check_bag(got.path) == []
        assert read_manifest(got.path / "manifest-sha256.txt") == staged
        # the primary cartridge leaves the station: the secondary one is read instead
        shutil.move(station_root / "tape" / "P00001L8", tmp_path / "shelf-P00001L8")
        asked: list[list[str]] = []

        def ask(copies: list[CopyEntry]) -> bool:
            asked.append([c.barcode for c in copies])
            return False

        with pytest.raises(Refused) as refused:  # nothing mounted holds it... yet
            shutil.move(station_root / "tape" / "S00001L8", tmp_path / "shelf-S00001L8")
            Retrieval(st).retrieve("FD-1", tmp_path / "back2", ask)
        assert asked == [["P00001L8", "S00001L8"]]
        assert "P00001L8 (primary)" in refused.value.message()

        def mount_secondary(copies: list[CopyEntry]) -> bool:
            shutil.move(tmp_path / "shelf-S00001L8", station_root / "tape" / "S00001L8")
            return True

        got = Retrieval(st).retrieve("FD-1", tmp_path / "back2", mount_secondary)
        assert got.source is not None and got.source.barcode == "S00001L8"
        assert check_bag(got.path) == [] and got.path is not None
        assert read_manifest(got.path / "manifest-sha256.txt") == staged
        steps = [r["outcome"] for r in st.con.execute(
            "SELECT outcome FROM events WHERE item_id = 'FD-1' AND step = 'retrieval'")]
        assert steps == ["success", "success"]


def test_a_damaged_copy_is_not_handed_out_and_the_next_pool_is_read(station_root, tmp_path):
    flip_a_byte(image_on(station_root, "P00001L8"))
    with Station(settings_in(station_root)) as st:
        got = Retrieval(st).retrieve("FD-1", tmp_path / "back")
        assert [e.barcode for e in got.failed] == ["P00001L8"]
        assert "does not match" in got.failed[0].detail
        assert got.source is not None and got.source.barcode == "S00001L8"
        assert check_bag(got.path) == []
        assert not any(p.name.endswith(".partial") for p in (tmp_path / "back").iterdir())
        # the failing copy is recorded: the carrier is no longer on tape in every pool
        assert st.state("FD-1").missing_pools == ("primary",)


def test_where_lists_every_copy_and_its_last_check(station_root):
    settings = settings_in(station_root)
    with Station(settings) as st:
        where = Retrieval(st).where("FD-1")
    assert where.state == "on_tape"
    [bag] = where.bags
    assert bag.current and bag.staging
    assert [(p.entry.barcode, p.entry.pool, p.entry.result, p.mounted) for p in bag.copies] \
        == [("P00001L8", "primary", "verified", True), ("S00001L8", "secondary", "verified",
                                                        True)]
    assert all(p.last_checked for p in bag.copies)
    out = cli(station_root, "where", "FD-1", "--json")
    data = json.loads(out.stdout)
    assert [c["barcode"] for c in data["bags"][0]["copies"]] == ["P00001L8", "S00001L8"]
    text = cli(station_root, "where", "FD-1").stdout
    assert "P00001L8" in text and "last checked" in text


def test_reverify_catches_a_flipped_byte_and_records_it(station_root):
    settings = settings_in(station_root)
    with Station(settings) as st:
        # nothing is a year old yet
        assert st.tapes.verify(older_than=parse_age("365d")) == []
    flip_a_byte(image_on(station_root, "S00001L8"))
    run = cli(station_root, "tape", "verify", "--older-than", "0d")
    assert run.returncode == 4, run.stdout + run.stderr
    assert "S00001L8" in run.stdout and "FAILED" in run.stdout
    assert "workbench tape recopy FD-1" in run.stdout
    with Station(settings) as st:
        events = st.con.execute(
            "SELECT outcome, detail FROM events WHERE item_id = 'FD-1' AND "
            "step = 'fixity check' ORDER BY rowid").fetchall()
        assert sorted(e["outcome"] for e in events) == ["failure", "success"]
        failed = next(e for e in events if e["outcome"] == "failure")
        assert "S00001L8" in failed["detail"] and "re-verification" in failed["detail"]
        assert st.state("FD-1").missing_pools == ("secondary",)
    premis = (station_root / "logs" / "tape-premis" / "FD-1.premis.xml").read_text()
    assert premis.count("fixity check") >= 4 and "failure" in premis


def test_recopy_after_release_reads_a_good_copy_back(station_root):
    settings = settings_in(station_root)
    with Station(settings) as st:
        st.release("FD-1")
        assert not (station_root / "bags" / "FD-1").exists()
        flip_a_byte(image_on(station_root, "P00001L8"))
        [failed] = [e for e in st.tapes.verify(older_than=0) if e.result != "verified"]
        assert failed.barcode == "P00001L8"
        shutil.rmtree(station_root / "tape" / "P00001L8" / "FD-1")  # the bad copy goes
        # never onto the cartridge whose copy failed: another tape of the pool
        label_tape(station_root / "tape" / "P00002L8", "P00002L8", "primary", "LTO-8",
                   50_000_000, load_generations(PROJECT_ROOT / "profiles"))
        copies, unplaced = recopy(st, "FD-1")
        assert unplaced == []
        assert [(e.barcode, e.result) for e in copies] == [("P00002L8", "verified")]
        assert st.state("FD-1").state is State.RELEASED
        assert st.state("FD-1").missing_pools == ()
        assert not (station_root / "bags" / ".recopy" / "FD-1").exists()


def test_due_and_tape_order():
    now = datetime(2026, 11, 26, tzinfo=UTC)

    def at(days: int) -> str:
        return (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    base = CopyEntry("A", "T2", "primary", 1, 1, "verified", written=at(400))
    old = replace(base, verified=at(380))
    fresh = replace(base, bag="B", verified=at(10))
    never = CopyEntry("C", "T1", "primary", 1, 1, "written", written=at(500))
    assert due_copies([old, fresh, never], parse_age("365d"), now) == [old, never]
    assert [e.bag for e in tape_order([fresh, old, never])] == ["C", "A", "B"]
    assert parse_age("1y") == parse_age("365") == parse_age("365d")
    with pytest.raises(Exception, match="not an age"):
        parse_age("soon")


def test_files_are_read_in_the_order_ltfs_says(tmp_path, monkeypatch):
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(name.encode())
    blocks = {"a": b"30", "b": b"10", "c": b"20"}

    def getxattr(path: os.PathLike[str], attr: str) -> bytes:
        if attr != "user.ltfs.startblock":
            raise OSError(61, "no data")
        return blocks[Path(path).name]

    monkeypatch.setattr(os, "getxattr", getxattr)
    assert [p.name for p in files_in_tape_order(tmp_path)] == ["b", "c", "a"]
    monkeypatch.setattr(os, "getxattr", lambda p, a: (_ for _ in ()).throw(OSError(95, "x")))
    assert [p.name for p in files_in_tape_order(tmp_path)] == ["a", "b", "c"]


def test_tape_screen_shows_where_and_gets_a_bag_back(station_root, tmp_path, monkeypatch):
    import asyncio

    from textual.widgets import Input

    from tests.test_tui import text_of, wait_for
    from workbench.config import Settings
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.tape import TapeScreen
    monkeypatch.chdir(station_root)
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    for barcode in ("P00001L8", "S00001L8"):  # both cartridges are in the library
        shutil.move(station_root / "tape" / barcode, shelf / barcode)

    async def scenario() -> None:
        app = WorkbenchApp(replace(Settings(), tape_headroom=0.0))
        async with app.run_test(size=(120, 50)) as pilot:
            await pilot.press("t")
            assert isinstance(app.screen, TapeScreen)
            app.screen.query_one("#tape-item", Input).focus()
            await pilot.press(*"FD-1", "enter")
            await wait_for(pilot, lambda: "P00001L8 (primary)" in text_of(app, "#tape-where"))
            assert "last checked" in text_of(app, "#tape-where")
            await pilot.press("g")
            await wait_for(pilot, lambda: "Mount one of" in text_of(app, "#tape-status"))
            assert "P00001L8 (primary), S00001L8 (secondary)" in text_of(app, "#tape-status")
            shutil.move(shelf / "S00001L8", station_root / "tape" / "S00001L8")
            await wait_for(pilot, lambda: not app.screen.busy)
            await pilot.press("g")
            await wait_for(pilot, lambda: "every file matches" in text_of(app, "#tape-status"))
            assert "S00001L8" in text_of(app, "#tape-status")
    asyncio.run(scenario())
    assert check_bag(station_root / "retrieved" / "FD-1") == []
