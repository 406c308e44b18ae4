"""One drive of the board, opened: its carrier's progress, rate, ETA, pass, rescued/bad
bytes, time since the last good read, and the live sector map, read from the runner's
snapshot four times a second. Cancel keeps everything (the job resumes); the other
drives go on. When the carrier waits for the technician (partial, cancelled, failed,
or no auto-accept), its result opens; when it went to the background queue, the screen
says so and Esc goes back to the board."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from workbench.console import duration
from workbench.i18n import human_bytes, t, translate
from workbench.station.runner import FAILED, REVIEW, DriveView
from workbench.tui.base import StationScreen
from workbench.tui.board import phase_words, short
from workbench.tui.widgets import SectorMap, StationFooter, TitleBar


class DriveScreen(StationScreen):
    BINDINGS = [Binding("c", "cancel", t("tui.key_cancel")),
                Binding("escape", "board", t("board.key_board")),
                Binding("h", "board", t("board.key_board"), show=False)]

    def __init__(self, drive: str) -> None:
        super().__init__()
        self.drive = drive
        self.item_id = ""  # the carrier this view follows (a later one is another view)
        self.shown: DriveView | None = None
        self.title_shown = ""
        self.left = False

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(classes="form"):
            yield Static(id="drive-title", classes="heading")
            yield ProgressBar(id="bar", total=100, show_eta=False)
            yield Static(id="numbers")
            yield SectorMap(id="map")
            yield Static(t("tui.map_legend"), id="legend")
        yield StationFooter()

    def on_mount(self) -> None:
        self.item_id = self.wb.runner.drive(self.drive).item_id
        self.tick()
        self.set_interval(0.25, self.tick)

    @property
    def running(self) -> bool:
        return self.wb.runner.drive(self.drive).busy

    def tick(self) -> None:
        view = self.wb.runner.drive(self.drive)
        if self.left:
            return
        if view is not self.shown:
            self.shown = view
            self.show(view)
        if not view.busy and view.item_id and view.item_id == self.item_id:
            self.finished(view)

    def show(self, view: DriveView) -> None:
        name = short(self.drive, {d.path: d for d in self.wb.drives})
        title = (t("tui.imaging", item=view.item_id, drive=name) if view.item_id else name) \
            + "  ·  " + phase_words(view)
        if title != self.title_shown:  # an update re-lays the screen out: only a change
            self.title_shown = title
            self.query_one("#drive-title", Static).update(title)
        p = view.progress
        if p is not None:
            self.query_one("#bar", ProgressBar).update(progress=view.fraction * 100)
            common: dict[str, object] = {
                "phase": t(f"phase.{p.phase}"), "number": p.pass_number,
                "rescued": human_bytes(p.rescued), "bad": human_bytes(p.bad),
                "errors": p.read_errors, "since": duration(p.since_last_good)}
            if p.per_pass:
                text = translate("tui.pass_numbers", {
                    "percent": f"{view.fraction * 100:.1f}", "size": human_bytes(p.pass_size),
                    "eta": duration(p.pass_eta), **common})
            else:
                text = translate("tui.numbers", {"rate": human_bytes(p.rate),
                                                 "eta": duration(p.eta), **common})
            if view.phase == "cancelling":
                text = t("cli.cancelling")
            self.query_one("#numbers", Static).update(text)
            self.query_one("#map", SectorMap).show(p.blocks, p.size)
        if view.error:
            self.query_one("#numbers", Static).update(t("tui.error", message=view.error))

    def finished(self, view: DriveView) -> None:
        """The carrier left the drive: its result when it waits for the technician,
        else a line saying where it went."""
        carrier = self.wb.runner.carrier(view.item_id)
        if carrier is None:
            return
        if carrier.status == REVIEW and carrier.result is not None:
            from workbench.tui.flow import Carrier
            from workbench.tui.result import ResultScreen
            self.left = True
            self.wb.carrier = Carrier(carrier.item_id, drive=self.drive,
                                      profile_id=carrier.result.record.profile_id)
            # after the next refresh: switching while a header is still mounting breaks it
            self.app.call_later(self.app.switch_screen, ResultScreen(carrier.result))
        elif carrier.status == FAILED:
            self.query_one("#numbers", Static).update(t("tui.error", message=carrier.error))
        else:
            self.query_one("#numbers", Static).update(
                t("board.in_background", item=carrier.item_id,
                  status=t(f"board.status.{carrier.status}")))

    def action_cancel(self) -> None:
        self.wb.runner.cancel(self.drive)
        self.query_one("#numbers", Static).update(t("cli.cancelling"))

    def action_board(self) -> None:
        self.left = True
        self.wb.pop_screen_to_home()
