"""The station app: a technician migrates carriers; every action calls the core."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import CommandPalette
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
    # our own palette binding: Textual's would say "palette" in English in the footer
    BINDINGS = [Binding("ctrl+q", "request_quit", t("tui.key_quit"), priority=True),
                Binding("question_mark,f1", "key_help", t("ui.key_help")),
                Binding("ctrl+p", "command_palette", t("ui.key_palette"), show=False,
                        priority=True)]

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
        # several drives at once: imaging workers and the background accept queue
        self.runner = StationRunner(settings)
        self.sub_title = t("tui.subtitle_training") if settings.training else \
            settings.station_id

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every key of the current screen (single letters too) and the app's own few
        commands, in the user's language (Textual's own are English only)."""
        from workbench.tui.keys import screen_keys
        for binding, shown in screen_keys(screen):
            if binding.action in ("command_palette", "key_help", "request_quit"):
                continue
            # the key in the help line is text: "[m]" would be read as markup and vanish
            yield SystemCommand(binding.description, escape(t("ui.palette_key", key=shown)),
                                lambda action=binding.action: screen.run_action(action))
        yield SystemCommand(t("ui.key_help"), t("ui.cmd_keys_help"), self.action_key_help)
        yield SystemCommand(t("ui.key_theme"), t("ui.cmd_theme_help"),
                            self.action_change_theme)
        yield SystemCommand(t("autoload.tui.command"), t("autoload.tui.command_help"),
                            self.open_autoload)
        yield SystemCommand(t("setup.tui_title"), t("setup.tui_title"), self.action_open_setup)
        yield SystemCommand(t("tui.key_quit"), t("ui.cmd_quit_help"), self.action_request_quit)

    def open_autoload(self) -> None:
        from workbench.tui.autoload import AutoloadScreen
        self.push_screen(AutoloadScreen())

    def action_command_palette(self) -> None:
        if self.use_command_palette and not any(isinstance(s, CommandPalette)
                                               for s in self.screen_stack):
            self.push_screen(CommandPalette(placeholder=t("ui.palette_placeholder"),
                                            id="--command-palette"))

    def action_help_quit(self) -> None:
        """ctrl+c (Textual's own words are English and name a key we do not use)."""
        self.notify(t("ui.help_quit"))

    def action_key_help(self) -> None:
        from workbench.tui.keys import KeyHelp
        if not isinstance(self.screen, KeyHelp | CommandPalette):
            self.push_screen(KeyHelp(self.screen))

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
    WorkbenchApp(settings, sign_in=True).run()
    return 0
