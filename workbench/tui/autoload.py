"""An unattended disc batch from the UI: the same station calls as `workbench autoload`
(the batch runs in a thread worker; its news and the imaging progress are shown; Esc
stops it after the disc in hand is safe: the next start resumes it)."""

from __future__ import annotations

import shlex
import threading
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Log, ProgressBar, Select, Static

from workbench.errors import WorkbenchError
from workbench.i18n import t
from workbench.station import Cancelled, ImagingProgress, Station
from workbench.station.autoload import (
    ACCEPT,
    KINDS,
    AutoloadBatch,
    BatchOptions,
    BatchSummary,
    autoloader_for,
)
from workbench.station.autoload.words import news
from workbench.tui.base import StationScreen
from workbench.tui.widgets import StationFooter, TitleBar


class BatchNews(Message):
    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class BatchProgress(Message):
    def __init__(self, fraction: float) -> None:
        super().__init__()
        self.fraction = fraction


class BatchEnded(Message):
    def __init__(self, summary: BatchSummary | None, error: str = "") -> None:
        super().__init__()
        self.summary, self.error = summary, error


class AutoloadScreen(StationScreen):
    BINDINGS = [Binding("escape", "stop_or_back", t("autoload.tui.key_stop_or_back")),
                Binding("ctrl+s", "start", t("autoload.tui.key_start"))]

    def __init__(self, drive: str = "", stack: Path | None = None) -> None:
        super().__init__()
        self.drive, self.stack = drive, stack
        self.cancel = threading.Event()
        self.running = False

    def compose(self) -> ComposeResult:
        training = self.wb.settings.training
        yield TitleBar()
        with VerticalScroll(classes="form"):
            yield Static(t("autoload.tui.title"), classes="heading")
            with Horizontal(classes="filters"):
                yield Select([(k, k) for k in KINDS], value="sim" if training else "configured",
                             allow_blank=False, id="kind")
                yield Input(self.drive, placeholder=t("autoload.tui.drive"), id="drive")
                yield Select([(t(f"autoload.tui.accept_{a}"), a) for a in ACCEPT],
                             value="partial", allow_blank=False, id="accept")
            with Horizontal(classes="filters"):
                yield Input(self.wb.batch, placeholder=t("autoload.tui.batch"), id="batch")
                yield Input("CD-", placeholder=t("autoload.tui.prefix"), id="prefix")
                yield Input("1", placeholder=t("autoload.tui.start"), id="start",
                            type="integer")
                yield Button(t("autoload.tui.start_button"), id="start-batch",
                             variant="primary")
            yield Static(id="message")
            yield ProgressBar(id="bar", total=100, show_eta=False)
            yield Log(id="news", max_lines=2000)
        yield StationFooter()

    def value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def on_input_submitted(self) -> None:
        self.action_start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start-batch":
            self.action_start()

    def action_start(self) -> None:
        if self.running:
            return
        batch = self.value("batch")
        if not batch:
            self.query_one("#message", Static).update(t("autoload.tui.needs_batch"))
            return
        self.cancel.clear()
        self.running = True
        self.query_one("#message", Static).update(t("autoload.tui.running", batch=batch))
        kind = str(self.query_one("#kind", Select).value)
        accept = str(self.query_one("#accept", Select).value)
        self.run_batch(kind, batch, accept)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_batch(self, kind: str, batch: str, accept: str) -> None:
        def progress(step: str, p: object) -> None:
            if step == "image" and isinstance(p, ImagingProgress):
                self.post_message(BatchProgress(p.fraction))

        def notify(kind: str, fields: dict[str, Any]) -> None:
            self.post_message(BatchNews(news(kind, fields)))

        try:
            start = int(self.value("start") or "1")
            with Station(self.wb.settings, progress, self.cancel) as station:
                loader, tray, drive = autoloader_for(station, kind, self.value("drive"),
                                                     batch, self.stack)
                options = BatchOptions(batch, drive, self.value("prefix"), start,
                                       accept=accept,
                                       command=shlex.join(["workbench", "autoload", "--batch",
                                                           batch]))
                summary = AutoloadBatch(station, loader, tray, options, notify).run()
            self.post_message(BatchEnded(summary))
        except Cancelled:
            self.post_message(BatchEnded(None, t("autoload.cancelled", batch=batch)))
        except WorkbenchError as exc:
            self.post_message(BatchEnded(None, exc.message()))
        except Exception as exc:  # never leave the technician staring at a frozen screen
            self.post_message(BatchEnded(None, f"{type(exc).__name__}: {exc}"))

    def on_batch_news(self, message: BatchNews) -> None:
        self.query_one("#news", Log).write_line(message.line)

    def on_batch_progress(self, message: BatchProgress) -> None:
        self.query_one("#bar", ProgressBar).update(progress=message.fraction * 100)

    def on_batch_ended(self, message: BatchEnded) -> None:
        self.running = False
        s = message.summary
        line = message.error if s is None else t(
            "autoload.summary", batch=s.batch, done=s.count("done"),
            partial=s.count("partial"), rejected=s.count("rejected"))
        self.query_one("#news", Log).write_line(line)
        self.query_one("#message", Static).update(line)

    def action_stop_or_back(self) -> None:
        if self.running:
            self.cancel.set()
            self.query_one("#message", Static).update(t("autoload.tui.stopping"))
        else:
            self.app.pop_screen()
