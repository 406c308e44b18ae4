"""The guided start of a migration: item ID first, then drive and profile, then the
profile's checklist and the pre-flight results."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Checkbox, DataTable, Header, Input, Select, Static

from workbench import devices
from workbench.devices import Drive
from workbench.errors import WorkbenchError
from workbench.i18n import t
from workbench.station import Action, NotAllowed
from workbench.tui.base import StationScreen
from workbench.tui.widgets import StationFooter


@dataclass
class Carrier:
    item_id: str
    retry: bool = False
    drive: str = ""
    profile_id: str = ""


class ItemScreen(StationScreen):
    """Scan or type the item ID before the carrier goes into the drive."""

    BINDINGS = [Binding("escape", "app.pop_screen", t("tui.key_back")),
                Binding("ctrl+r", "retry", t("tui.key_explicit_retry"))]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(classes="form"):
            yield Static(t("tui.item_prompt"), classes="heading")
            yield Input(id="item", placeholder=t("tui.item_hint"))
            yield Static(id="item-message", markup=False)
        yield StationFooter()

    def on_mount(self) -> None:
        self.query_one("#item", Input).focus()

    def action_retry(self) -> None:
        self.go(self.query_one("#item", Input).value, retry=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.go(event.value, retry=False)

    def go(self, value: str, retry: bool) -> None:
        """The station says what state the carrier is in and which way it goes on."""
        from workbench.station.next_step import Way, continuation, next_step_for
        message = self.query_one("#item-message", Static)
        try:
            go = continuation(self.wb.station, value)
        except WorkbenchError as exc:
            message.update(exc.message())
            return
        st = go.state
        if retry:
            if Action.RETRY not in st.next_actions:
                message.update(NotAllowed(st.item_id, st.state, Action.RETRY).message())
                return
            self.wb.carrier = Carrier(st.item_id, retry=True, profile_id=go.profile_id)
            self.app.push_screen(ProfileScreen())
        elif go.way is Way.FLUX:  # a flux capture begun goes on with flux
            from workbench.tui.flux import FluxScreen
            self.wb.carrier = Carrier(st.item_id, profile_id=go.profile_id)
            self.app.push_screen(FluxScreen(st.item_id, go.profile_id, resume=True))
        elif go.way is Way.IMAGE:
            self.wb.carrier = Carrier(st.item_id, profile_id=go.profile_id)
            from workbench.tui.metadata import MetadataScreen  # describe it, then on (meta)
            self.app.push_screen(MetadataScreen(ProfileScreen))
        elif go.way is Way.REVIEW:  # imaged, not accepted: show it to accept or retry
            from workbench.tui.result import ResultScreen
            self.wb.carrier = Carrier(st.item_id, profile_id=go.profile_id)
            self.app.push_screen(ResultScreen(self.wb.station.result_of(st.item_id)))
        elif go.way is Way.INGEST:  # files, not a carrier: the ingest command goes on
            key, fields = next_step_for(self.wb.station, st)
            message.update(t(key, **fields))
        else:
            message.update(t("tui.item_state", item=st.item_id,
                             state=t(f"state.{st.state.value}"),
                             actions=", ".join(t(f"action.{a.value}")
                                               for a in st.next_actions) or "-"))


class ProfileScreen(StationScreen):
    """Which drive, and which profile (suggested from the drive's geometry). The drives
    are listed afresh on arrival and on `r`: a carrier loaded or changed since home was
    drawn shows here. Enter on the drive list goes on; Enter on the profile opens it."""

    BINDINGS = [Binding("escape", "app.pop_screen", t("tui.key_back")),
                Binding("enter", "next", t("tui.key_next")),
                Binding("r", "refresh", t("ui.key_refresh_drives"))]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(classes="form"):
            yield Static(t("tui.choose_drive"), classes="heading")
            yield DataTable(id="drive-list", cursor_type="row")
            yield Static(t("tui.choose_profile"), classes="heading")
            yield Select([], id="profile", prompt=t("tui.profile_prompt"))
            yield Static(id="profile-message")
        yield StationFooter()

    kept = ""  # the profile of a resume or a retry: kept whatever drive is highlighted

    def on_mount(self) -> None:
        app = self.wb
        self.kept = app.carrier.profile_id if app.carrier.profile_id in app.profiles else ""
        self.query_one("#drive-list", DataTable).add_columns(
            t("drives.path"), t("drives.model"), t("drives.profile"), t("station.col_state"))
        select = self.query_one("#profile", Select)
        select.set_options([(p.label(), p.id) for p in app.profiles.values()])
        self.action_refresh()
        self.query_one("#drive-list", DataTable).focus()

    def on_screen_resume(self) -> None:
        self.action_refresh()  # back from the checklist: the medium may have changed

    def action_refresh(self) -> None:
        """List the drives again, keep the highlighted one if it is still there, and
        suggest its profile (a resume or a retry keeps the profile it had)."""
        app = self.wb
        table = self.query_one("#drive-list", DataTable)
        was = self._drive_at(table.cursor_row) if table.row_count else None
        app.drives = devices.carrier_drives(app.profiles, training=app.settings.training)
        table.clear()
        # a drive imaging another carrier is said here, not first at the checklist
        busy = {v.drive: v.item_id for v in app.runner.drives() if v.busy}
        for d in self._drives():
            table.add_row(d.name, " ".join(x for x in (d.vendor, d.model) if x)[:40],
                          d.suggested_profile or "-",
                          t("tui.drive_busy", item=busy[d.path]) if d.path in busy else "",
                          key=d.path)
        paths = [d.path for d in self._drives()]
        row = paths.index(was.path) if was is not None and was.path in paths else 0
        if table.row_count:
            table.move_cursor(row=row)
        self._suggest(row)

    def _drives(self) -> list[Drive]:
        return [d for d in self.wb.drives if d.media_present]

    def _drive_at(self, row: int) -> Drive | None:
        drives = self._drives()
        return drives[row] if 0 <= row < len(drives) else None

    def _suggest(self, row: int) -> None:
        select = self.query_one("#profile", Select)
        if self.kept:  # a resume or a retry keeps its profile
            select.value = self.kept
            return
        drive = self._drive_at(row)
        if drive is not None and drive.suggested_profile in self.wb.profiles:
            select.value = drive.suggested_profile
        else:  # no suggestion for this drive: never keep the last drive's
            select.clear()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._suggest(event.cursor_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_next()

    def action_next(self) -> None:
        table = self.query_one("#drive-list", DataTable)
        profile = self.query_one("#profile", Select).value
        if table.row_count == 0 or not isinstance(profile, str):
            self.query_one("#profile-message", Static).update(t("tui.need_drive_profile"))
            return
        drive = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        carrier = self.wb.carrier
        carrier.drive, carrier.profile_id = str(drive), profile
        self.app.push_screen(ChecklistScreen())


class ChecklistScreen(StationScreen):
    """The profile's checklist, then load the carrier and check before reading. The
    first key acts: Space ticks the focused line and moves to the next; Enter says
    "all of it is done" (ticks every line) and starts; `i` starts once all are ticked."""

    BINDINGS = [Binding("escape", "app.pop_screen", t("tui.key_back")),
                Binding("enter", "ready", t("ui.key_ready"), priority=True),
                Binding("p", "preflight", t("tui.key_preflight")),
                Binding("i", "start", t("tui.key_start"))]

    def compose(self) -> ComposeResult:
        carrier = self.wb.carrier
        profile = self.wb.profiles[carrier.profile_id]
        yield Header()
        with VerticalScroll(classes="form"):
            yield Static(t("tui.checklist", item=carrier.item_id, profile=profile.label()),
                         classes="heading")
            for n, reminder in enumerate([*profile.reminders_for(), t("tui.check_automount"),
                                          t("tui.check_loaded", drive=carrier.drive)]):
                yield Checkbox(reminder, id=f"check-{n}")
            yield Static(id="preflight", markup=False)
        yield StationFooter()

    def on_mount(self) -> None:
        self.query_one(Checkbox).focus()  # the first Space ticks the first line

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.value:  # on to the next line not yet ticked
            for box in self.query(Checkbox):
                if not box.value:
                    box.focus()
                    break

    def action_ready(self) -> None:
        for box in self.query(Checkbox):
            box.value = True
        self.action_start()

    def action_preflight(self) -> bool:
        app = self.wb
        carrier = app.carrier
        checks = app.station.preflight(carrier.drive, app.profiles[carrier.profile_id],
                                       carrier.item_id)
        lines = [("• " if c.note else "✔ " if c.ok else "✘ ") + c.message() for c in checks]
        self.query_one("#preflight", Static).update("\n".join(lines))
        return all(c.ok for c in checks)

    def action_start(self) -> None:
        if not all(box.value for box in self.query(Checkbox)):
            self.query_one("#preflight", Static).update(t("tui.tick_all"))
            return
        if self.action_preflight():  # imaging starts on the board's runner
            self.wb.start_on_board(self.query_one("#preflight", Static))
