"""A list of rows in fixed-width text columns for the station board, drawn line by line.

Why not a DataTable: its render cache is keyed by an update count, so one changed cell
draws every visible row again, and a row added or removed re-lays the whole screen out;
with four drives reporting once a second that cost 40-200 ms of the UI's time and
delayed key presses. Here each line's Strip is cached; a changed row invalidates its
own line only and refreshes that one-line region (no layout). The height changes only
when the number of lines shown does, and a capped list (the latest N, then "... and N
more") stops growing at its cap, so a day of 200 carriers does not grow the board.
Columns are measured in terminal cells (East Asian wide characters count two)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from workbench.i18n import t


class Column(NamedTuple):
    key: str
    label: str
    width: int  # most cells it takes; 0: no limit (the last column: the rest of the line)
    right: bool = False  # numbers: right-aligned


def fit(text: str, width: int) -> str:
    """Text cut to width cells (wide characters count two), with … when cut."""
    if width <= 0:
        return ""
    return text if cell_len(text) <= width else set_cell_size(text, width - 1) + "…"


def pad(text: str, width: int, right: bool = False) -> str:
    """Text fitted to exactly width cells, padded on the left (right=True) or right."""
    text = fit(" ".join(text.split()) if "\n" in text or "\t" in text else text, width)
    space = " " * (width - cell_len(text))
    return space + text if right else text + space


Row = tuple[str, tuple[str, ...]]  # (key, cells)


class RowList(Widget, can_focus=True):
    """Rows (key, cells) under a header line, a cursor row, Enter posts Selected."""

    COMPONENT_CLASSES = {"row-list--header", "row-list--cursor", "row-list--even",
                         "row-list--more"}
    DEFAULT_CSS = """
    RowList {
        height: 1; background: $surface; color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .row-list--cursor { background: $block-cursor-background;
                color: $block-cursor-foreground; text-style: $block-cursor-text-style; }
        }
        & > .row-list--header { text-style: bold; background: $panel; color: $foreground; }
        & > .row-list--even { background: $surface-lighten-1 50%; }
        & > .row-list--cursor { background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style; }
        & > .row-list--more { color: $text-muted; text-style: italic; }
    }
    """
    BINDINGS = [Binding("enter", "select", show=False),
                Binding("up", "move(-1)", show=False), Binding("down", "move(1)", show=False),
                Binding("pageup", "move(-10)", show=False),
                Binding("pagedown", "move(10)", show=False),
                Binding("home", "move(-1000000)", show=False),
                Binding("end", "move(1000000)", show=False)]

    class Selected(Message):
        """Enter (or a click) on a row."""

        def __init__(self, row_list: RowList, key: str) -> None:
            super().__init__()
            self.row_list, self.key = row_list, key

        @property
        def control(self) -> RowList:
            return self.row_list

    def __init__(self, columns: Sequence[Column], *, cap: int = 0, cursor: bool = True,
                 zebra: bool = False, steady: bool = False, empty: str = "",
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self.cap = cap  # most rows shown (0: all); the rest counted on a last line
        self.cursor = cursor
        self.can_focus = cursor
        self.zebra = zebra
        # steady: the height never shrinks (lines left blank), and a capped list has
        # its whole size (cap rows and the "more" line) from the start: carriers coming
        # and going never re-lay the screen out
        self.steady = steady
        # said on the first line while there are no rows: the first row takes its line,
        # so a list's first row does not change its height (no layout of the screen)
        self.empty = empty
        self._rows: list[Row] = []
        self._more = 0
        self._cursor = 0
        # the header, the rows (or the empty line), the "more" line
        self._height = 2 + cap if steady and cap else 2 if empty else 1
        self.styles.height = self._height
        # each column as wide as its label and the widest cell shown so far (up to its
        # limit): widths only grow, so a number ticking down never moves a column
        self._widths = [cell_len(c.label) for c in self.columns]
        self._strips: dict[int, Strip] = {}  # line -> its drawing at the current width
        self.drawn: dict[int, int] = {}  # line -> times drawn (tests count redraws)

    # -- what the screen reads and sets -------------------------------------------------

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.columns)

    @property
    def keys(self) -> list[str]:
        return [key for key, _ in self._rows]

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def more(self) -> int:
        """Rows not shown (past the cap)."""
        return self._more

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def cursor_key(self) -> str | None:
        return self._rows[self._cursor][0] if self.cursor and self._rows else None

    def get_row(self, key: str) -> tuple[str, ...]:
        return dict(self._rows)[key]

    def get_row_at(self, row: int) -> tuple[str, ...]:
        return self._rows[row][1]

    def set_rows(self, rows: Sequence[Row], total: int | None = None) -> None:
        """Show rows (the first cap of them) in place: only changed lines are drawn
        again. total counts rows a query left out, for the last line's count."""
        shown = list(rows[: self.cap] if self.cap else rows)
        more = max(len(rows), total or 0) - len(shown)
        selected, before = self.cursor_key, self._lines()
        self._rows, self._more = shown, more
        keys = self.keys
        if self.cursor and shown:  # the same row stays selected when rows move
            self._cursor = keys.index(selected) if selected in keys else \
                min(self._cursor, len(shown) - 1)
        after = self._lines()
        height = 2 + self.cap if self.steady and self.cap else 1 + len(after)
        if height > self._height or (height < self._height and not self.steady):
            # lines came (or went): a layout of the screen draws them all
            self._height = height
            self._widen(shown)
            self._strips.clear()
            self.styles.height = height
        elif self._widen(shown):  # a column grew: every line is drawn again (no layout)
            self._strips.clear()
            self.refresh()
        else:
            self._redraw(*(n for n in range(max(len(before), len(after)))
                           if before[n: n + 1] != after[n: n + 1]))

    def _lines(self) -> list[tuple[object, ...]]:
        """What each line under the header shows: a row (with the cursor on it or not)
        or the count of rows not shown."""
        lines: list[tuple[object, ...]] = [
            (*row, self.cursor and n == self._cursor) for n, row in enumerate(self._rows)]
        if not lines and self.empty:
            return [("empty",)]
        return [*lines, ("more", self._more)] if self._more else lines

    def move_cursor(self, row: int) -> None:
        if not self._rows or not self.cursor:
            return
        row = min(max(row, 0), len(self._rows) - 1)
        if row != self._cursor:
            before, self._cursor = self._cursor, row
            self._redraw(before, row)
            container = self.parent
            if isinstance(container, Widget) and container.is_scrollable:
                # the board scrolls so the cursor's line is seen (a long list of drives)
                region = self.virtual_region
                container.scroll_to_region(Region(region.x, region.y + row + 1,
                                                  region.width, 1), animate=False)

    # -- keys and mouse -----------------------------------------------------------------

    def action_move(self, by: int) -> None:
        self.move_cursor(self._cursor + by)

    def action_select(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.Selected(self, key))

    def on_click(self, event: events.Click) -> None:
        row = event.y - 1
        if not self.cursor or not 0 <= row < len(self._rows):
            return
        if row == self._cursor:
            self.action_select()
        else:
            self.move_cursor(row)

    def on_focus(self) -> None:
        self._redraw(self._cursor)

    def on_blur(self) -> None:
        self._redraw(self._cursor)

    def on_resize(self) -> None:
        self._strips.clear()

    # -- drawing ------------------------------------------------------------------------

    def _redraw(self, *rows: int) -> None:
        """Rows (their index; len(rows) is the "more" line) drawn again, alone."""
        lines = {row + 1 for row in rows}
        for line in lines:
            self._strips.pop(line, None)
        width = self.size.width
        if lines and width:
            self.refresh(*(Region(0, line, width, 1) for line in sorted(lines)))

    def _widen(self, rows: list[Row]) -> bool:
        """Columns widened to the rows' cells (up to their limits); True if any grew."""
        grew = False
        for n, column in enumerate(self.columns):
            wanted = max((cell_len(cells[n]) for _, cells in rows if n < len(cells)),
                         default=0)
            if column.width:
                wanted = min(wanted, max(column.width, cell_len(column.label)))
            if wanted > self._widths[n]:
                self._widths[n], grew = wanted, True
        return grew

    def _text(self, cells: Sequence[str], width: int) -> str:
        parts, used = [], 1  # a space before the first column, two between columns
        last = len(self.columns) - 1
        for n, cell in enumerate(cells[: last + 1]):
            size = self._widths[n]
            if used + size > width or (n == last and not self.columns[n].width):
                size = max(0, width - used)  # the rest of the line
            column = self.columns[n]
            parts.append(pad(cell, size, column.right))
            used += size + 2
            if used >= width:
                break
        return " " + "  ".join(parts)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        strip = self._strips.get(y)
        if strip is not None and strip.cell_length == width:
            return strip
        base = self.rich_style
        row = y - 1
        if y == 0:
            style: Style = base + self.get_component_rich_style("row-list--header")
            text = self._text(self.labels, width)
        elif row < len(self._rows):
            style = base
            if self.cursor and row == self._cursor:
                style += self.get_component_rich_style("row-list--cursor")
            elif self.zebra and row % 2:
                style += self.get_component_rich_style("row-list--even")
            text = self._text(self._rows[row][1], width)
        elif row == len(self._rows) and self._more:
            style = base + self.get_component_rich_style("row-list--more")
            text = " " + t("board.more", count=self._more)
        elif row == 0 and self.empty:
            style = base + self.get_component_rich_style("row-list--more")
            text = " " + self.empty
        else:
            return Strip.blank(width, base)
        strip = Strip([Segment(text, style)]).adjust_cell_length(width, style)
        self._strips[y] = strip
        self.drawn[y] = self.drawn.get(y, 0) + 1
        return strip
