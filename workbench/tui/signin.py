"""Operator sign-in at start (when the station settings name nobody) and what else the
start needs: the set-up screen when the station has no organisation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from workbench.errors import WorkbenchError
from workbench.i18n import t
from workbench.tui.base import StationModal

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp


class SignInModal(StationModal[str]):
    """Who is working: the name goes into every attempt, event, bag and PREMIS agent
    (settings.operator) for this session. No way around it but a name (or quitting)."""

    DEFAULT_CSS = "SignInModal #signin-message { color: $error; }"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(t("setup.signin_title"), classes="heading")
            yield Static(t("setup.signin_prompt"))
            yield Input(id="operator", value=self.wb.settings.operator)
            yield Static(id="signin-message", markup=False)

    def on_mount(self) -> None:
        self.query_one("#operator", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        from workbench.station.setup import sign_in
        app = self.wb
        try:
            app.use_settings(sign_in(app.settings, event.value))
        except WorkbenchError as exc:
            self.query_one("#signin-message", Static).update(exc.message())
            return
        self.dismiss(app.settings.operator)


def at_start(app: WorkbenchApp) -> None:
    """Set-up first when the station has no organisation (a real station, not training),
    then sign-in on top when the settings name no operator."""
    if app.settings.organisation_unset:
        from workbench.tui.setup import SetupScreen
        app.push_screen(SetupScreen())
    if not app.settings.operator:
        app.push_screen(SignInModal())
