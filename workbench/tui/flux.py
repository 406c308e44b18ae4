"""Imaging a carrier with flux from the result screen: a Greaseweazle captures the disk
into its job folder (or an interrupted capture goes on, or the bad tracks are captured
again), the station's flux flow decodes and images it, then the result screen shows
the new result. The work runs in a thread with its own Station; Esc cancels between
tracks (what was captured is kept: the same action goes on from there)."""

from __future__ import annotations

import threading
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from workbench.errors import WorkbenchError
from workbench.i18n import t
from workbench.station import MigrationResult, Station
from workbench.tui.base import StationScreen
from workbench.tui.widgets import StationFooter, TitleBar


class FluxProgress(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class FluxDone(Message):
    def __init__(self, result: MigrationResult | None, error: str = "") -> None:
        super().__init__()
        self.result, self.error = result, error


def progress_text(step: str, p: Any) -> str:
    """One line for a progress report of the flux flow (capture, decode, image)."""
    if step == "flux":
        from workbench.station.flux_words import flux_progress_text
        return flux_progress_text(p)
    if step == "image" and hasattr(p, "fraction"):
        return t("flux.image_progress", percent=f"{100 * p.fraction:.0f}")
    return ""


class FluxScreen(StationScreen):
    BINDINGS = [Binding("escape", "cancel", t("tui.key_cancel"))]

    def __init__(self, item_id: str, profile_id: str) -> None:
        super().__init__()
        self.item_id, self.profile_id = item_id, profile_id
        self.cancel = threading.Event()

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with VerticalScroll(classes="form"):
            yield Static(t("flux.action") + f": {self.item_id}", classes="heading",
                         markup=False)
            yield Static(id="flux-status", markup=False)
        yield StationFooter()

    def on_mount(self) -> None:
        self.run_flux()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_flux(self) -> None:
        from workbench.station.flux import image_flux

        def progress(step: str, p: Any) -> None:
            text = progress_text(step, p)
            if text:
                self.post_message(FluxProgress(text))
        try:
            with Station(self.wb.settings, progress, self.cancel) as station:
                result = image_flux(station, self.item_id, station.profiles[self.profile_id],
                                    command="workbench (station UI): image with flux")
            self.post_message(FluxDone(result))
        except WorkbenchError as exc:
            self.post_message(FluxDone(None, exc.message()))
        except Exception as exc:  # never leave the screen frozen
            self.post_message(FluxDone(None, f"{type(exc).__name__}: {exc}"))

    def on_flux_progress(self, message: FluxProgress) -> None:
        self.query_one("#flux-status", Static).update(message.text)

    def on_flux_done(self, message: FluxDone) -> None:
        from workbench.tui.result import ResultScreen
        self.app.switch_screen(ResultScreen(message.result, message.error))

    def action_cancel(self) -> None:
        self.cancel.set()
