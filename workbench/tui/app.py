"""The station app: a technician migrates carriers; every action calls the core."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding

from workbench.config import Settings
from workbench.i18n import t
from workbench.ledger.db import connect
from workbench.profiles import load_profiles
from workbench.tui.home import HomeScreen


class WorkbenchApp(App):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = t("tui.title")
    BINDINGS = [Binding("ctrl+q", "request_quit", t("tui.key_quit"), priority=True)]

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.profiles = load_profiles(settings.paths.profiles)
        self.ledger = connect(settings.paths.ledger)
        self.drives: list = []
        self.batch = ""
        self.carrier = None
        self.sub_title = t("tui.subtitle_training") if settings.training else \
            settings.station_id

    def get_system_commands(self, screen):  # type: ignore[no-untyped-def]
        """Every key of the current screen is also in the command palette."""
        from textual.app import SystemCommand

        yield from super().get_system_commands(screen)
        for binding in getattr(screen, "BINDINGS", []):
            if isinstance(binding, Binding) and binding.show and binding.description:
                yield SystemCommand(binding.description, f"[{binding.key}]",
                                    lambda action=binding.action: screen.run_action(action))

    def report_label(self, key: str) -> str:
        return self.profiles[key].report_label() if key in self.profiles else key

    def on_mount(self) -> None:
        self.push_screen(HomeScreen())

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
        self.ledger.close()


def run(settings: Settings) -> int:
    WorkbenchApp(settings).run()
    return 0
