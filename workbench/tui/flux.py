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
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import OptionList, Static

from workbench.errors import WorkbenchError
from workbench.flux.training import Recipe
from workbench.i18n import t
from workbench.station import MigrationResult, Station
from workbench.tui.base import StationModal, StationScreen
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

    def __init__(self, item_id: str, profile_id: str, recipe: Recipe | None = None,
                 resume: bool = False) -> None:
        super().__init__()
        self.item_id, self.profile_id, self.recipe = item_id, profile_id, recipe
        self.resume = resume  # goes on as `retry` would: the tracks left, a copy again
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
        from workbench.station.flux import flux_retry, image_flux

        def progress(step: str, p: Any) -> None:
            text = progress_text(step, p)
            if text:
                self.post_message(FluxProgress(text))
        settings = self.wb.settings
        try:
            capture = None
            if self.recipe is not None:  # training: a capture built from its recipe
                from workbench.flux.training import training_capture
                self.post_message(FluxProgress(t("flux.building", name=self.recipe.name)))
                capture = training_capture(self.recipe,
                                           settings.paths.staging.parent / "flux-media")
            command = "workbench (station UI): image with flux"
            with Station(settings, progress, self.cancel) as station:
                resumed = flux_retry(station, self.item_id, None, command) \
                    if self.resume else None
                result = resumed or image_flux(station, self.item_id,
                                               station.profiles[self.profile_id], capture,
                                               command=command)
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


class CapturePicker(StationModal[Recipe | bool | None]):
    """Training mode: a training capture of the carrier's kind, or the Greaseweazle.
    Gives the recipe, True for the Greaseweazle, None for nothing (Esc)."""

    BINDINGS = [Binding("escape", "dismiss(None)", t("tui.key_back"))]

    def __init__(self, choices: list[Recipe]) -> None:
        super().__init__()
        self.choices = choices

    def compose(self) -> ComposeResult:
        from workbench.i18n import language
        with Vertical(classes="dialog"):
            yield Static(t("flux.choose_capture"), classes="heading")
            yield OptionList(*[r.labels.get(language()) or r.labels.get("en") or r.name
                               for r in self.choices], t("flux.use_gw"), id="captures")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        index = event.option_index
        self.dismiss(self.choices[index] if index < len(self.choices) else True)
