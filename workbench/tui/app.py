"""The station app: a technician migrates carriers; every action calls the core."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from workbench.config import Settings
from workbench.devices import Drive
from workbench.errors import WorkbenchError
from workbench.i18n import t
from workbench.station import Station
from workbench.station.runner import Job, StationRunner
from workbench.tui.flow import Carrier
from workbench.tui.home import HomeScreen


class WorkbenchApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = t("tui.title")
    BINDINGS = [Binding("ctrl+q", "request_quit", t("tui.key_quit"), priority=True)]

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        # reads on the UI thread; each worker opens its own Station (its own connection)
        self.station = Station(settings)
        self.profiles = self.station.profiles
        self.ledger = self.station.con  # the connection the UI thread reads through
        self.drives: list[Drive] = []
        self.batch = ""
        self.carrier = Carrier("")
        # several drives at once: imaging workers and the background accept queue
        self.runner = StationRunner(settings)
        self.sub_title = t("tui.subtitle_training") if settings.training else \
            settings.station_id

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every key of the current screen is also in the command palette."""
        yield from super().get_system_commands(screen)
        for binding in getattr(screen, "BINDINGS", []):
            if isinstance(binding, Binding) and binding.show and binding.description:
                yield SystemCommand(binding.description, f"[{binding.key}]",
                                    lambda action=binding.action: screen.run_action(action))

    def on_mount(self) -> None:
        self.push_screen(HomeScreen())

    def pop_screen_to_home(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    def start_carrier(self, drive: str | None = None, retries: int | None = None,
                      keep_going: bool = False) -> str:
        """Start the chosen carrier (self.carrier) on its drive in the runner; Refused
        when that drive is busy. The drive it went to."""
        carrier = self.carrier
        job = Job(carrier.item_id, drive or carrier.drive, carrier.profile_id,
                  batch=self.batch, retry=carrier.retry, retries=retries,
                  keep_going=keep_going)
        self.runner.start(job)
        carrier.retry = False
        return job.drive

    def start_on_board(self, message: Static) -> None:
        """The checklist is done: image on the runner and go back to the board (a
        refusal, such as a busy drive, is said where the technician is)."""
        try:
            self.start_carrier()
        except WorkbenchError as exc:
            message.update(exc.message())
            return
        self.pop_screen_to_home()

    def action_request_quit(self) -> None:
        from workbench.tui.result import ConfirmQuit
        if self.runner.busy():  # drives imaging or carriers being accepted
            def answer(quit_now: bool | None) -> None:
                if quit_now:
                    self.exit()  # on_unmount cancels: maps are saved, jobs resume
            self.push_screen(ConfirmQuit(), answer)
            return
        self.exit()

    def on_unmount(self) -> None:
        self.runner.shutdown(deadline=10)
        self.station.close()


def run(settings: Settings) -> int:
    WorkbenchApp(settings).run()
    return 0
