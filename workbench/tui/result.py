"""The result in plain words, then the technician decides: accept (verify, bag, tape),
retry with more passes, retry on another drive, image with flux, route elsewhere, add a
note."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Button, Input, OptionList, Static

from workbench.console import more_line
from workbench.errors import WorkbenchError
from workbench.i18n import t
from workbench.identify.report import escape_invisible
from workbench.station import (
    Action,
    MigrationResult,
    NotAllowed,
    environment_line,
    final_map,
    record_lines,
    step_line,
)
from workbench.station.guard_words import virus_lines
from workbench.station.result import format_lines
from workbench.tui.base import StationModal, StationScreen
from workbench.tui.widgets import SectorMap, StationFooter, TitleBar


class ResultScreen(StationScreen):
    BINDINGS = [Binding("a", "accept", t("tui.key_accept")),
                Binding("r", "retry", t("tui.key_retry_more")),
                Binding("d", "other_drive", t("tui.key_other_drive")),
                # rarer keys: in the key list (`?`) and the palette, not the 80-column footer
                Binding("k", "keep_going", t("tui.key_keep_going"), show=False),
                Binding("f", "route('needs_flux')", t("tui.key_flux"), show=False),
                Binding("x", "flux", t("flux.action"), show=False),
                Binding("u", "route('audio_disc')", t("tui.key_audio"), show=False),
                Binding("n", "note", t("tui.key_note")),
                Binding("h", "home", t("tui.key_home")),
                Binding("escape", "home", t("tui.key_home"), show=False)]

    def __init__(self, result: MigrationResult | None, error: str = "") -> None:
        super().__init__()
        self.result, self.error = result, error
        self.busy = True  # until the result is on screen: no key acts on half a screen

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with VerticalScroll(classes="form"):
            yield Static(id="outcome", markup=False, classes="heading")
            yield SectorMap(id="final-map")
            yield Static(id="details", markup=False)
            yield Static(id="steps", markup=False)
        yield StationFooter()

    def on_mount(self) -> None:
        self.call_later(setattr, self, "busy", False)
        try:
            outcome = self.query_one("#outcome", Static)
        except NoMatches:  # switched away before its widgets were mounted: nothing to show
            return
        if self.result is None:
            outcome.update(t("tui.error", message=self.error))
            return
        record = self.result.record
        outcome.update(t("result.headline", item=record.item_id,
                         outcome=t(f"outcome.{record.outcome}")))
        drawn = final_map(self.result.job_dir)
        if drawn is not None:  # the final map: where the bad areas are
            self.query_one("#final-map", SectorMap).show(*drawn)
        lines = record_lines(record, max_ranges=8)
        if not record.reason:
            lines.insert(0, t("tui.all_read"))
        report = self.result.report
        if report:
            s = report["summary"]
            lines.append(t("tui.formats", files=s["files"], unidentified=len(s["unidentified"])))
            if not report.get("complete", True):
                lines.append(t("identify.incomplete"))
            lines.append(environment_line(report.get("environment", {})))
            lines += virus_lines(report.get("virus_scan") or {})
            lines += ["  " + line for line in format_lines(report, 6)]
            lines += [t("identify.damaged", path=escape_invisible(d["path"]),
                        bytes=d["bytes_lost"])
                      for d in s["damaged"][:8]] + more_line(8, len(s["damaged"]))
        self.query_one("#details", Static).update("\n".join(lines))
        # the steps so far, as the CLI prints them (an image identical to another
        # carrier's is said in the imaging step)
        self.query_one("#steps", Static).update(
            "\n".join(step_line(*step) for step in self.result.steps))

    def _allowed(self, action: Action) -> bool:
        """The station decides; a refusal is shown with the way forward."""
        if self.result is None:
            return False
        st = self.wb.station.state(self.result.item_id)
        if action in st.next_actions:
            return True
        self.query_one("#steps", Static).update(
            NotAllowed(st.item_id, st.state, action).message())
        return False

    def action_accept(self) -> None:
        if self.busy or not self._allowed(Action.ACCEPT):
            return
        self.busy = True
        self.query_one("#steps", Static).update(t("tui.packaging"))
        self.package()

    def package(self) -> None:
        """Hand the carrier to the background queue (verify, identify, bag, tape) and go
        back to the board: no drive waits for it; the board shows how it goes."""
        assert self.result is not None
        self.wb.runner.accept(self.result.item_id, batch=self.wb.batch or None,
                              drive=self.wb.carrier.drive)
        self.busy = False
        self.wb.pop_screen_to_home()

    def action_retry(self) -> None:
        self._retry(None)

    def action_keep_going(self) -> None:
        """A dead medium or a spent budget stopped imaging: go on from the same map."""
        self._retry(None, keep_going=True)

    def action_other_drive(self) -> None:
        self.app.push_screen(DrivePicker(), self._retry)

    def _retry(self, drive: str | None, keep_going: bool = False) -> None:
        if self.busy or self.result is None:
            return
        from workbench.tui.imaging import ImagingScreen
        st = self.wb.station.state(self.result.item_id)
        carrier = self.wb.carrier
        carrier.item_id = st.item_id
        carrier.profile_id = self.result.record.profile_id
        carrier.drive = carrier.drive or self.result.record.source
        if Action.RETRY in st.next_actions:
            carrier.retry = True
        elif Action.IMAGE in st.next_actions:
            carrier.retry = False  # interrupted: a resume
        else:
            self._allowed(Action.RETRY)  # says why not
            return
        profile = self.wb.profiles[carrier.profile_id]
        self.busy = True
        self.app.call_later(self.app.switch_screen,
                            ImagingScreen(retries=profile.retries + 2,
                                          drive=drive or carrier.drive,
                                          keep_going=keep_going))

    def action_flux(self) -> None:
        """Image with flux (workbench/tui/flux.py): the station says whether it may."""
        if self.busy or self.result is None:
            return
        st = self.wb.station.state(self.result.item_id)
        if not any(a in st.next_actions for a in (Action.IMAGE, Action.RETRY)):
            self._allowed(Action.RETRY)  # says why not
            return
        from workbench.flux.training import Recipe
        from workbench.tui.flux import CapturePicker, FluxScreen
        item, profile = st.item_id, self.result.record.profile_id

        def start(choice: Recipe | bool | None) -> None:
            if choice is None or self.busy:
                return
            self.busy = True
            recipe = choice if isinstance(choice, Recipe) else None
            self.app.call_later(self.app.switch_screen, FluxScreen(item, profile, recipe))
        if self.wb.settings.training:  # the training captures of this carrier's disk
            from workbench.station.flux_training import own_recipes
            choices = own_recipes(self.wb.station, item)
            if choices:
                self.app.push_screen(CapturePicker(choices), start)
                return
        start(True)

    def action_route(self, outcome: str) -> None:
        if self.result is None or self.busy:
            return
        try:
            self.wb.station.route(self.result.item_id, outcome)
        except WorkbenchError as exc:
            self.query_one("#steps", Static).update(exc.message())
            return
        self.query_one("#steps", Static).update(t("mark.done", item=self.result.item_id,
                                                  route=t(f"outcome.{outcome}")))

    def action_note(self) -> None:
        self.app.push_screen(TextPrompt(t("tui.note_prompt"), "note"), self._save_note)

    def _save_note(self, text: str | None) -> None:
        if text and self.result is not None:
            try:
                self.wb.station.note(self.result.item_id, text)
            except WorkbenchError as exc:
                self.query_one("#steps", Static).update(exc.message())
                return
            self.query_one("#steps", Static).update(t("tui.note_saved"))

    def action_home(self) -> None:
        if not self.busy:
            self.wb.pop_screen_to_home()


class DrivePicker(StationModal[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", t("tui.key_back"))]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(t("tui.choose_drive"), classes="heading")
            yield OptionList(*[f"{d.name}  {d.model}" for d in self.wb.drives
                               if d.media_present], id="drives")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        drives = [d for d in self.wb.drives if d.media_present]
        self.dismiss(drives[event.option_index].path)


class TextPrompt(StationModal[str | None]):
    """One line of text (a note, a withdrawal's reason); Esc gives nothing."""

    BINDINGS = [Binding("escape", "dismiss(None)", t("tui.key_back"))]

    def __init__(self, prompt: str, input_id: str) -> None:
        super().__init__()
        self.prompt, self.input_id = prompt, input_id

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.prompt, classes="heading", markup=False)
            yield Input(id=self.input_id)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class ConfirmQuit(StationModal[bool]):
    BINDINGS = [Binding("escape", "dismiss(False)", t("tui.key_back"))]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(t("tui.quit_while_imaging"), classes="heading")
            yield Button(t("tui.quit_yes"), id="yes", variant="error")
            yield Button(t("tui.quit_no"), id="no", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
