"""The keys of the current screen: a help screen (`?` or F1) listing every key with
its description, and the command palette's entries. Both read the same bindings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from workbench.console import pad, width
from workbench.i18n import t
from workbench.tui.base import StationModal


def screen_keys(screen: Screen[object]) -> Iterator[tuple[Binding, str]]:
    """(binding, its keys as shown: "h / esc") for every described action of screen and
    of the app, once each, in the order they are bound."""
    app = screen.app
    found: dict[str, tuple[Binding, list[str]]] = {}
    for binding in [*getattr(screen, "BINDINGS", []), *app.BINDINGS]:
        if not isinstance(binding, Binding) or not binding.description:
            continue
        shown = found.setdefault(binding.action, (binding, []))[1]
        for key in binding.key.split(","):
            display = app.get_key_display(replace(binding, key=key.strip()))
            if display not in shown:
                shown.append(display)
    for binding, shown in found.values():
        yield binding, " / ".join(shown)


class KeyHelp(StationModal[None]):
    """Every key of the screen below, in the user's language. Any key closes it."""

    BINDINGS = [Binding("escape", "dismiss(None)", t("tui.key_back"))]

    def __init__(self, under: Screen[object]) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        keys = list(screen_keys(self.under))
        cells = max((width(shown) for _, shown in keys), default=0)
        lines = Text()
        for binding, shown in keys:
            lines.append(pad(shown, cells) + "  ", style="bold")
            lines.append(binding.description + "\n")
        with VerticalScroll(classes="dialog", id="key-help"):
            yield Static(t("ui.keys_title"), classes="heading")
            yield Static(lines, id="key-list")
            yield Static(t("ui.keys_close"), classes="muted")

    def on_key(self, event: object) -> None:
        self.dismiss(None)
