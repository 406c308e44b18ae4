"""The station UI, driven by Textual's Pilot: the same core calls as the CLI."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from textual.widgets import Checkbox, DataTable, Static

from tests.conftest import MEDIA
from workbench.config import Settings
from workbench.tui.app import WorkbenchApp
from workbench.tui.result import ResultScreen
from workbench.tui.rowlist import RowList
from workbench.tui.widgets import SectorMap


async def wait_for(pilot, predicate, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            app = pilot.app
            shown = {w.id: str(w.render())[:200] for w in app.screen.query(Static) if w.id}
            raise AssertionError(f"stuck on {type(app.screen).__name__}: {shown}, "
                                 f"workers {[(w.name, w.state, w.error) for w in app.workers]}")
        await pilot.pause(0.05)


async def start_migration(pilot, app: WorkbenchApp, item: str, drive_name: str) -> None:
    """Through the flow; imaging runs on the board's runner, and the technician, who
    reviews each result here (no auto-accept), opens it from the board."""
    app.runner.auto_accept = False
    await pilot.press("m")
    await pilot.press(*item, "enter")
    await pilot.press("enter")  # the description screen: nothing to say
    table = app.screen.query_one("#drive-list", DataTable)
    names = [str(table.get_row_at(n)[0]) for n in range(table.row_count)]
    for _ in range(names.index(drive_name)):
        await pilot.press("down")
    await pilot.press("enter")
    for box in app.screen.query(Checkbox):
        box.value = True
    await pilot.press("i")
    await wait_for(pilot, lambda: (c := app.runner.carrier(item)) is not None
                   and c.status == "review")
    from workbench.tui.rowlist import RowList
    # the board shows it (its tick is once a second: a fixed pause lost the race under
    # load, and Enter then met an empty queue)
    await wait_for(pilot, lambda: item in app.screen.query_one("#queue", RowList).keys)
    await pilot.press("v", "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen)
                   and not app.screen.busy)


async def accepted(pilot, app: WorkbenchApp, item: str) -> str:
    """Accept hands the carrier to the background queue and the board is back: the
    steps it went through once done."""
    from workbench.tui.home import HomeScreen
    await pilot.press("a")
    await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen))
    await wait_for(pilot, lambda: app.runner.carrier(item).status in ("done", "failed"))
    carrier = app.runner.carrier(item)
    assert carrier.status == "done", carrier.error
    from workbench.station import step_line
    return "\n".join(step_line(*step) for step in carrier.steps)


def text_of(app: WorkbenchApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def shown_text(app: WorkbenchApp, selector: str) -> str:
    """The widget's text, or "" while the screen has not mounted it yet (a screen just
    switched to composes on its next turn)."""
    from textual.css.query import NoMatches
    try:
        return text_of(app, selector)
    except NoMatches:
        return ""


def test_migrate_the_good_floppy_and_see_it_counted(tmp_path):
    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(120, 40)) as pilot:
            await start_migration(pilot, app, "TUI-1", "fd35-2hd-good")
            assert "success" in text_of(app, "#outcome")
            assert "fmt/11" in text_of(app, "#details")  # formats inside, before accepting
            assert "packaging" in await accepted(pilot, app, "TUI-1")
            today = app.screen.query_one("#today", RowList)
            await wait_for(pilot, lambda: ["3.5-inch FD", "1", "0", "0"] in [
                list(today.get_row_at(n)) for n in range(today.row_count)])
    asyncio.run(scenario())
    assert (Path("training") / "bags" / "TUI-1" / "bagit.txt").exists()


def test_damaged_floppy_partial_sector_map_and_retry(tmp_path):
    clean = tmp_path / "better.drive.toml"
    clean.write_text(f'image = "{MEDIA / "fd35-2hd-damaged.img"}"\nmodel = "Better drive"\n')

    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(120, 40)) as pilot:
            await start_migration(pilot, app, "TUI-2", "fd35-2hd-damaged")
            assert "partial" in text_of(app, "#outcome")
            assert "6 bad sectors" in text_of(app, "#details")
            assert "LEDGER.TXT" in text_of(app, "#details")  # the damaged file
            final_map = app.screen.query_one("#final-map", SectorMap)
            assert "-" in final_map.cells(final_map.size.width * final_map.size.height)
            assert "#" in str(final_map.render())  # bad areas drawn
            # retry on a better drive: the same map, only the bad sectors read
            app.drives.append(type(app.drives[0])(path=str(clean), name="better",
                                                  kind="virtual", model="Better drive",
                                                  media_present=True, size=1474560))
            await pilot.press("d")
            await pilot.press("end", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen)
                           and not app.screen.busy and "success" in text_of(app, "#outcome"))
    asyncio.run(scenario())
    from workbench.imaging.record import JobRecord
    record = JobRecord.load(Path("training") / "staging" / "TUI-2")
    assert [r.outcome for r in record.runs] == ["partial", "success"]
    assert record.runs[1].bytes_read_from_medium == 6 * 512


def test_the_sector_map_shows_bad_areas():
    widget = SectorMap()
    widget.show(((0, 1000, "+"), (1000, 24, "-"), (1024, 1024, "?")), 2048)
    cells = widget.cells(16)
    assert cells[:7] == ["+"] * 7 and "-" in cells[7:9] and cells[-1] == "?"


def test_supervisor_numbers_and_export_match_the_cli(tmp_path):
    import json

    from textual.widgets import Input

    from tests.conftest import workbench_cmd
    from workbench.tui.supervisor import CarrierScreen, LogScreen, StatsScreen
    for drive, profile, item, batch in (("fd35-2hd-good", "fd35-2hd", "S-1", "B1"),
                                        ("fd35-2hd-damaged", "fd35-2hd", "S-2", "B1"),
                                        ("cd-truncated", "cd", "S-3", "B2")):
        out = workbench_cmd("migrate", str(MEDIA / f"{drive}.drive.toml"), "--profile",
                            profile, "--item", item, "--batch", batch, cwd=tmp_path)
        assert out.returncode in (0, 3, 4), out.stderr
    cli = json.loads(workbench_cmd("report", "--format", "json", "--batch", "B1",
                                   cwd=tmp_path).stdout)["media"]

    async def scenario() -> None:
        app = WorkbenchApp(Settings())
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("s")
            assert isinstance(app.screen, StatsScreen)
            table = app.screen.query_one("#stats", DataTable)
            everything = {str(table.get_row_at(n)[0]): table.get_row_at(n)[1]
                          for n in range(table.row_count)}
            assert everything == {"3.5-inch FD": 2, "CD": 1}
            batch = app.screen.query_one("#batch", Input)
            batch.value = "B1"
            await pilot.press("ctrl+f")
            rows = [table.get_row_at(n) for n in range(table.row_count)]
            assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
                (c["label"], c["carriers"], c["succeeded"], c["partial"], c["failed"])
                for c in cli]
            assert "50.0%" in str(app.screen.query_one("#chart", Static).render())
            await pilot.press("ctrl+e")
            path = app.screen.query_one("#path", Input)
            path.value = str(tmp_path / "from-ui.json")
            from textual.widgets import Select
            app.screen.query_one("#format", Select).value = "json"
            await pilot.pause()
            path.value = str(tmp_path / "from-ui.json")
            path.focus()
            await pilot.press("enter")
            await pilot.pause()
            await pilot.press("ctrl+l")
            assert isinstance(app.screen, LogScreen)
            assert app.screen.query_one("#log", DataTable).row_count == 2  # batch B1
            await pilot.press("enter")
            assert isinstance(app.screen, CarrierScreen)
            assert "packaging" in str(app.screen.query_one("#history", Static).render())
    asyncio.run(scenario())
    assert json.loads((tmp_path / "from-ui.json").read_text())["media"] == cli


def test_tape_screen_writes_and_verifies(tmp_path):
    from tests.conftest import workbench_cmd
    from workbench.station import State, Station
    from workbench.tape.catalogue import Catalogue
    from workbench.tui.tape import TapeScreen
    out = workbench_cmd("migrate", str(MEDIA / "fd35-2hd-good.drive.toml"), "--profile",
                        "fd35-2hd", "--item", "T-1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for barcode, pool in (("P00001L8", "primary"), ("S00001L8", "secondary")):
        assert workbench_cmd("tape", "label", f"tape/{barcode}", "--barcode", barcode,
                             "--pool", pool, "--capacity", "50000000",
                             cwd=tmp_path).returncode == 0

    async def scenario() -> None:
        app = WorkbenchApp(Settings())
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("t")
            assert isinstance(app.screen, TapeScreen)
            # read off the UI thread: shown when the read is done
            await wait_for(pilot, lambda: app.screen.query_one("#tapes", DataTable)
                           .row_count == 2)
            await wait_for(pilot, lambda: app.screen.query_one("#waiting", DataTable)
                           .row_count == 2)  # two pools
            await pilot.press("w")
            await wait_for(pilot, lambda: text_of(app, "#tape-status").count("verified") == 2)
            await wait_for(pilot, lambda: app.screen.query_one("#waiting", DataTable)
                           .row_count == 0)
            await pilot.press("v")
            await wait_for(pilot, lambda: not app.screen.busy and
                           text_of(app, "#tape-status").count("verified") == 2)
    asyncio.run(scenario())
    with Station(Settings()) as station:  # the ledger is the record
        assert station.state("T-1").state is State.ON_TAPE
    catalogue = Catalogue(tmp_path / "logs" / "tape-catalogue.json")  # and its export
    assert catalogue.verified_pools("T-1") == {"primary", "secondary"}


def test_every_key_is_in_the_command_palette():
    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(80, 24)):
            titles = [c.title for c in app.get_system_commands(app.screen)]
            for label in ("Migrate a carrier", "Statistics", "Log", "Tape"):
                assert label in titles
    asyncio.run(scenario())


def test_without_a_terminal_training_runs_headless(tmp_path):
    from tests.conftest import workbench_cmd
    out = workbench_cmd("--training", cwd=tmp_path)
    assert out.returncode == 0 and "running training headless" in out.stderr
    assert "3.5-inch FD: 3 carriers (1 succeeded)" in out.stdout


def slow_drive(tmp_path: Path) -> Path:
    drive = tmp_path / "slow.drive.toml"
    drive.write_text(f'image = "{MEDIA / "fd35-2hd-good.img"}"\nmodel = "Slow drive"\n'
                     "[[slow]]\nstart = 0\nsize = 1474560\nseconds = 0.02\n")
    return drive


def test_cancel_during_imaging_then_resume(tmp_path, monkeypatch):
    from workbench import devices
    from workbench.tui.drive import DriveScreen
    # the profile screen lists the drives afresh: the slow drive is one of them
    slow = devices.Drive(path=str(slow_drive(tmp_path)), name="slow", kind="virtual",
                         model="Slow drive", media_present=True, size=1474560)
    listed = devices.list_drives
    monkeypatch.setattr(devices, "list_drives", lambda profiles, training=False:
                        [*listed(profiles, training), slow])

    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(120, 40)) as pilot:
            app.runner.auto_accept = False  # the technician sees the result of the resume
            await pilot.press("m")
            await pilot.press(*"SLOW-1", "enter")
            await pilot.press("enter")  # the description screen: nothing to say
            table = app.screen.query_one("#drive-list", DataTable)
            names = [str(table.get_row_at(n)[0]) for n in range(table.row_count)]
            for _ in range(names.index("slow")):
                await pilot.press("down")
            app.screen.query_one("#profile").value = "fd35-2hd"
            await pilot.press("enter")
            for box in app.screen.query(Checkbox):
                box.value = True
            await pilot.press("i")  # imaging starts; the board is back: open the drive
            drives = app.screen.query_one("#drives", RowList)
            drives.move_cursor(row=drives.keys.index(str(tmp_path / "slow.drive.toml")))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, DriveScreen) and
                           "rescued" in text_of(app, "#numbers")
                           and "0 B" not in text_of(app, "#numbers").split("rescued")[1][:6])
            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen)
                           and not app.screen.busy)
            assert "aborted" in text_of(app, "#outcome")
            await pilot.press("r")  # resume the same attempt
            await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen)
                           and not app.screen.busy and "success" in text_of(app, "#outcome"),
                           timeout=120)
    asyncio.run(scenario())
    from workbench.imaging.record import JobRecord
    record = JobRecord.load(Path("training") / "staging" / "SLOW-1")
    assert [r.outcome for r in record.runs] == ["aborted", "success"]
    assert 0 < record.runs[0].bytes_read_from_medium < 1474560
    assert sum(r.bytes_read_from_medium for r in record.runs) == 1474560  # nothing re-read


def test_quitting_during_imaging_asks(tmp_path):
    from workbench.tui.imaging import ImagingScreen
    from workbench.tui.result import ConfirmQuit

    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(80, 24)) as pilot:
            from workbench.tui.flow import Carrier
            app.carrier = Carrier("QUIT-1", drive=str(slow_drive(tmp_path)),
                                  profile_id="fd35-2hd")
            app.push_screen(ImagingScreen())
            await pilot.pause(0.3)
            await pilot.press("ctrl+q")
            assert isinstance(app.screen, ConfirmQuit)
            await pilot.click("#no")
            await pilot.pause()
            assert isinstance(app.screen, ImagingScreen)
            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
    asyncio.run(scenario())


def test_the_work_list_continues_an_imaged_carrier(tmp_path):
    """Imaged but not accepted (the UI was closed on the result): it is on the home
    screen's work list, Enter opens its result, and accepting bags it."""
    from tests.conftest import workbench_cmd
    from workbench.station import State, Station
    out = workbench_cmd("migrate", str(MEDIA / "fd35-2hd-damaged.drive.toml"), "--profile",
                        "fd35-2hd", "--item", "W-1", "--review-partial", cwd=tmp_path)
    assert out.returncode == 3, out.stderr

    async def scenario() -> None:
        app = WorkbenchApp(Settings())
        async with app.run_test(size=(120, 40)) as pilot:
            work = app.screen.query_one("#pending", RowList)
            assert [str(work.get_row_at(n)[0]) for n in range(work.row_count)] == ["W-1"]
            assert "imaged" in str(work.get_row_at(0)[1])
            await pilot.press("w", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
            assert "partial" in text_of(app, "#outcome")
            await accepted(pilot, app, "W-1")
            assert app.runner.carrier("W-1").state == "bagged"
            await app.push_screen(ResultScreen(app.station.result_of("W-1")))
            await pilot.pause()
            await pilot.press("f")  # routing a bagged carrier is refused, with the way on
            await pilot.pause()
            assert "withdraw" in text_of(app, "#steps")
    asyncio.run(scenario())
    with Station(Settings()) as station:
        assert station.state("W-1").state is State.BAGGED


def test_a_supervisor_withdraws_a_bag_from_the_carrier_detail(tmp_path):
    from tests.conftest import workbench_cmd
    from workbench.station import State, Station
    from workbench.tui.supervisor import CarrierScreen
    assert workbench_cmd("migrate", str(MEDIA / "fd35-2hd-good.drive.toml"), "--profile",
                         "fd35-2hd", "--item", "W-2", cwd=tmp_path).returncode == 0

    async def scenario() -> None:
        app = WorkbenchApp(Settings())
        async with app.run_test(size=(120, 40)) as pilot:
            await app.push_screen(CarrierScreen("W-2"))
            await pilot.pause()
            assert "bagged" in text_of(app, "#state")
            await pilot.press("w")
            await pilot.pause()
            await pilot.press(*"wrong disk", "enter")
            await wait_for(pilot, lambda: "withdrawn" in text_of(app, "#state"))
            assert "wrong disk" in text_of(app, "#history")
    asyncio.run(scenario())
    with Station(Settings()) as station:
        state = station.state("W-2")
        assert state.state is State.WITHDRAWN and state.bags[0].withdrawn == "wrong disk"


def test_the_cli_and_the_ui_show_the_same_state(tmp_path):
    """For carriers in several states, `workbench show` and the UI's detail agree."""
    from tests.conftest import workbench_cmd
    from workbench.tui.supervisor import CarrierScreen
    for drive, item, extra in (("fd35-2hd-good", "S-BAGGED", []),
                               ("fd35-2hd-damaged", "S-IMAGED", ["--review-partial"]),
                               ("fd35-2hd-truncating", "S-FAILED", [])):
        workbench_cmd("migrate", str(MEDIA / f"{drive}.drive.toml"), "--profile", "fd35-2hd",
                      "--item", item, *extra, cwd=tmp_path)
    workbench_cmd("mark", "S-FAILED", "needs-flux", cwd=tmp_path)
    assert workbench_cmd("describe", "S-BAGGED", "--title", "Collected works",
                         "--condition", "scratches", cwd=tmp_path).returncode == 0
    cli, described = {}, []
    for item in ("S-BAGGED", "S-IMAGED", "S-FAILED"):
        shown = workbench_cmd("show", item, cwd=tmp_path).stdout
        cli[item] = next(line for line in shown.splitlines() if line.startswith("state:"))
        if item == "S-BAGGED":
            described = [line for line in shown.splitlines() if "Collected works" in line]
    assert len(set(cli.values())) == 3 and described

    async def scenario() -> dict[str, str]:
        seen = {}
        app = WorkbenchApp(Settings())
        async with app.run_test(size=(120, 40)) as pilot:
            for item in cli:
                await app.push_screen(CarrierScreen(item))
                await pilot.pause()
                seen[item] = text_of(app, "#state").splitlines()[0]
                if item == "S-BAGGED":  # the description, as `show` lists it
                    history = text_of(app, "#history").splitlines()
                    assert all(line in history for line in described), history
                app.pop_screen()
                await pilot.pause()
        return seen
    assert asyncio.run(scenario()) == cli


def test_an_audio_cd_through_the_station_ui(tmp_path):
    """A disc with no data image (no map to draw) migrates in the UI as in the CLI: its
    tracks are shown, accepted, and bagged with the CUE sheet."""
    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(120, 40)) as pilot:
            await start_migration(pilot, app, "TUI-CD", "audio")
            assert "success" in text_of(app, "#outcome")
            details = text_of(app, "#details")
            assert "audio CD" in details and "track 3 (audio)" in details
            assert details.count("read securely") == 3
            await accepted(pilot, app, "TUI-CD")
    asyncio.run(scenario())
    data = Path("training") / "bags" / "TUI-CD" / "data"
    assert sorted(p.name for p in data.iterdir()) == \
        ["disc.cue", "track01.bin", "track02.bin", "track03.bin"]
