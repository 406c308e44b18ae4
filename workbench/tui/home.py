"""Home is the station board: every drive with its carrier, phase, progress, rate and
ETA; the background queue (accepting, bagging, on tape, waiting for review, failed); the
work list, the batch and today's counts. Several drives image at once (the app's
StationRunner); the technician starts the next carrier on a free drive and comes back
here, opens a drive (Enter) for its live sector map, or cancels one (c)."""

from __future__ import annotations

import gc
import time
from datetime import UTC, datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Header, Input, Static

from workbench.config import UNNAMED
from workbench.devices import carrier_drives
from workbench.errors import WorkbenchError
from workbench.i18n import t
from workbench.station import Filters, Station
from workbench.station.ledger_link import shared_ledger
from workbench.station.next_step import Way, continuation, next_step_for
from workbench.station.runner import DONE, FAILED, REVIEW, DriveView
from workbench.station.view import CarrierState
from workbench.tui.base import StationScreen
from workbench.tui.board import (
    DRIVE_COLUMNS,
    QUEUE_COLUMNS,
    QUEUE_SHOWN,
    WORK_SHOWN,
    board_columns,
    carrier_cells,
    drive_cells,
)
from workbench.tui.reads import BackgroundReads
from workbench.tui.rowlist import Column, Row, RowList
from workbench.tui.widgets import StationFooter

BOARD_SECONDS = 1.0  # how often the board reads the runner's snapshots
# a shared ledger: read again this often although no carrier here moved (the link going
# offline or back, with the journal sent; other stations' counts)
SHARED_READ_SECONDS = 15.0
WORK_LIMIT = 500  # work-list rows read to count those not shown
# today's counts, the work list, its length, what to say of the ledger's link (offline)
Records = tuple[list[Row], list[Row], int, str, bool]



def _next_words(station: Station, st: CarrierState) -> str:
    """What continues a carrier of the work list, in words (the station decides)."""
    key, fields = next_step_for(station, st)
    return t(key, **fields) if key else ""


class HomeScreen(StationScreen):
    DEFAULT_CSS = """
    HomeScreen #board-message { color: $warning; }
    """
    BINDINGS = [
        Binding("m", "migrate", t("tui.key_migrate")),
        Binding("c", "cancel_drive", t("board.key_cancel")),
        Binding("a", "auto_accept", t("board.key_auto_accept")),
        Binding("r", "refresh", t("tui.key_refresh"), show=False),
        Binding("b", "batch", t("tui.key_batch"), show=False),
        Binding("s", "stats", t("tui.key_stats")),
        Binding("l", "log", t("tui.key_log")),
        Binding("t", "tape", t("tui.key_tape")),
        Binding("w", "work", t("tui.key_work")),
        Binding("v", "queue", t("board.key_queue"), show=False),
        Binding("o", "app.open_setup", t("setup.key_setup"), show=False),  # set-up (meta)
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="home"):
            yield Static(id="station", markup=False)  # "[TRAINING]" is text
            link = Static(id="ledger-link", markup=False)  # a shared ledger gone offline
            link.display = False
            yield link
            # lists drawn line by line: a changed row redraws its own line, no layout
            yield RowList(board_columns(DRIVE_COLUMNS), zebra=True, id="drives")
            yield Static(id="board-message", markup=False)
            yield Static(t("board.queue"), classes="heading")
            yield RowList(board_columns(QUEUE_COLUMNS), cap=QUEUE_SHOWN, steady=True,
                          empty=t("board.queue_empty"), id="queue")
            yield Static(t("tui.work_list"), classes="heading")
            yield RowList((Column("item", t("station.col_item"), 16),
                           Column("state", t("station.col_state"), 16),
                           Column("next", t("station.col_next"), 0)),
                          cap=WORK_SHOWN, steady=True,
                          empty=t("board.work_empty"), id="pending")
            yield Static(id="work-message", markup=False)
            with Horizontal(id="batch-row"):
                yield Static(t("tui.batch"), classes="label")
                yield Input(id="batch", placeholder=t("tui.batch_hint"))
            yield Static(t("tui.today"), classes="heading", id="today-heading")
            yield RowList((Column("label", t("report.col_label"), 16),
                           Column("succeeded", t("report.col_succeeded"), 9, right=True),
                           Column("partial", t("report.col_partial"), 9, right=True),
                           Column("failed", t("report.col_failed"), 9, right=True)),
                          cursor=False, steady=True,
                          empty=t("board.today_empty"), id="today")
        yield StationFooter()

    def on_mount(self) -> None:
        self.query_one("#batch", Input).value = self.wb.batch
        self._seen: tuple[tuple[str, str], ...] = ()
        self._link_said, self._offline_said = "", False  # as composed: hidden, "Today"
        self._next_read = 0.0  # a shared ledger is read again now and then (its link)
        self._reads = BackgroundReads(lambda: self.wb.settings, self._read_records,
                                      self._show_records, self._records_failed)
        self.action_refresh()
        self.query_one("#drives", RowList).focus()  # letters are keys; b edits the batch
        # the runner's snapshots once a second: no database read unless a carrier moved
        self.set_interval(BOARD_SECONDS, self.tick)
        # what the app loaded to get here (modules, profiles, screens) lives as long as
        # the app: kept out of the collector, whose full pass over it took 50-140 ms of
        # the UI thread (a key press waited for it) while drives imaged. (No collection
        # first: it costs as much again; startup's little garbage waits for unmount.)
        gc.freeze()

    def on_unmount(self) -> None:
        self._reads.close()
        gc.unfreeze()  # the app ends (or a test's app): its objects can go

    def on_screen_resume(self) -> None:
        # the drives are listed again on r (opening every drive on each return is slow)
        self._station_line()
        self.tick()
        self._refresh_records()
        self.query_one("#drives", RowList).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#drives", RowList).focus()

    # -- the board -------------------------------------------------------------------

    def _station_line(self) -> None:
        app, s = self.wb, self.wb.settings
        mode = f"  [{t('tui.training')}]" if s.training else ""
        auto = t("board.auto_on") if app.runner.auto_accept else t("board.auto_off")
        self.query_one("#station", Static).update(
            t("tui.station", station=s.station_id, operator=s.operator or "-",
              organisation=t("tui.org_unset") if s.organisation.strip() in ("", UNNAMED)
              else s.organisation) + mode + "  " + auto
            + ("\n" + t("setup.tui_unnamed", name=s.organisation) if s.organisation_unset
               else ""))

    def tick(self) -> None:
        """The drives and the background queue from the runner's snapshots."""
        runner = self.wb.runner
        known = {d.path: d for d in self.wb.drives}
        views = {v.drive: v for v in runner.drives()}
        rows = [(path, drive_cells(v, None, known)) for path, v in views.items()
                if path not in known]
        rows += [(d.path, drive_cells(views.get(d.path, DriveView(d.path)), d, known))
                 for d in self.wb.drives]
        # the drives at work first: a station lists many drives, a few of them busy
        used = {path for path, v in views.items() if v.job is not None}
        rows.sort(key=lambda row: row[0] not in used)
        self.query_one("#drives", RowList).set_rows(rows)
        carriers = list(reversed(runner.carriers()))  # the latest first
        self.query_one("#queue", RowList).set_rows(
            [(c.item_id, carrier_cells(c, known)) for c in carriers[:QUEUE_SHOWN]],
            total=len(carriers))
        seen = tuple((c.item_id, c.status) for c in carriers)
        shared = shared_ledger(self.wb.settings)  # other stations' work, the link's state
        if seen != self._seen or (shared and time.monotonic() > self._next_read):
            self._seen = seen  # a carrier moved, or a while passed on a shared ledger
            self._next_read = time.monotonic() + SHARED_READ_SECONDS
            self._reads.request()  # off the UI thread: a key press never waits for it

    def action_refresh(self) -> None:
        app = self.wb
        app.drives = carrier_drives(app.profiles, training=app.settings.training)
        self._station_line()
        self.tick()
        self._refresh_records()

    def _refresh_records(self) -> None:
        """Today's counts and the work list, read now (on the technician's request)."""
        self._show_records(self._read_records(self.wb.station))

    @staticmethod
    def _read_records(station: Station) -> Records:
        day = datetime.now(UTC).date().isoformat()
        today: list[Row] = [(row.label, (row.label, str(row.succeeded), str(row.partial),
                                         str(row.failed)))
                 for row in station.records.statistics(
                     "media", Filters(date_from=day, date_to=day))]
        work = station.pending(limit=WORK_LIMIT)
        offline = station.records.link_status().state.value == "offline"  # Today: journal
        return today, [(st.item_id, (st.item_id, t(f"state.{st.state.value}"),
                                     _next_words(station, st)))
                       for st in work[:WORK_SHOWN]], len(work), \
            station.records.link_offline(), offline  # the station layer's words, as `s`

    def _show_records(self, records: Records) -> None:
        # in place: only what changed is drawn again, the screen keeps its layout
        # unless the number of lines shown changed
        if not self.is_attached:  # read after the app ended
            return
        today, work, total, link, offline = records
        # only a change is drawn: an update lays the screen out again (key presses wait)
        if link != self._link_said:
            self._link_said = link
            said = self.query_one("#ledger-link", Static)
            said.display = bool(link)
            said.update(Text(link, style="bold red"))
        if offline != self._offline_said:
            self._offline_said = offline
            self.query_one("#today-heading", Static).update(
                t("crossfix.today_journal") if offline else t("tui.today"))
        self.query_one("#today", RowList).set_rows(today)
        self.query_one("#pending", RowList).set_rows(work, total=total)

    def _records_failed(self, message: str) -> None:
        if self.is_attached:
            self.query_one("#work-message", Static).update(message)

    def action_cancel_drive(self) -> None:
        drive = self.query_one("#drives", RowList).cursor_key
        message = self.query_one("#board-message", Static)
        if drive is None or not self.wb.runner.drive(drive).busy:
            message.update(t("board.nothing_to_cancel"))
            return
        self.wb.runner.cancel(drive)
        message.update(t("board.cancelling", item=self.wb.runner.drive(drive).item_id))
        self.tick()

    def action_auto_accept(self) -> None:
        runner = self.wb.runner
        runner.auto_accept = not runner.auto_accept
        self._station_line()

    def action_queue(self) -> None:
        self.query_one("#queue", RowList).focus()

    # -- keys kept from the home screen ------------------------------------------------

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
        self.query_one("#pending", RowList).focus()

    def on_row_list_selected(self, event: RowList.Selected) -> None:
        if event.row_list.id == "drives":
            from workbench.tui.drive import DriveScreen
            self.app.push_screen(DriveScreen(event.key))
        elif event.row_list.id == "queue":
            self._open_carrier(event.key)
        elif event.row_list.id == "pending":
            self._continue(event.key)

    def _open_carrier(self, item_id: str) -> None:
        """A carrier of the background queue: its result, to decide (review), to see
        why it failed, or to see it done."""
        from workbench.tui.flow import Carrier
        from workbench.tui.result import ResultScreen
        app = self.wb
        view = app.runner.carrier(item_id)
        message = self.query_one("#board-message", Static)
        try:
            result = view.result if view is not None and view.result is not None and \
                view.status in (REVIEW, DONE) else app.station.result_of(item_id)
        except WorkbenchError as exc:
            message.update(view.error if view is not None and view.error else exc.message())
            return
        if view is not None and view.status == FAILED:
            message.update(t("board.failed_detail", item=item_id, message=view.error))
        app.carrier = Carrier(item_id, profile_id=result.record.profile_id,
                              drive=view.drive if view is not None else "")
        app.push_screen(ResultScreen(result))

    def _continue(self, item_id: str) -> None:
        """Enter on a work-list row continues that carrier where it stopped: the station
        says which way (continuation), this screen only opens the screen for it."""
        from workbench.tui.flow import Carrier, ProfileScreen
        app, message = self.wb, self.query_one("#work-message", Static)
        try:
            go = continuation(app.station, item_id)
            carrier = Carrier(go.item_id, retry=go.way is Way.IMAGE_AGAIN,
                              profile_id=go.profile_id)
            if go.way is Way.FLUX:
                from workbench.tui.flux import FluxScreen  # a capture begun goes on
                app.carrier = carrier
                app.push_screen(FluxScreen(go.item_id, go.profile_id, resume=True))
            elif go.way in (Way.IMAGE, Way.IMAGE_AGAIN):  # resume / image again
                app.carrier = carrier
                app.push_screen(ProfileScreen())
            elif go.way is Way.REVIEW:
                from workbench.tui.result import ResultScreen
                app.carrier = carrier
                app.push_screen(ResultScreen(app.station.result_of(go.item_id)))
            elif go.way is Way.STAGE:
                self.action_tape()
            elif go.way is Way.RELEASE:
                removed = app.station.release(go.item_id)
                message.update("\n".join(t("tape.released", path=str(p)) for p in removed))
                self.action_refresh()
            else:  # an ingest (its command goes on with it) or nothing left: in words
                message.update(_next_words(app.station, go.state))
        except WorkbenchError as exc:
            message.update(exc.message())
