"""Widgets of the station UI."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# Worst first: a cell shows the worst status of the bytes it covers, as ddrescueview does.
STATUS_STYLE = {"-": ("#", "bold red"), "/": ("%", "yellow"), "*": ("*", "dark_orange"),
                "?": (".", "grey50"), "+": ("█", "green")}
_RANK = {s: n for n, s in enumerate(STATUS_STYLE)}


class SectorMap(Widget):
    """The rescue map as a grid of cells: good, bad, untried, non-trimmed, non-scraped."""

    DEFAULT_CSS = "SectorMap { height: 6; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
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


class StationFooter(Footer):
    """The footer a technician reads at 80x24: the app's own keys (quit, the key list)
    first, so no screen's many keys can push them off the edge; compact; the palette's
    key is in the key list (`?`) instead of taking the right-hand corner."""

    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        shown = [a for a in self.screen.active_bindings.values() if a.binding.show]
        ordered = [a for a in shown if a.node is self.app] + \
            [a for a in shown if a.node is not self.app]
        actions: set[str] = set()
        keys = []
        for active in ordered:
            if active.binding.action not in actions:  # one key per action, as Footer does
                actions.add(active.binding.action)
                keys.append(active)
        self.styles.grid_size_columns = len(keys)
        for active in keys:
            binding = active.binding
            yield FooterKey(binding.key, self.app.get_key_display(binding),
                            binding.description, binding.action, disabled=not active.enabled,
                            tooltip=active.tooltip).data_bind(compact=Footer.compact)
