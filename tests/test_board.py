"""The station board (the TUI's home): several drives imaging at once, one cancelled
while the others go on, and the background accept while a drive reads the next."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Checkbox, DataTable

from tests.test_runner import slow_floppy
from tests.test_tui import text_of, wait_for
from workbench.config import Settings
from workbench.devices import Drive
from workbench.station import State, Station
from workbench.station.runner import DONE, IMAGING
from workbench.tui.app import WorkbenchApp
from workbench.tui.drive import DriveScreen
from workbench.tui.home import HomeScreen
from workbench.tui.result import ConfirmQuit, ResultScreen
from workbench.tui.rowlist import RowList
from workbench.tui.widgets import SectorMap


@pytest.fixture
def extra_drives(monkeypatch):
    """Drives the station lists besides the training ones (wherever it lists them)."""
    from workbench import devices
    extra: list[Drive] = []
    listed = devices.list_drives

    def with_extra(profiles, training=False):
        return [*listed(profiles, training), *extra]
    monkeypatch.setattr(devices, "list_drives", with_extra)
    return extra


def add_drive(app: WorkbenchApp, extra: list[Drive], path: str, name: str) -> None:
    drive = Drive(path=path, name=name, kind="virtual", model="Slow drive",
                  media_present=True, size=1474560, suggested_profile="fd35-2hd")
    extra.append(drive)
    app.drives.append(drive)


async def start_on(pilot, app: WorkbenchApp, item: str, drive_name: str) -> None:
    """m, the item ID, the drive, the checklist: imaging starts and the board is back."""
    await pilot.press("m")
    await pilot.press(*item, "enter")
    await pilot.pause()
    if type(app.screen).__name__ == "MetadataScreen":  # a description: nothing to say
        await pilot.press("enter")
    await wait_for(pilot, lambda: bool(app.screen.query("#drive-list")))
    table = app.screen.query_one("#drive-list", DataTable)
    names = [str(table.get_row_at(n)[0]) for n in range(table.row_count)]
    table.move_cursor(row=names.index(drive_name))
    await pilot.pause()
    app.screen.query_one("#profile").value = "fd35-2hd"
    await pilot.press("enter")
    for box in app.screen.query(Checkbox):
        box.value = True
    await pilot.press("i")
    await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen))


def cells(app: WorkbenchApp, table_id: str) -> dict[str, list[str]]:
    table = app.screen.query_one(f"#{table_id}", RowList)
    return {key: list(table.get_row(key)) for key in table.keys}


def test_three_drives_at_once_one_cancelled_the_others_finish(tmp_path, extra_drives):
    drives = {f"slow{n}": slow_floppy(tmp_path, f"slow{n}", 0.08) for n in range(3)}

    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(100, 40)) as pilot:
            for name, path in drives.items():
                add_drive(app, extra_drives, path, name)
            for n, name in enumerate(drives):
                await start_on(pilot, app, f"BOARD-{n}", name)
            # all three image at once, each a row of the board with its numbers
            await wait_for(pilot, lambda: all(
                app.runner.drive(p).phase == IMAGING and "%" in cells(app, "drives")[p][3]
                for p in drives.values()))
            rows = cells(app, "drives")
            assert [rows[p][1] for p in drives.values()] == ["BOARD-0", "BOARD-1", "BOARD-2"]
            assert all("imaging" in rows[p][2] and "/s" in rows[p][4]
                       for p in drives.values())
            # open the middle drive: its live map; cancel it there
            table = app.screen.query_one("#drives", RowList)
            table.move_cursor(row=table.keys.index(drives["slow1"]))
            await pilot.press("enter")
            assert isinstance(app.screen, DriveScreen)
            await wait_for(pilot, lambda: "+" in app.screen.query_one(
                "#map", SectorMap).cells(100))
            assert "rescued" in text_of(app, "#numbers")
            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen)
                           and not app.screen.busy)
            assert "aborted" in text_of(app, "#outcome")
            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen))
            # the other two finish and are accepted in the background
            await wait_for(pilot, lambda: all(
                (c := app.runner.carrier(i)) is not None and c.status == DONE
                for i in ("BOARD-0", "BOARD-2")), timeout=120)
            assert [app.runner.drive(p).outcome for p in drives.values()] == \
                ["success", "aborted", "success"]  # the others went on
            await wait_for(pilot, lambda: {"BOARD-0", "BOARD-1", "BOARD-2"} <= set(
                cells(app, "queue")) and "bagged" in cells(app, "queue")["BOARD-2"][2],
                timeout=30)  # at the board's next refresh (a timer)
            queue = cells(app, "queue")
            assert "bagged" in queue["BOARD-0"][2] and "bagged" in queue["BOARD-2"][2]
            assert "review" in queue["BOARD-1"][2]
    asyncio.run(scenario())
    with Station(Settings().for_training()) as station:
        assert [station.state(f"BOARD-{n}").state for n in range(3)] == \
            [State.BAGGED, State.INTERRUPTED, State.BAGGED]


def test_the_board_accepts_in_the_background_while_the_drive_reads_the_next(
        tmp_path, extra_drives):
    fast = slow_floppy(tmp_path, "fast", 0.0)

    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(80, 24)) as pilot:
            add_drive(app, extra_drives, fast, "fast")
            await start_on(pilot, app, "BG-1", "fast")
            await wait_for(pilot, lambda: not app.runner.drive(fast).busy)
            slow_floppy(tmp_path, "fast", 0.03)  # the next disc reads slowly
            await start_on(pilot, app, "BG-2", "fast")
            await wait_for(pilot, lambda: (c := app.runner.carrier("BG-1")) is not None
                           and c.status == DONE, timeout=120)
            assert app.runner.drive(fast).busy  # BG-1 was bagged while BG-2 reads
            await wait_for(pilot, lambda: "bagged" in cells(app, "queue").get(
                "BG-1", ["", "", ""])[2], timeout=30)  # at the board's next refresh
            assert cells(app, "drives")[fast][1] == "BG-2"
            # quitting while a drive images asks first; no keeps it going
            await pilot.press("ctrl+q")
            assert isinstance(app.screen, ConfirmQuit)
            await pilot.click("#no")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen) and app.runner.drive(fast).busy
            # c on the board cancels the selected drive
            table = app.screen.query_one("#drives", RowList)
            table.move_cursor(row=table.keys.index(fast))
            await pilot.press("c")
            await wait_for(pilot, lambda: not app.runner.drive(fast).busy)
            assert app.runner.drive(fast).outcome == "aborted"
            await pilot.press("ctrl+q")  # nothing running: no question
            await pilot.pause()
    asyncio.run(scenario())
    with Station(Settings().for_training()) as station:
        assert station.state("BG-1").state is State.BAGGED
        assert station.state("BG-2").state is State.INTERRUPTED  # cancelled, resumable


def test_a_partial_carrier_waits_on_the_board_and_is_accepted_from_its_result(tmp_path):
    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(80, 24)) as pilot:
            await start_on(pilot, app, "REV-1", "fd35-2hd-damaged")
            await wait_for(pilot, lambda: (c := app.runner.carrier("REV-1")) is not None
                           and c.status == "review", timeout=120)
            # the board shows it at its next refresh (a timer): wait for it, with a deadline
            await wait_for(pilot, lambda: "review" in cells(app, "queue").get(
                "REV-1", ["", "", ""])[2], timeout=30)  # not only its row: its status
            await pilot.press("v", "enter")  # the carrier's result, identified already
            assert isinstance(app.screen, ResultScreen)
            assert "partial" in text_of(app, "#outcome")
            assert "LEDGER.TXT" in text_of(app, "#details")
            await pilot.press("a")  # to the background queue, and back to the board
            assert isinstance(app.screen, HomeScreen)
            await wait_for(pilot, lambda: app.runner.carrier("REV-1").status == DONE,
                           timeout=120)
    asyncio.run(scenario())
    with Station(Settings().for_training()) as station:
        assert station.state("REV-1").state is State.BAGGED
    assert (Path("training") / "bags" / "REV-1" / "bagit.txt").exists()


def test_the_board_never_offers_the_system_disk(monkeypatch):
    """A disk the system runs from is not a drive for carriers: not on the board, not
    in the drive choice (pre-flight would refuse it; the board must not invite it)."""
    from workbench import devices
    system = Drive(path="/dev/vda", name="vda", kind="block", size=1 << 30,
                   media_present=True, system_disk=True)
    usb = Drive(path="/dev/sdz", name="sdz", kind="block", size=1 << 27,
                media_present=True, suggested_profile="usb")
    monkeypatch.setattr(devices, "list_drives", lambda profiles, training=False: [system, usb])
    assert [d.name for d in devices.carrier_drives({})] == ["sdz"]
    assert [d.name for d in devices.list_drives({})] == ["vda", "sdz"]  # `drives` lists all

    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            keys = app.screen.query_one("#drives", RowList).keys
            assert "/dev/sdz" in keys and "/dev/vda" not in keys, keys
    asyncio.run(scenario())
