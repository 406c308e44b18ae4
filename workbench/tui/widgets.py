"""Widgets of the station UI."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

# Worst first: a cell shows the worst status of the bytes it covers, as ddrescueview does.
STATUS_STYLE = {"-": ("#", "bold red"), "/": ("%", "yellow"), "*": ("*", "dark_orange"),
                "?": (".", "grey50"), "+": ("█", "green")}
_RANK = {s: n for n, s in enumerate(STATUS_STYLE)}


class SectorMap(Widget):
    """The rescue map as a grid of cells: good, bad, untried, non-trimmed, non-scraped."""

    DEFAULT_CSS = "SectorMap { height: 6; }"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.blocks: tuple[tuple[int, int, str], ...] = ()
        self.size_bytes = 0

    def show(self, blocks: tuple[tuple[int, int, str], ...], size: int) -> None:
        self.blocks, self.size_bytes = blocks, size
        self.refresh()

    def cells(self, count: int) -> list[str]:
        """The status shown by each of count cells."""
        out = ["?"] * count
        if not self.size_bytes or not count:
            return out
        per = self.size_bytes / count
        best = [len(_RANK)] * count
        for pos, size, status in self.blocks:
            first = int(pos / per)
            last = min(count - 1, int((pos + size - 1) / per))
            rank = _RANK.get(status, 0)
            for cell in range(first, last + 1):
                if rank < best[cell]:
                    best[cell], out[cell] = rank, status
        return out

    def render(self) -> Text:
        width = max(1, self.size.width)
        count = width * max(1, self.size.height)
        text = Text()
        for n, status in enumerate(self.cells(count)):
            char, style = STATUS_STYLE[status]
            text.append(char, style=style)
            if (n + 1) % width == 0 and n + 1 < count:
                text.append("\n")
        return text


class TitleBar(Widget):
    """A plain title line for screens that switch quickly (imaging, result): Textual's
    Header can fail when its screen is replaced while its title update is pending."""

    DEFAULT_CSS = """
    TitleBar { dock: top; height: 1; background: $panel; color: $text; text-style: bold;
               content-align: center middle; }
    """

    def render(self) -> Text:
        app = self.app
        sub = f" — {app.sub_title}" if app.sub_title else ""
        return Text(f"{app.title}{sub}", justify="center")
