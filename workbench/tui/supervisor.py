"""Supervisor screens: statistics (the numbers of `workbench report`) with a bar chart
and filters, the attempt log (paged from the ledger, never loaded whole), a carrier's
history, and the export dialog (every format of `workbench report`)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Header, Input, Select, Static

from workbench.console import fit, local_time, pad, reason_words
from workbench.console import width as cells
from workbench.errors import WorkbenchError
from workbench.i18n import language, t
from workbench.station import (
    FORMATS,
    SLICES,
    Action,
    Filters,
    NotAllowed,
    SliceRow,
    make_filters,
)
from workbench.tui.base import StationModal, StationScreen
from workbench.tui.widgets import StationFooter

FILTERS = ("date_from", "date_to", "batch", "station", "operator", "drive", "outcome")


def rate_bars(rows: list[SliceRow], width: int = 30) -> Text:
    """A bar chart of success rates, one line per slice; labels padded by display width
    (a Japanese character takes two columns) so the bars start in one column."""
    text = Text()
    label_width = max((cells(r.label) for r in rows), default=0)
    for row in rows:
        filled = round(row.rate * width) if row.judged else 0
        text.append(pad(row.label, label_width) + " ")
        text.append("█" * filled, style="green")
        text.append("░" * (width - filled), style="grey35")
        text.append(f" {row.rate * 100:5.1f}% " if row.judged else "   -   ")
        text.append(f"({row.succeeded}/{row.judged})\n")
    return text


class StatsScreen(StationScreen):
    BINDINGS = [Binding("escape", "app.pop_screen", t("tui.key_back")),
                Binding("ctrl+f", "apply", t("tui.key_apply")),
                Binding("ctrl+e", "export", t("tui.key_export")),
                Binding("ctrl+l", "log", t("tui.key_log"))]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(classes="form"):
            yield Static(id="ledger-link", markup=False)  # a shared ledger gone offline
            with Horizontal(classes="filters"):
                yield Select([(t(f"report.by_{b}"), b) for b in SLICES], value="media",
                             allow_blank=False, id="by")
                for name in FILTERS:
                    yield Input(placeholder=t(f"tui.filter_{name}"), id=name)
            yield Static(id="filter-message")
            yield DataTable(id="stats", cursor_type="row", zebra_stripes=True)
            yield Static(t("report.chart_title"), classes="heading")
            yield Static(id="chart")
        yield StationFooter()

    def on_mount(self) -> None:
        table = self.query_one("#stats", DataTable)
        table.add_columns(*[t(f"report.col_{c}") for c in (
            "label", "carriers", "succeeded", "partial", "failed", "needs_flux",
            "audio_disc", "success_rate", "ci95_low", "ci95_high", "attempts")])
        self.action_apply()
        table.focus()

    def filters(self) -> Filters:
        """The typed filters, checked as the CLI checks them (BadInput names the forms)."""
        return make_filters(**{name: self.query_one(f"#{name}", Input).value
                               for name in FILTERS})

    def checked_filters(self) -> Filters | None:
        """The filters, or None with the reason shown under them."""
        message = self.query_one("#filter-message", Static)
        try:
            filters = self.filters()
        except WorkbenchError as exc:
            message.update(Text(exc.message(), style="bold red"))
            return None
        message.update("")
        return filters

    def slice_by(self) -> str:
        value = self.query_one("#by", Select).value
        return value if isinstance(value, str) else "media"

    def rows(self, filters: Filters | None = None) -> list[SliceRow]:
        app = self.wb
        return app.station.records.report([self.slice_by()], filters or self.filters(),
                                           language())[self.slice_by()]

    def action_apply(self) -> None:
        filters = self.checked_filters()
        if filters is None:  # the table keeps the last valid figures
            return
        rows = self.rows(filters)
        link = self.query_one("#ledger-link", Static)
        said = self.wb.station.records.link_offline()  # figures of the journal alone
        link.display = bool(said)
        link.update(Text(said, style="bold red"))
        table = self.query_one("#stats", DataTable)
        table.clear()
        for r in rows:
            low, high = r.interval
            # a slice with nothing judged has no rate: "-", never 0%
            rates = [f"{v * 100:.1f}%" if r.judged else "-" for v in (r.rate, low, high)]
            table.add_row(r.label, r.carriers, r.succeeded, r.partial, r.failed,
                          r.needs_flux, r.audio_disc, *rates, r.attempts)
        self.query_one("#chart", Static).update(rate_bars(rows))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_apply()

    def on_select_changed(self, event: Select.Changed) -> None:
        self.action_apply()

    def action_export(self) -> None:
        filters = self.checked_filters()
        if filters is not None:
            self.app.push_screen(ExportDialog(self.slice_by(), filters), self._exported)

    def _exported(self, said: str | None) -> None:
        if said:  # what was written where: the dialog is gone, the words stay
            self.query_one("#filter-message", Static).update(said)

    def action_log(self) -> None:
        filters = self.checked_filters()
        if filters is not None:
            self.app.push_screen(LogScreen(filters))


class LogScreen(StationScreen):
    """Attempts, newest first, a page at a time (keyset paging on the start time)."""

    PAGE = 50
    BINDINGS = [Binding("escape", "app.pop_screen", t("tui.key_back")),
                Binding("n", "next_page", t("tui.key_next_page")),
                Binding("p", "previous_page", t("tui.key_previous_page")),
                Binding("enter", "detail", t("tui.key_detail"), priority=True)]

    def __init__(self, filters: Filters | None = None) -> None:
        super().__init__()
        self.filters = filters or Filters()
        self.cursors: list[str] = [""]  # the "before" of every page shown so far

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="log", cursor_type="row", zebra_stripes=True)
        yield Static(id="page")
        yield StationFooter()

    def on_mount(self) -> None:
        self.query_one("#log", DataTable).add_columns(
            t("log.started"), t("log.item"), t("log.media"), t("log.outcome"), t("log.bad"),
            t("log.station"), t("log.operator"), t("log.drive"), t("log.reason"))
        self.show_page()
        self.query_one("#log", DataTable).focus()

    def show_page(self) -> None:
        rows = self.wb.station.records.log_page(self.filters, self.PAGE, self.cursors[-1])
        table = self.query_one("#log", DataTable)
        table.clear()
        for r in rows:
            table.add_row(local_time(r["started"]), r["item_id"], r["profile_id"],
                          t(f"outcome.{r['outcome']}"), r["bad_sectors"], r["station_id"],
                          r["operator"], fit(r["drive"], 30), reason_words(r, 40),
                          key=f"{r['item_id']}|{r['id']}")
        self.last = self.wb.station.records.page_cursor(rows[-1]) \
            if len(rows) == self.PAGE else ""
        self.query_one("#page", Static).update(t("tui.page", page=len(self.cursors),
                                                 rows=len(rows)))

    def action_next_page(self) -> None:
        if self.last:
            self.cursors.append(self.last)
            self.show_page()

    def action_previous_page(self) -> None:
        if len(self.cursors) > 1:
            self.cursors.pop()
            self.show_page()

    def action_detail(self) -> None:
        table = self.query_one("#log", DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            self.app.push_screen(CarrierScreen(str(key).split("|")[0]))


class CarrierScreen(StationScreen):
    """A carrier's state, its whole history, and (for a supervisor) withdrawing its bag."""

    BINDINGS = [Binding("escape", "app.pop_screen", t("tui.key_back")),
                Binding("w", "withdraw", t("tui.key_withdraw"))]

    def __init__(self, item_id: str) -> None:
        super().__init__()
        self.item_id = item_id

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(classes="form"):
            yield Static(id="state", markup=False)
            yield Static(id="history", markup=False)
        yield StationFooter()

    def on_mount(self) -> None:
        self.show()

    def show(self, message: str = "") -> None:
        from workbench.station.ledger_link import next_line
        from workbench.station.metadata import shown
        history = self.wb.station.records.history_lines(self.item_id)
        history += shown(self.wb.station, self.item_id)  # as `workbench show` lists it
        if not history:
            from workbench.station.offline_guard import not_known  # offline: not a typo
            self.query_one("#history", Static).update(not_known(
                self.wb.station.con, self.wb.settings, self.item_id).message())
            return
        st = self.wb.station.state(self.item_id)
        lines = [t("station.state_line", state=t(f"state.{st.state.value}")),
                 next_line(self.wb.station, st, [t(f"action.{a.value}")
                                                 for a in st.next_actions])]
        self.query_one("#state", Static).update("\n".join([*lines, message]).strip())
        self.query_one("#history", Static).update("\n".join(history))

    def action_withdraw(self) -> None:
        st = self.wb.station.state(self.item_id)
        if Action.WITHDRAW not in st.next_actions:
            self.show(NotAllowed(st.item_id, st.state, Action.WITHDRAW).message())
            return
        from workbench.tui.result import TextPrompt
        self.app.push_screen(TextPrompt(t("tui.withdraw_prompt"), "reason"), self._withdraw)

    def _withdraw(self, reason: str | None) -> None:
        if not reason:
            return
        try:
            after = self.wb.station.withdraw(self.item_id, reason)
        except WorkbenchError as exc:
            self.show(exc.message())
            return
        from workbench.station.withdrawal import withdrawn_words
        self.show(withdrawn_words(after, self.wb.settings.station_id, reason))


class ExportDialog(StationModal[str | None]):
    """Write the statistics in any format of `workbench report`."""

    BINDINGS = [Binding("escape", "dismiss(None)", t("tui.key_back"))]

    def __init__(self, by: str, filters: Filters) -> None:
        super().__init__()
        self.by, self.filters = by, filters

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(t("tui.export_title"), classes="heading")
            yield Select([(f, f) for f in FORMATS], value="xlsx", allow_blank=False,
                         id="format")
            yield Input(value=str(Path.cwd() / "report.xlsx"), id="path")
            yield Static(id="export-message")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()  # Enter writes; shift+tab reaches the format

    def on_select_changed(self, event: Select.Changed) -> None:
        path = self.query_one("#path", Input)
        path.value = str(Path(path.value).with_suffix(f".{event.value}"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        fmt = self.query_one("#format", Select).value
        app = self.wb
        try:
            records = app.station.records
            slices = records.report([self.by], self.filters, language())
            records.write(slices, str(fmt), language(), Path(event.value))
        except WorkbenchError as exc:
            self.query_one("#export-message", Static).update(exc.message())
            return
        except OSError as exc:
            self.query_one("#export-message", Static).update(str(exc))
            return
        self.dismiss(t("ui.export_written", file=event.value,
                       rows=sum(len(rows) for rows in slices.values())))
