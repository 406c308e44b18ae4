"""Tape: pools, tapes and how full they are, bags waiting, write and verify progress;
where an item's copies are (type its ID, Enter), getting its bag back (g) and the
re-verification of copies due by the station's schedule (d)."""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Header, Input, ProgressBar, Static

from workbench.errors import WorkbenchError
from workbench.i18n import human_bytes, t, translate
from workbench.station import Station, TapeProgress
from workbench.station.tape_view import TapeView, due_line, read_view, retrieve_folder
from workbench.tui.base import StationScreen
from workbench.tui.reads import BackgroundReads
from workbench.tui.widgets import StationFooter

# the CLI's refusals of a retrieval name its --to option: the screen names its field
UI_WORDS = {"lto.retrieve_exists": "labelfix.tui_retrieve_exists",
            "tapefix.retrieve_own_folder": "labelfix.tui_retrieve_own_folder",
            "tapefix.retrieve_no_room": "labelfix.tui_retrieve_no_room"}


def plural_due(count: int, days: int) -> str:
    return t("labelfix.tui_due_one" if count == 1 else "lto.tui_due", count=count,
             days=days)


class TapeProgressMessage(Message):
    def __init__(self, progress: TapeProgress) -> None:
        super().__init__()
        self.progress = progress


class TapeDone(Message):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines


class TapeScreen(StationScreen):
    BINDINGS = [Binding("escape", "app.pop_screen", t("tui.key_back")),
                Binding("w", "write", t("tui.key_tape_write")),
                Binding("v", "verify", t("tui.key_tape_verify")),
                Binding("r", "refresh", t("tui.key_refresh")),
                Binding("g", "retrieve", t("lto.tui_key_retrieve")),
                Binding("d", "verify_due", t("lto.tui_key_due"))]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(classes="form"):
            yield Static(t("tui.tapes"), classes="heading")
            yield DataTable(id="tapes", cursor_type="row")
            yield Static(id="tape-bad", markup=False)
            yield Static(t("tui.waiting"), classes="heading")
            yield DataTable(id="waiting", cursor_type="none")
            yield Static(t("lto.tui_where"), classes="heading")
            yield Input(id="tape-item", placeholder=t("lto.tui_item"))
            yield Static(id="tape-where", markup=False)
            yield Static(t("labelfix.tui_to"), classes="heading")
            yield Input(id="tape-to", value=str(retrieve_folder(self.wb.settings)))
            yield Static(id="tape-due", markup=False)
            yield ProgressBar(id="tape-bar", total=100, show_eta=False)
            yield Static(id="tape-status", markup=False)
        yield StationFooter()

    def on_mount(self) -> None:
        self.query_one("#tapes", DataTable).add_columns(
            t("tape.barcode"), t("tape.pool"), t("tape.generation"), t("tape.used"),
            t("tape.room"), t("tui.fill"))
        self.query_one("#waiting", DataTable).add_columns(
            t("tape.bag"), t("tape.size"), t("tape.pool"), t("tui.planned_tape"))
        self.busy = False
        # what the tapes hold is read off the UI thread (on LTFS a stat per file was a
        # walk of the whole tape): a key press never waits for it
        self._reads: BackgroundReads[TapeView] = BackgroundReads(
            lambda: self.wb.settings, read_view, self._show, self._read_failed)
        self.action_refresh()
        self.query_one("#tapes", DataTable).focus()

    def on_unmount(self) -> None:
        self._reads.close()

    def action_refresh(self) -> None:
        self._reads.request()

    def _read_failed(self, message: str) -> None:
        self.query_one("#tape-bad", Static).update(t("tui.error", message=message))

    def _show(self, view: TapeView) -> None:
        self.view = view  # tests
        tapes = self.query_one("#tapes", DataTable)
        tapes.clear()
        for tp in view.tapes:
            fill = tp.used / tp.capacity if tp.capacity else 0
            bar = "█" * round(min(fill, 1) * 20) + "░" * (20 - round(min(fill, 1) * 20))
            tapes.add_row(tp.barcode, tp.pool, tp.generation, human_bytes(tp.used),
                          human_bytes(tp.room),
                          f"{bar} {fill * 100:4.1f}%" + (f" {t('tui.full')}" if tp.full else ""))
        self.query_one("#tape-bad", Static).update("\n".join(view.unreadable))
        days = self.wb.settings.tape_verify_days
        due = [plural_due(view.due, days)] if view.due else []
        self.query_one("#tape-due", Static).update(
            "\n".join(due + [due_line(d) for d in view.elsewhere]))
        waiting = self.query_one("#waiting", DataTable)
        waiting.clear()
        for a in view.assignments:
            waiting.add_row(a.bag.name, human_bytes(a.size), a.pool, a.barcode)
        for u in view.unplaced:
            waiting.add_row(u.bag.name, human_bytes(u.size), u.pool,
                            t(f"tui.unplaced_{u.reason}"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        from workbench.station.retrieve import Retrieval, where_lines
        if event.input.id == "tape-to":
            self.action_retrieve()
            return
        item = event.value.strip()
        if not item:
            return
        try:
            lines = where_lines(Retrieval(self.wb.station).where(item))
        except WorkbenchError as exc:
            lines = [t("tui.error", message=exc.message())]
        self.query_one("#tape-where", Static).update("\n".join(lines))
        self.query_one("#tapes", DataTable).focus()

    def action_retrieve(self) -> None:
        item = self.query_one("#tape-item", Input).value.strip()
        if not item:
            self.query_one("#tape-item", Input).focus()
            return
        typed = self.query_one("#tape-to", Input).value.strip()
        folder = Path(typed).expanduser() if typed else retrieve_folder(self.wb.settings)
        if not self.busy:
            self.busy = True
            self.query_one("#tape-status", Static).update(
                t("lto.tui_retrieving", item=item, folder=str(folder)))
            self.run_retrieve(item, folder)

    def action_verify_due(self) -> None:
        if not self.busy:
            self.busy = True
            self.run_tape(verify_only=True, due=True)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_retrieve(self, item: str, folder: Path) -> None:
        from workbench.station.retrieve import Retrieval
        lines: list[str] = []

        def progress(p: TapeProgress) -> None:
            self.post_message(TapeProgressMessage(p))

        try:
            with Station(self.wb.settings) as station:
                done = Retrieval(station).retrieve(item, folder, None, progress=progress)
            lines += [t("lto.retrieve_copy_failed", barcode=e.barcode, pool=e.pool,
                        detail=e.detail) for e in done.failed]
            if done.source is not None:
                lines.append(t("lto.retrieved", bag=done.bag, path=str(done.path),
                               barcode=done.source.barcode, pool=done.source.pool))
        except WorkbenchError as exc:  # no cartridge mounted: it names the ones to mount
            ui = UI_WORDS.get(exc.key)  # the CLI's words name --to: the screen's field
            lines.append(t("tui.error", message=translate(ui, exc.params) if ui else exc.message()))
        except Exception as exc:  # never leave the screen frozen
            lines.append(t("tui.error", message=f"{type(exc).__name__}: {exc}"))
        self.post_message(TapeDone(lines))

    def action_write(self) -> None:
        if not self.busy:
            self.busy = True
            self.run_tape(verify_only=False)

    def action_verify(self) -> None:
        if not self.busy:
            self.busy = True
            self.run_tape(verify_only=True)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_tape(self, verify_only: bool, due: bool = False) -> None:
        from workbench.station.book import item_of
        from workbench.station.reverify import due_elsewhere, schedule
        lines: list[str] = []

        def progress(p: TapeProgress) -> None:
            self.post_message(TapeProgressMessage(p))

        try:
            with Station(self.wb.settings) as station:
                if verify_only:
                    age = schedule(self.wb.settings.tape_verify_days) if due else None
                    checked = station.tapes.verify(progress=progress, older_than=age)
                    for e in checked:
                        lines.append(t(f"tape.checked_{e.result}", bag=e.bag,
                                       barcode=e.barcode, pool=e.pool, detail=e.detail))
                        if e.result != "verified":
                            lines.append(t("lto.make_new_copy", item=item_of(e.bag),
                                           bag=e.bag, pool=e.pool))
                    if due:  # the cartridges to fetch, as the CLI names them
                        mounted = {tp.barcode for tp in station.tapes.mounted()}
                        lines += [due_line(d) for d in due_elsewhere(
                            list(station.tapes.book.current().values()), mounted,
                            age if age is not None else 0.0, tuple(checked))] \
                            if age is not None else []
                        if not lines:
                            lines.append(t("lto.nothing_due" if age is not None
                                           else "lto.no_schedule"))
                else:
                    copies, unplaced = station.tapes.write(progress=progress)
                    lines += [t(f"tape.result_{e.result}", bag=e.bag, barcode=e.barcode,
                                pool=e.pool, detail=e.detail) for e in copies]
                    lines += [t(f"tape.unplaced_{u.reason}", bag=u.bag.name,
                                size=human_bytes(u.size), pool=u.pool) for u in unplaced]
        except WorkbenchError as exc:
            lines.append(t("tui.error", message=exc.message()))
        except Exception as exc:  # never leave the screen frozen
            lines.append(t("tui.error", message=f"{type(exc).__name__}: {exc}"))
        self.post_message(TapeDone(lines or [t("tui.tape_nothing")]))

    def on_tape_progress_message(self, message: TapeProgressMessage) -> None:
        p = message.progress
        self.query_one("#tape-bar", ProgressBar).update(
            progress=100 * p.done / p.total if p.total else 0)
        self.query_one("#tape-status", Static).update(
            t("tui.tape_progress", phase=t(f"tui.tape_{p.phase}"), bag=p.bag, barcode=p.barcode))

    def on_tape_done(self, message: TapeDone) -> None:
        self.busy = False
        self.query_one("#tape-bar", ProgressBar).update(progress=100)
        self.query_one("#tape-status", Static).update("\n".join(message.lines))
        self.action_refresh()
