"""The frictions a new user met doing 40 carriers a day (issue 13), each one a test that
failed before its fix. The station UI through Textual's Pilot; the CLI by its output."""

from __future__ import annotations

import asyncio
import gc
import warnings

from textual.widgets import Checkbox, DataTable, Select, Static

from tests.conftest import MEDIA
from tests.test_tui import text_of, wait_for
from workbench import devices
from workbench.config import Settings
from workbench.devices import Drive
from workbench.tui.app import WorkbenchApp
from workbench.tui.flow import ChecklistScreen, ItemScreen, ProfileScreen
from workbench.tui.home import HomeScreen
from workbench.tui.metadata import MetadataScreen
from workbench.tui.result import ResultScreen
from workbench.tui.rowlist import RowList


def footer_keys(app: WorkbenchApp) -> dict[str, tuple[int, int]]:
    """The footer's keys (action -> first and last column) as drawn."""
    return {k.action: (k.region.x, k.region.right) for k in app.screen.query("FooterKey")
            if k.region.width}


async def past_description(pilot, app: WorkbenchApp) -> None:
    """A new carrier's description screen comes after its item ID: nothing to say."""
    await wait_for(pilot, lambda: isinstance(app.screen, MetadataScreen), 10)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, ProfileScreen), 10)


async def to_checklist(pilot, app: WorkbenchApp, item: str) -> None:
    await pilot.press("m")
    await pilot.press(*item, "enter")
    await past_description(pilot, app)
    await pilot.press("enter")  # the first drive (the good floppy comes first)
    await wait_for(pilot, lambda: isinstance(app.screen, ChecklistScreen), 10)


def test_the_checklist_first_key_acts_and_enter_starts_then_esc_goes_home(monkeypatch):
    good = Drive(path=str(MEDIA / "fd35-2hd-good.drive.toml"), name="good", kind="virtual",
                 media_present=True, size=1474560, suggested_profile="fd35-2hd")
    monkeypatch.setattr(devices, "list_drives", lambda profiles, training=False: [good])

    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(100, 40)) as pilot:
            await to_checklist(pilot, app, "FR-1")
            boxes = list(app.screen.query(Checkbox))
            await pilot.press("space")  # the first Space ticks the first line ...
            assert boxes[0].value and not boxes[1].value
            assert app.focused is boxes[1]  # ... and moves on to the next
            app.runner.auto_accept = False  # the technician reviews this result
            await pilot.press("enter")  # "all of it is done": one key ticks all, starts
            assert all(box.value for box in boxes)
            # imaging runs on the board's runner; the result is opened from the board
            await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen))
            await wait_for(pilot, lambda: (c := app.runner.carrier("FR-1")) is not None
                           and c.status == "review")
            from workbench.tui.home import HomeScreen as Board
            await wait_for(pilot, lambda: isinstance(app.screen, Board) and "FR-1" in
                app.screen.query_one("#queue", RowList).keys,
                timeout=30)  # the board lists it at its next refresh (a timer)
            await pilot.press("v", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen)
                           and not app.screen.busy)
            assert "success" in text_of(app, "#outcome")
            formats = [line for line in text_of(app, "#details").splitlines()
                       if "fmt/" in line]
            # the PUID with fido's name for it, never a bare code
            assert formats and all(len(line.split("  ")) >= 3 for line in formats), formats
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), 10)
    asyncio.run(scenario())


def test_esc_does_nothing_while_the_result_screen_is_busy():
    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(80, 24)) as pilot:
            screen = ResultScreen(None, "boom")
            app.push_screen(screen)
            await pilot.pause()
            screen.busy = True  # e.g. packaging
            await pilot.press("escape")
            assert app.screen is screen
            screen.busy = False
            await pilot.press("escape")
            assert isinstance(app.screen, HomeScreen)
    asyncio.run(scenario())


def test_at_80x24_the_footer_shows_the_keys_and_question_mark_lists_them_all():
    from workbench.tui.keys import KeyHelp

    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(80, 24)) as pilot:
            app.push_screen(ResultScreen(None, "boom"))
            await pilot.pause()
            await pilot.pause()
            keys = footer_keys(app)
            for action in ("home", "note", "accept", "retry", "request_quit", "key_help"):
                assert action in keys and keys[action][1] <= 80, (action, keys)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, KeyHelp), 5)
            listed = str(app.screen.query_one("#key-list", Static).render())
            for binding in ResultScreen.BINDINGS:  # the keys not in the footer too
                assert binding.description in listed, binding.description
            assert "Quit" in listed and "Commands" in listed
            await pilot.press("x")  # any key closes it
            assert isinstance(app.screen, ResultScreen)
    asyncio.run(scenario())


def test_ctrl_r_on_the_item_screen_retries_by_key_and_from_the_palette(tmp_path):
    """ctrl+r must reach the screen with an item in the input (the Input has focus), and
    the palette's entry must run it: no coroutine left un-awaited."""
    from workbench.profiles import get_profile
    from workbench.station import Station
    settings = Settings().for_training()
    with Station(settings) as station:  # a failed carrier: retry is what may happen next
        result = station.migrate(MEDIA / "cd-truncated.drive.toml",
                                 get_profile(station.profiles, "cd"), "CD-9")
    assert result.record.outcome == "failed"

    async def scenario() -> None:
        app = WorkbenchApp(settings)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("m")
            await pilot.press(*"CD-9", "ctrl+r")
            await wait_for(pilot, lambda: isinstance(app.screen, ProfileScreen), 10)
            assert app.carrier.retry and app.carrier.item_id == "CD-9"
            await pilot.press("escape")
            assert isinstance(app.screen, ItemScreen)
            app.carrier.retry = False
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"Retry a done", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ProfileScreen), 10)
            assert app.carrier.retry
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(scenario())
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]


def test_the_palette_lists_every_key_with_its_key_single_letters_too():
    async def scenario() -> None:
        from textual.command import CommandList
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(100, 30)) as pilot:
            app.push_screen(ResultScreen(None, "boom"))
            await pilot.pause()
            await pilot.press("ctrl+p")
            await pilot.pause(0.3)
            shown = app.screen.query_one(CommandList)
            prompts = [str(shown.get_option_at_index(n).prompt)
                       for n in range(shown.option_count)]
            # "[a]" was read as markup and vanished: the key is shown as words
            for description, key in (("Accept", "a"), ("Home", "h"), ("Note", "n"),
                                     ("Needs flux", "f"), ("Audio disc", "u")):
                assert any(p.startswith(description) and f"key {key}" in p
                           for p in prompts), (description, prompts)
            assert not any(p.startswith(("Screenshot", "Maximize")) for p in prompts)
            await pilot.press(*"Home", "enter")  # and it works
            await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), 5)
    asyncio.run(scenario())


def test_the_profile_screen_lists_drives_afresh_and_follows_the_highlight(monkeypatch):
    fd = Drive(path="/dev/fd-x", name="fd-x", kind="virtual", media_present=True,
               size=1474560, suggested_profile="fd35-2hd")
    usb = Drive(path="/dev/usb-x", name="usb-x", kind="virtual", media_present=True,
                size=1 << 20, suggested_profile="usb")
    blank = Drive(path="/dev/blank-x", name="blank-x", kind="virtual", media_present=True)
    listed = [fd, usb]
    monkeypatch.setattr(devices, "list_drives", lambda profiles, training=False: [*listed])

    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(100, 40)) as pilot:
            app.drives = []  # stale: what home saw before the carriers went in
            await pilot.press("m")
            await pilot.press(*"FR-2", "enter")
            await past_description(pilot, app)
            screen = app.screen
            table = screen.query_one("#drive-list", DataTable)
            select = screen.query_one("#profile", Select)
            assert table.row_count == 2 and select.value == "fd35-2hd"
            await pilot.press("down")
            assert select.value == "usb"  # the suggestion follows the highlighted drive
            listed[:] = [fd, blank, usb]  # a third drive gets a medium it cannot place
            await pilot.press("r")
            assert table.row_count == 3
            assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value \
                == "/dev/usb-x" and select.value == "usb"  # the same drive stays chosen
            await pilot.press("up")
            assert select.is_blank()  # never the last drive's suggestion
            select.focus()
            await pilot.press("enter")  # Enter on the profile opens the list
            await pilot.pause()
            assert select.expanded and isinstance(app.screen, ProfileScreen)
            await pilot.press("escape")
            table.focus()
            await pilot.press("down", "enter")  # Enter on the drive list goes on
            await wait_for(pilot, lambda: isinstance(app.screen, ChecklistScreen), 10)
            assert app.carrier.drive == "/dev/usb-x" and app.carrier.profile_id == "usb"
    asyncio.run(scenario())


def test_the_export_dialog_says_what_it_wrote_where(tmp_path):
    from textual.widgets import Input

    from workbench.tui.supervisor import ExportDialog, StatsScreen

    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(120, 40)) as pilot:
            app.push_screen(StatsScreen())
            await pilot.pause()
            await pilot.press("ctrl+e")
            await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog), 5)
            app.screen.query_one("#path", Input).value = str(tmp_path / "stats.xlsx")
            app.screen.query_one("#path", Input).focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, StatsScreen), 10)
            said = text_of(app, "#filter-message")
            assert str(tmp_path / "stats.xlsx") in said and "rows" in said, said
    asyncio.run(scenario())
    assert (tmp_path / "stats.xlsx").is_file()


def test_cut_lists_say_how_many_more():
    from workbench.console import fit, more_line
    from workbench.station.result import format_lines
    report = {"summary": {"by_puid": {f"fmt/{n}": 10 - n for n in range(1, 10)}},
              "files": [{"puid": "fmt/1", "format_name": "Format One"}]}
    lines = format_lines(report, 6)
    assert lines[0].split() == ["9", "fmt/1", "Format", "One"]
    assert lines[-1] == "… and 3 more" and len(lines) == 7
    assert format_lines({"summary": {"by_puid": {"fmt/1": 1}}, "files": []}, 6) == \
        ["    1  fmt/1"]
    assert more_line(8, 8) == [] and more_line(8, 9) == ["… and 1 more"]
    assert fit("x" * 70, 60) == "x" * 59 + "…" and fit("日本語" * 30, 10) == "日本語日…"


JA_SCREENS = '''
import asyncio, json, sys
sys.path.insert(0, {root!r})
from workbench.i18n import set_language
set_language({lang!r})
from textual.widgets import DataTable
from workbench.config import Settings
from workbench.tui.rowlist import RowList
from workbench.tui.app import WorkbenchApp
from workbench.tui.flow import ItemScreen
from workbench.tui.keys import KeyHelp
from workbench.tui.result import ResultScreen
from workbench.tui.supervisor import LogScreen, StatsScreen
from workbench.tui.tape import TapeScreen

async def main():
    app = WorkbenchApp(Settings().for_training())
    texts = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for make in (None, ItemScreen, lambda: ResultScreen(None, "x"), StatsScreen,
                     LogScreen, TapeScreen):
            if make is not None:
                app.push_screen(make())
                await pilot.pause()
                await pilot.pause()
            screen = app.screen
            texts += [k.description for k in screen.query("FooterKey")]
            texts += [str(w.render()) for w in screen.query(".heading")]
            texts += [c.title + " " + c.help for c in app.get_system_commands(screen)]
            texts += [str(c.label) for table in screen.query(DataTable)
                      for c in table.columns.values()]
            texts += [label for rows in screen.query(RowList) for label in rows.labels]
            app.push_screen(KeyHelp(screen))
            await pilot.pause()
            texts.append(str(app.screen.query_one("#key-list").render()))
            app.pop_screen()
            await pilot.pause()
    print(json.dumps(texts, ensure_ascii=False))
asyncio.run(main())
'''
# words that are names, not English: keys, formats, units
NOT_ENGLISH = {"Enter", "esc", "ctrl", "YYYY", "USB", "PUID", "ISO", "LTO"}


def test_the_japanese_ui_has_no_english_in_footer_palette_headings_and_key_list(tmp_path):
    import json
    import re
    import subprocess
    import sys

    from workbench import PROJECT_ROOT
    runs = {lang: subprocess.Popen(
        [sys.executable, "-c", JA_SCREENS.format(root=str(PROJECT_ROOT), lang=lang)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        for lang in ("ja", "en")}
    english = {}
    for lang, run in runs.items():
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-2000:]
        texts = json.loads(out)
        assert len(texts) > 40
        english[lang] = sorted({w for text in texts for w in re.findall(r"[A-Za-z]{3,}", text)}
                               - NOT_ENGLISH)
    assert english["ja"] == []
    assert {"Quit", "Keys", "Back", "Accept", "Commands"} <= set(english["en"])  # can fail
