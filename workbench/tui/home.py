"""Home: who and where, the drives, today's counts per media type, the batch."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Input, Static

from workbench.devices import list_drives
from workbench.errors import WorkbenchError
from workbench.i18n import human_bytes, t
from workbench.station import PENDING_STATES, Filters, State
from workbench.tui.base import StationScreen


class HomeScreen(StationScreen):
    BINDINGS = [
        Binding("m", "migrate", t("tui.key_migrate")),
        Binding("r", "refresh", t("tui.key_refresh")),
        Binding("b", "batch", t("tui.key_batch")),
        Binding("s", "stats", t("tui.key_stats")),
        Binding("l", "log", t("tui.key_log")),
        Binding("t", "tape", t("tui.key_tape")),
        Binding("w", "work", t("tui.key_work")),
        Binding("o", "app.open_setup", t("setup.key_setup"), show=False),  # set-up (meta)
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="home"):
            yield Static(id="station")
            with Horizontal(id="batch-row"):
                yield Static(t("tui.batch"), classes="label")
                yield Input(id="batch", placeholder=t("tui.batch_hint"))
            yield Static(t("tui.drives"), classes="heading")
            yield DataTable(id="drives", cursor_type="row", zebra_stripes=True)
            yield Static(t("tui.work_list"), classes="heading")
            yield DataTable(id="pending", cursor_type="row")
            yield Static(id="work-message", markup=False)
            yield Static(t("tui.today"), classes="heading")
            yield DataTable(id="today", cursor_type="none")
        yield Footer()

    def on_mount(self) -> None:
        drives = self.query_one("#drives", DataTable)
        drives.add_columns(t("drives.path"), t("drives.model"), t("drives.media"),
                           t("drives.size"), t("drives.profile"))
        today = self.query_one("#today", DataTable)
        today.add_columns(t("report.col_label"), t("report.col_succeeded"),
                          t("report.col_partial"), t("report.col_failed"))
        self.query_one("#pending", DataTable).add_columns(
            t("station.col_item"), t("station.col_state"), t("station.col_next"))
        self.query_one("#batch", Input).value = self.wb.batch
        self.action_refresh()
        drives.focus()  # letters are keys here; b edits the batch

    def on_screen_resume(self) -> None:
        self.action_refresh()
        self.query_one("#drives", DataTable).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#drives", DataTable).focus()

    def action_refresh(self) -> None:
        app = self.wb
        s = app.settings
        mode = t("tui.training") if s.training else ""
        self.query_one("#station", Static).update(
            t("tui.station", station=s.station_id, operator=s.operator or "-",
              organisation=s.organisation) + (f"  [{mode}]" if mode else "")
            + ("\n" + t("setup.tui_unnamed", name=s.organisation) if s.organisation_unset
               else ""))
        drives = self.query_one("#drives", DataTable)
        drives.clear()
        app.drives = list_drives(app.profiles, training=s.training)
        yes, no = t("word.yes"), t("word.no")
        for d in app.drives:
            drives.add_row(d.name, " ".join(x for x in (d.vendor, d.model) if x)[:22],
                           yes if d.media_present else no,
                           human_bytes(d.size) if d.media_present else "-",
                           d.suggested_profile or "-", key=d.path)
        today = self.query_one("#today", DataTable)
        today.clear()
        day = datetime.now(UTC).date().isoformat()
        for row in app.station.records.statistics("media", Filters(date_from=day,
                                                                    date_to=day)):
            today.add_row(row.label, row.succeeded, row.partial, row.failed)
        work = self.query_one("#pending", DataTable)
        work.clear()
        for st in app.station.pending(limit=50):
            work.add_row(st.item_id, t(f"state.{st.state.value}"),
                         t(f"action.{PENDING_STATES[st.state].value}"), key=st.item_id)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "batch":
            self.wb.batch = event.value.strip()

    def action_batch(self) -> None:
        self.query_one("#batch", Input).focus()

    def action_stats(self) -> None:
        from workbench.tui.supervisor import StatsScreen
        self.app.push_screen(StatsScreen())

    def action_tape(self) -> None:
        from workbench.tui.tape import TapeScreen
        self.app.push_screen(TapeScreen())

    def action_log(self) -> None:
        from workbench.tui.supervisor import LogScreen
        self.app.push_screen(LogScreen())

    def action_migrate(self) -> None:
        from workbench.tui.flow import ItemScreen
        self.app.push_screen(ItemScreen())

    def action_work(self) -> None:
        self.query_one("#pending", DataTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a work-list row continues that carrier where it stopped."""
        if event.data_table.id != "pending" or event.row_key.value is None:
            return
        from workbench.tui.flow import Carrier, ProfileScreen
        app, message = self.wb, self.query_one("#work-message", Static)
        try:
            st = app.station.state(event.row_key.value)
            profile = str(st.attempt["profile_id"]) if st.attempt else ""
            if st.state in (State.INTERRUPTED, State.WITHDRAWN):  # resume / image again
                app.carrier = Carrier(st.item_id, retry=st.state is State.WITHDRAWN,
                                      profile_id=profile)
                app.push_screen(ProfileScreen())
            elif st.state is State.IMAGED:
                from workbench.tui.result import ResultScreen
                app.carrier = Carrier(st.item_id, profile_id=profile)
                app.push_screen(ResultScreen(app.station.result_of(st.item_id)))
            elif st.state is State.BAGGED:
                self.action_tape()
            elif st.state is State.ON_TAPE:
                removed = app.station.release(st.item_id)
                message.update("\n".join(t("tape.released", path=str(p)) for p in removed))
                self.action_refresh()
        except WorkbenchError as exc:
            message.update(exc.message())
