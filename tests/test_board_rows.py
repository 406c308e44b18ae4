"""The board's line-drawn lists (workbench/tui/rowlist.py): a changed drive redraws its
own line and nothing else (no layout of the screen), the queue shows the latest
carriers and counts the rest, and wide (Japanese) text keeps the columns aligned."""

from __future__ import annotations

import asyncio

from rich.cells import cell_len
from textual.app import App, ComposeResult

from workbench.config import Settings
from workbench.i18n import set_language
from workbench.imaging.rescue import Progress
from workbench.station.runner import DONE, IMAGING, CarrierView, DriveView, Job
from workbench.tui.app import WorkbenchApp
from workbench.tui.board import QUEUE_SHOWN
from workbench.tui.home import HomeScreen
from workbench.tui.rowlist import Column, RowList


def screen_lines(app: App) -> list[str]:
    """The screen as the terminal gets it, a string a line."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def imaging(path: str, item: str, done: int, size: int = 1000) -> DriveView:
    progress = Progress(phase="copy", pass_number=1, position=done, size=size,
                        rescued=done, bad=0, pending=size - done, read_errors=0,
                        rate=2_000_000.0, average_rate=2_000_000.0, eta=65.0,
                        since_last_good=0.0, elapsed=1.0)
    return DriveView(path, job=Job(item, path, "cd"), phase=IMAGING, progress=progress)


def count_layouts(screen) -> list[int]:
    """Counts the screen's layouts from now on (a list of one number)."""
    count = [0]
    original = screen._refresh_layout

    def counted(*args, **kwargs):
        count[0] += 1
        return original(*args, **kwargs)
    screen._refresh_layout = counted
    return count


def test_a_drive_s_progress_redraws_its_own_line_only(monkeypatch):
    paths = [f"/dev/bench{n}" for n in range(4)]
    views = {p: imaging(p, f"CD-{n}", 100) for n, p in enumerate(paths)}

    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        monkeypatch.setattr(app.runner, "drives", lambda: list(views.values()))
        async with app.run_test(size=(100, 40)) as pilot:
            board = app.screen
            assert isinstance(board, HomeScreen)
            board.tick()
            await pilot.pause()
            table = board.query_one("#drives", RowList)
            assert table.keys[:4] == paths  # the drives at work first
            assert "10%" in table.get_row(paths[2])[3]
            layouts = count_layouts(board)
            table.drawn.clear()
            views[paths[2]] = imaging(paths[2], "CD-2", 550)  # one drive moves on
            board.tick()
            await pilot.pause()
            assert table.get_row(paths[2])[3].endswith(" 55%")
            line = next(s for s in screen_lines(app) if "CD-2" in s)
            assert "55%" in line and "bench2" in line and "1.9 MiB/s" in line, line
            assert table.drawn == {3: 1}, table.drawn  # its line (the header is line 0)
            assert layouts == [0]  # the screen kept its layout
            # the cursor: two lines drawn again (where it was, where it is), no layout
            table.drawn.clear()
            await pilot.press("down")
            assert table.cursor_row == 1 and table.drawn == {1: 1, 2: 1}, table.drawn
            await pilot.press("end")
            assert table.cursor_row == table.row_count - 1
            assert layouts == [0]
    asyncio.run(scenario())


def test_the_queue_shows_the_latest_carriers_and_counts_the_rest(monkeypatch):
    carriers = [CarrierView(f"Q-{n:03d}", "/dev/bench0", "success", DONE, state="on_tape")
                for n in range(QUEUE_SHOWN + 12)]

    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        monkeypatch.setattr(app.runner, "carriers", lambda: list(carriers))
        async with app.run_test(size=(100, 50)) as pilot:
            board = app.screen
            board.tick()
            await pilot.pause()
            queue = board.query_one("#queue", RowList)
            latest = [f"Q-{n:03d}" for n in range(QUEUE_SHOWN + 11, 11, -1)]
            assert queue.keys == latest  # the latest first, no more than the cap
            assert queue.more == 12
            shown = screen_lines(app)
            assert any("… and 12 more" in s for s in shown), shown
            assert not any("Q-011" in s for s in shown)
            # another carrier: still the cap, the count grows, the list keeps its height
            height = queue.size.height
            layouts = count_layouts(board)
            carriers.append(CarrierView("Q-999", "/dev/bench0", "success", DONE,
                                        state="bagged"))
            board.tick()
            await pilot.pause()
            assert queue.keys[0] == "Q-999" and queue.row_count == QUEUE_SHOWN
            assert any("… and 13 more" in s for s in screen_lines(app))
            assert queue.size.height == height and layouts == [0]
    asyncio.run(scenario())


class ListApp(App[None]):
    def __init__(self, *lists: RowList) -> None:
        super().__init__()
        self.lists = lists

    def compose(self) -> ComposeResult:
        yield from self.lists


def test_wide_characters_keep_the_columns_and_a_cut_list_counts_in_japanese():
    set_language("ja")
    try:
        rows = RowList((Column("item", "資料ID", 12), Column("state", "状態", 10),
                        Column("next", "次の作業", 0)), cap=2, steady=True)
        counts = RowList((Column("label", "媒体種別", 0),), cursor=False, steady=True,
                         empty="本日の集計はまだありません")

        async def scenario() -> None:
            async with ListApp(rows, counts).run_test(size=(60, 12)) as pilot:
                assert rows.size.height == 4  # its place from the start: no layout later
                rows.set_rows([("A-1", ("A-1", "イメージ済み", "受け入れ")),
                               ("長い資料番号-2", ("長い資料番号-2", "bagged", "tape"))],
                              total=9)  # a query read 9: 7 are not shown
                await pilot.pause()
                lines = screen_lines(pilot.app)
                first = next(s for s in lines if "A-1" in s)
                second = next(s for s in lines if "bagged" in s)
                # the third column starts at the same cell in both rows
                assert cell_len(first[:first.index("受け入れ")]) == \
                    cell_len(second[:second.index("tape")]) == 1 + 12 + 2 + 10 + 2
                # cut to 12 cells: five wide characters, a space (half of a sixth), …
                assert " 長い資料番 …  bagged" in second
                assert any("…ほか 7 件" in s for s in lines), lines
                rows.set_rows([("A-1", ("A-1", "イメージ済み", "受け入れ"))])
                await pilot.pause()
                assert rows.size.height == 4  # steady: the header, 2 rows, "more"
                assert not any("ほか" in s for s in screen_lines(pilot.app))
                rows.set_rows([])  # the list empties: it keeps its place on the screen
                await pilot.pause()
                assert rows.size.height == 4 and rows.row_count == 0
                # uncapped and steady: its first row takes the empty line's place, it
                # grows with more rows and never shrinks
                assert counts.size.height == 2
                assert any("本日の集計はまだありません" in s for s in screen_lines(pilot.app))
                counts.set_rows([("CD", ("CD",))])
                await pilot.pause()
                assert counts.size.height == 2
                assert not any("本日の集計" in s for s in screen_lines(pilot.app))
                counts.set_rows([(k, (k,)) for k in ("CD", "MO", "USB")])
                await pilot.pause()
                counts.set_rows([("CD", ("CD",))])
                await pilot.pause()
                assert counts.size.height == 4 and counts.row_count == 1
        asyncio.run(scenario())
    finally:
        set_language("en")


def test_the_cursor_s_line_is_scrolled_into_sight_on_a_small_terminal():
    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(100, 12)) as pilot:
            await pilot.pause()
            table = app.screen.query_one("#drives", RowList)
            last = table.get_row_at(table.row_count - 1)[0]
            assert not any(f" {last} " in s for s in screen_lines(app))  # below the fold
            await pilot.press("end")
            await pilot.pause()
            assert table.cursor_row == table.row_count - 1
            assert any(f" {last} " in s for s in screen_lines(app)), screen_lines(app)
    asyncio.run(scenario())
