"""Imaging a carrier: progress, rate, ETA, pass, rescued/bad bytes, time since the last
good read, and a live sector map. Cancel keeps everything; the job resumes."""

from __future__ import annotations

import threading

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Footer, ProgressBar, Static

from workbench.console import duration
from workbench.errors import WorkbenchError
from workbench.i18n import human_bytes, t, translate
from workbench.station import ImagingProgress as Progress
from workbench.station import MigrationResult, Station
from workbench.tui.base import StationScreen
from workbench.tui.widgets import SectorMap, TitleBar


class ImagingProgress(Message):
    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress


class ImagingDone(Message):
    def __init__(self, result: MigrationResult | None, error: str = "") -> None:
        super().__init__()
        self.result, self.error = result, error


class ImagingScreen(StationScreen):
    BINDINGS = [Binding("c", "cancel", t("tui.key_cancel")),
                Binding("escape", "cancel", t("tui.key_cancel"), show=False)]

    def __init__(self, retries: int | None = None, drive: str | None = None,
                 keep_going: bool = False) -> None:
        super().__init__()
        self.retries, self.drive, self.keep_going = retries, drive, keep_going
        self.cancel = threading.Event()
        self.running = False

    def compose(self) -> ComposeResult:
        carrier = self.wb.carrier
        yield TitleBar()
        with Vertical(classes="form"):
            yield Static(t("tui.imaging", item=carrier.item_id,
                           drive=self.drive or carrier.drive), classes="heading")
            yield ProgressBar(id="bar", total=100, show_eta=False)
            yield Static(id="numbers")
            yield SectorMap(id="map")
            yield Static(t("tui.map_legend"), id="legend")
        yield Footer()

    def on_mount(self) -> None:
        self.running = True
        self.run_imaging()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_imaging(self) -> None:
        app = self.wb
        carrier = app.carrier

        def progress(step: str, p: object) -> None:
            if step == "image" and isinstance(p, Progress):
                self.post_message(ImagingProgress(p))

        try:
            with Station(app.settings, progress, self.cancel) as station:
                if carrier.retry:
                    result = station.retry(carrier.item_id, retries=self.retries,
                                           drive=self.drive or carrier.drive, review=True,
                                           keep_going=self.keep_going)
                else:
                    result = station.migrate(self.drive or carrier.drive,
                                             station.profiles[carrier.profile_id],
                                             carrier.item_id, batch=app.batch,
                                             retries=self.retries, review=True)
            self.post_message(ImagingDone(result))
        except WorkbenchError as exc:
            self.post_message(ImagingDone(None, exc.message()))
        except Exception as exc:  # never leave the technician staring at a frozen screen
            self.post_message(ImagingDone(None, f"{type(exc).__name__}: {exc}"))

    def on_imaging_progress(self, message: ImagingProgress) -> None:
        p = message.progress
        # trim, scrape and retry: that pass's own progress, not the whole's ~100%
        fraction = p.pass_fraction if p.per_pass else p.fraction
        self.query_one("#bar", ProgressBar).update(progress=fraction * 100)
        common: dict[str, object] = {"phase": t(f"phase.{p.phase}"), "number": p.pass_number,
                  "rescued": human_bytes(p.rescued), "bad": human_bytes(p.bad),
                  "errors": p.read_errors, "since": duration(p.since_last_good)}
        if p.per_pass:
            text = translate("tui.pass_numbers", {
                "percent": f"{fraction * 100:.1f}", "size": human_bytes(p.pass_size),
                "eta": duration(p.pass_eta), **common})
        else:
            text = translate("tui.numbers", {"rate": human_bytes(p.rate),
                                             "eta": duration(p.eta), **common})
        self.query_one("#numbers", Static).update(text)
        self.query_one("#map", SectorMap).show(p.blocks, p.size)

    def on_imaging_done(self, message: ImagingDone) -> None:
        self.running = False
        from workbench.tui.result import ResultScreen
        self.wb.carrier.retry = False
        # after the next refresh: switching while a header is still mounting breaks it
        self.app.call_later(self.app.switch_screen,
                                    ResultScreen(message.result, message.error))

    def action_cancel(self) -> None:
        self.cancel.set()
        self.query_one("#numbers", Static).update(t("cli.cancelling"))
