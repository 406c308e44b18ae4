"""The station set-up screen: what `workbench setup` sets, as a form. It writes the
station settings file (comments kept, atomically); the station layer judges the input."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Header, Input, Static

from workbench.config import UNNAMED, Settings
from workbench.errors import WorkbenchError
from workbench.i18n import catalog, t
from workbench.tui.base import StationScreen
from workbench.tui.widgets import StationFooter


def _values(s: Settings) -> dict[str, str]:
    return {"station_id": s.station_id.removesuffix("-training") if s.training
            else s.station_id,
            # a station not yet set up shows an empty field (with a hint), not the placeholder
            "organisation": "" if s.organisation.strip() in ("", UNNAMED) else s.organisation,
            "contact_name": s.contact_name,
            "contact_email": s.contact_email, "language": s.language,
            "pools": ", ".join(s.tape_pools), "camera_command": s.camera_command,
            "camera_timeout": f"{s.camera_timeout:g}", "codepage": s.legacy_codepage}


def _field_of(exc: WorkbenchError) -> str | None:
    """The form field a refusal is about (None: not one field)."""
    from workbench.station.setup import FIELDS
    by_key = {f"{table}.{key}": name for name, (table, key) in FIELDS.items()}
    named = {"setup.organisation_needed": "organisation", "setup.bad_email": "contact_email",
             "lead.bad_station_id": "station_id"}
    given = str(exc.params.get("key", "")), str(exc.params.get("field", ""))
    for name in FIELDS:
        label = f"meta.field_{name}"  # check_text names the field in words
        if name in given or (label in catalog("en") and t(label) in given):
            return name
    return by_key.get(given[0]) or named.get(exc.key)


class SetupScreen(StationScreen):
    BINDINGS = [Binding("escape", "app.pop_screen", t("tui.key_back")),
                Binding("ctrl+s", "save", t("setup.key_save"), priority=True),
                Binding("ctrl+o", "sign_in", t("setup.key_signin"))]
    DEFAULT_CSS = "SetupScreen #setup-message { margin: 1 0; }"

    def compose(self) -> ComposeResult:
        from workbench.station.setup import settings_file
        settings = self.wb.settings
        where = "mfix.setup_where_training" if settings.training else "mfix.setup_where"
        yield Header()
        with VerticalScroll(classes="form"):
            yield Static(t("setup.tui_title"), classes="heading")
            yield Static(t(where, file=str(settings_file(settings))), id="setup-where",
                         markup=False)
            from workbench.station.udev import summary_line  # installed: setup --udev
            yield Static(summary_line(exempt=settings.udev_exempt), id="setup-udev",
                         markup=False)
            # above the fields: at 80x24 the last ones are below the fold
            yield Static(id="setup-message", markup=False)
            for name, value in _values(settings).items():
                yield Static(t(f"setup.tui_{name}"))
                hint = t("lead.organisation_placeholder") if name == "organisation" else ""
                yield Input(value=value, id=f"setup-{name}", placeholder=hint)
        yield StationFooter()

    def on_mount(self) -> None:
        field = "organisation" if self.wb.settings.organisation_unset else "station_id"
        self.query_one(f"#setup-{field}", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_save()

    def action_save(self) -> None:
        from dataclasses import replace

        from workbench.station.setup import save, settings_file
        app = self.wb
        message = self.query_one("#setup-message", Static)
        before = _values(app.settings)
        values: dict[str, str | float | None] = {
            name: self.query_one(f"#setup-{name}", Input).value
            for name in before}
        values = {k: v for k, v in values.items() if v != before[k]
                  or (k == "organisation" and app.settings.organisation_unset)}
        path = settings_file(app.settings)
        if not values:  # nothing changed: nothing written (no file made in passing)
            self.app.notify(t("mfix.setup_nothing", file=str(path)))
            self.app.pop_screen()
            return
        try:
            saved = save(path, values)
        except WorkbenchError as exc:
            message.update(exc.message())
            # seen whatever the screen size, and the field to correct has the cursor
            self.app.notify(exc.message(), severity="error", timeout=15)
            field = _field_of(exc)
            if field:
                self.query_one(f"#setup-{field}", Input).focus()
            self.query_one(VerticalScroll).scroll_home(animate=False)
            return
        saved = replace(saved, operator=app.settings.operator or saved.operator)
        app.use_settings(saved.for_training() if app.settings.training else saved)
        self.app.notify(t("setup.tui_saved", file=str(path)))
        self.app.pop_screen()

    def action_sign_in(self) -> None:
        from workbench.tui.signin import SignInModal
        self.app.push_screen(SignInModal())
