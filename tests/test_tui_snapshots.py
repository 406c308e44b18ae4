"""Snapshots of the main screens at 80x24 and 120x40 (pytest-textual-snapshot), and
the app in Japanese. Host drives are left out so the pictures are the same everywhere.
Update after an intended change: pytest tests/test_tui_snapshots.py --snapshot-update"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from workbench import PROJECT_ROOT, devices
from workbench.config import Settings
from workbench.devices import training_drives
from workbench.ledger import record as ledger
from workbench.tui.app import WorkbenchApp


@pytest.fixture(autouse=True)
def _training_drives_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # the board and the profile screen list drives through devices: the machine's own
    # block devices stay out of the pictures
    monkeypatch.setattr(devices, "list_drives", lambda profiles, training=False:
                        training_drives(profiles))


def app() -> WorkbenchApp:
    return WorkbenchApp(Settings().for_training())


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_home(snap_compare, size):
    assert snap_compare(app(), terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_result_of_the_damaged_floppy(snap_compare, size):
    from textual.widgets import Checkbox, DataTable

    from workbench.tui.result import ResultScreen

    async def migrate(pilot) -> None:
        pilot.app.runner.auto_accept = False  # the result is reviewed, opened from the board
        await pilot.press("m")
        await pilot.press(*"SNAP-1", "enter")
        await pilot.press("enter")  # the description screen: nothing to say
        table = pilot.app.screen.query_one("#drive-list", DataTable)
        names = [str(table.get_row_at(n)[0]) for n in range(table.row_count)]
        for _ in range(names.index("fd35-2hd-damaged")):
            await pilot.press("down")
        await pilot.press("enter")
        for box in pilot.app.screen.query(Checkbox):
            box.value = True
        await pilot.press("i")
        end = time.monotonic() + 120
        while (c := pilot.app.runner.carrier("SNAP-1")) is None or c.status != "review":
            assert time.monotonic() < end, "not imaged and identified in time"
            await pilot.pause(0.05)
        from workbench.tui.rowlist import RowList
        while "SNAP-1" not in pilot.app.screen.query_one("#queue", RowList).keys:
            assert time.monotonic() < end, "the board never showed it"  # ticks once a second
            await pilot.pause(0.05)
        await pilot.press("v", "enter")
        while not isinstance(pilot.app.screen, ResultScreen) or pilot.app.screen.busy:
            assert time.monotonic() < end, "no result screen in time"
            await pilot.pause(0.05)
        await pilot.pause(0.2)
    assert snap_compare(app(), terminal_size=size, run_before=migrate)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_statistics(snap_compare, size):
    instance = app()
    for n, (outcome, profile, family) in enumerate(
            [("success", "fd35-2hd", "FD")] * 8 + [("partial", "fd35-2hd", "FD")] * 2
            + [("failed", "cd", "optical"), ("success", "usb", "USB")]):
        item = f"I{n:02d}"
        instance.ledger.execute(
            "INSERT INTO carriers (item_id, profile_id, family, station_id, created) "
            "VALUES (?, ?, ?, 'station-1', '2026-01-05')", (item, profile, family))
        ledger.add_version(instance.ledger, {
            "attempt": item, "item_id": item, "station_id": "station-1", "operator": "op",
            "drive": "d", "drive_serial": "", "profile_id": profile, "family": family,
            "batch": "B1", "started": f"2026-01-05T10:{n:02d}:00Z",
            "ended": f"2026-01-05T10:{n:02d}:30Z", "outcome": outcome,
            "reason_code": "truncated" if outcome == "failed" else "", "reason": "",
            "bytes": 1474560, "bytes_rescued": 1474560, "bad_sectors": 0, "read_errors": 0,
            "rate": 60000.0, "md5": "", "sha256": "", "job_dir": "", "note": ""})
    assert snap_compare(instance, terminal_size=size, press=["s"])


def screens_text(lang: str, cwd: Path) -> subprocess.Popen[str]:
    """Home and the item screen drawn in lang (chosen before the UI is imported, as the
    CLI does), as the words on them: the SVG's text with its tags and entities undone."""
    script = textwrap.dedent(f"""
        import asyncio, html, re, sys
        sys.path.insert(0, {str(PROJECT_ROOT)!r})
        from workbench.i18n import set_language
        set_language({lang!r})
        from workbench.config import Settings
        from workbench.tui.app import WorkbenchApp

        async def main():
            app = WorkbenchApp(Settings().for_training())
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.pause()
                svg = app.export_screenshot()
                await pilot.press("m")
                await pilot.pause()
                svg += app.export_screenshot()
            print(html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\\xa0", " "))
        asyncio.run(main())
    """)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd)


def test_japanese_mode_renders(tmp_path):
    runs = {lang: screens_text(lang, tmp_path) for lang in ("ja", "en")}
    shown = {}
    for lang, run in runs.items():
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-2000:]
        shown[lang] = out
    english = ("Migrate a carrier", "Work list", "Today", "item ID")
    for words in ("媒体を移行", "ドライブ", "本日", "研修", "資料ID"):
        assert words in shown["ja"], words
    for words in english:  # no leaks ...
        assert words not in shown["ja"], words
    for words in english:  # ... and the check can fail: in English they are there
        assert words in shown["en"], words
