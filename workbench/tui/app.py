"""The station app: a technician migrates carriers; every action calls the core."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from workbench.config import Settings
from workbench.devices import Drive
from workbench.i18n import t
from workbench.station import Station
from workbench.tui.flow import Carrier
from workbench.tui.home import HomeScreen


class WorkbenchApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = t("tui.title")
    BINDINGS = [Binding("ctrl+q", "request_quit", t("tui.key_quit"), priority=True)]

    def __init__(self, settings: Settings, sign_in: bool = False) -> None:
        super().__init__()
        self.settings = settings
        self.sign_in = sign_in  # ask who is working (and set up the station) at start
        # reads on the UI thread; each worker opens its own Station (its own connection)
        self.station = Station(settings)
        self.profiles = self.station.profiles
        self.ledger = self.station.con  # the connection the UI thread reads through
        self.drives: list[Drive] = []
        self.batch = ""
        self.carrier = Carrier("")
        self.sub_title = t("tui.subtitle_training") if settings.training else \
            settings.station_id

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every key of the current screen is also in the command palette."""
        yield from super().get_system_commands(screen)
        for binding in getattr(screen, "BINDINGS", []):
            if isinstance(binding, Binding) and binding.show and binding.description:
                yield SystemCommand(binding.description, f"[{binding.key}]",
                                    lambda action=binding.action: screen.run_action(action))
        yield SystemCommand(t("autoload.tui.command"), t("autoload.tui.command_help"),
                            self.open_autoload)
        yield SystemCommand(t("setup.tui_title"), "", self.action_open_setup)

    def open_autoload(self) -> None:
        from workbench.tui.autoload import AutoloadScreen
        self.push_screen(AutoloadScreen())

    def on_mount(self) -> None:
        self.push_screen(HomeScreen())
        if self.sign_in:
            from workbench.tui.signin import at_start
            at_start(self)

    def use_settings(self, settings: Settings) -> None:
        """This session's settings from now on (sign-in, set-up): the UI's station and
        every worker's (each opens its Station from app.settings)."""
        self.settings = settings
        self.station.settings = settings

    def action_open_setup(self) -> None:
        from workbench.tui.setup import SetupScreen
        self.push_screen(SetupScreen())

    def pop_screen_to_home(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    def action_request_quit(self) -> None:
        from workbench.tui.imaging import ImagingScreen
        from workbench.tui.result import ConfirmQuit
        screen = self.screen
        if isinstance(screen, ImagingScreen) and screen.running:
            def answer(quit_now: bool | None) -> None:
                if quit_now:
                    screen.cancel.set()  # the map is saved; the job resumes next time
                    self.exit()
            self.push_screen(ConfirmQuit(), answer)
            return
        self.exit()

    def on_unmount(self) -> None:
        self.station.close()


def run(settings: Settings) -> int:
    WorkbenchApp(settings, sign_in=True).run()
    return 0
