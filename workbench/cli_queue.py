"""`workbench queue FILE`: walk a batch list (item, profile, notes[, source]).

One drive (--drive, or each row's source column): one carrier at a time, through the
whole pipeline, with a prompt per carrier unless --yes. Several drives (--drives D1,D2):
the rows are taken in order by whichever drive is free (a row whose source names one of
them waits for that drive), each drive images in its own worker, and finished carriers
are verified, identified, bagged and staged in the background (workbench.station.runner)
while the drive reads the next. A row that cannot be done is reported and the batch goes
on; Ctrl-C cancels every drive cleanly (maps saved, jobs resumable).
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import Settings
from workbench.console import cancel_on_sigint
from workbench.errors import BadInput, ExitCode, WorkbenchError
from workbench.i18n import t

if TYPE_CHECKING:
    from workbench.profiles import MediaProfile
    from workbench.station import Station


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("queue", help=t("cli.queue"))
    p.add_argument("file", type=Path, metavar="FILE.csv", help=t("cli.queue_file"))
    p.add_argument("--drive", metavar="PATH", help=t("cli.queue_drive"))
    p.add_argument("--drives", metavar="D1,D2,...", help=t("board.cli.drives"))
    p.add_argument("--batch", default="", metavar="B", help=t("cli.bag_batch"))
    p.add_argument("--operator", metavar="NAME", help=t("cli.operator"))
    p.add_argument("--yes", action="store_true", help=t("cli.queue_yes"))
    p.add_argument("--review-partial", action="store_true",
                   help=t("board.cli.review_partial"))


def read_rows(path: Path) -> list[dict[str, str | None]]:
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput("error.bad_queue", file=str(path), detail=str(exc)) from exc
    if rows and not {"item", "profile"} <= set(rows[0]):
        raise BadInput("error.bad_queue", file=str(path),
                       detail="columns item, profile (and notes, source) are required")
    return rows


def _message(exc: Exception) -> str:
    return exc.message() if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"


def _next_row(station: Station, row: dict[str, str | None], n: int, total: int
              ) -> MediaProfile | None:
    """The row's profile when its carrier is to be imaged; None when it is done already
    (said). Raises for a row that cannot be done."""
    from workbench.profiles import get_profile
    from workbench.station import State
    item = (row.get("item") or "").strip()
    st = station.state(item)
    if st.state not in (State.NEW, State.INTERRUPTED):
        print(t("queue.done", n=n, total=total, item=item, state=t(f"state.{st.state.value}")))
        return None
    profile = get_profile(station.profiles, (row.get("profile") or "").strip())
    from workbench import cli_metadata
    cli_metadata.describe_from_row(station, item, row)  # catalogue, title, ...
    print(t("queue.next", n=n, total=total, item=item, profile=profile.label(),
            notes=row.get("notes", "")))
    for reminder in profile.reminders_for():
        print("  " + t("cli.reminder", text=reminder))
    return profile


def cmd_queue(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.cli_ledger import _with_operator
    rows = read_rows(args.file)
    settings = _with_operator(settings, args)
    if args.drives:
        drives = [d.strip() for d in args.drives.split(",") if d.strip()]
        if not drives:
            raise BadInput("error.no_source_for", item="-")
        return _over_drives(args, settings, rows, drives)
    return _one_at_a_time(args, settings, rows)


def _one_at_a_time(args: argparse.Namespace, settings: Settings,
                   rows: list[dict[str, str | None]]) -> int:
    from workbench.cli_ledger import _print_result, _StepProgress
    from workbench.station import Station
    cancel = cancel_on_sigint()
    station = Station(settings, _StepProgress(), cancel)
    counts: dict[str, int] = {}
    last_on: dict[str, str] = {}  # drive -> the item it held last in this batch

    def count(key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    try:
        for n, row in enumerate(rows, 1):
            item = (row.get("item") or "").strip()
            source = (row.get("source") or args.drive or "").strip()
            try:
                profile = _next_row(station, row, n, len(rows))
                if profile is None:
                    count("skipped")
                    continue
                if not args.yes:
                    try:
                        answer = input(t("queue.prompt", drive=source or "?")).strip().lower()
                    except EOFError:  # no one to answer (a script, a closed input)
                        print("\n" + t("ui.queue_no_answer", n=n, total=len(rows)),
                              file=sys.stderr)
                        break
                    if answer == "q":
                        break
                    if answer == "s":
                        count("skipped")
                        continue
                if not source:
                    raise BadInput("error.no_source_for", item=item)
                if source in last_on:  # the same drive again: its disc must be another
                    waiting = t("queue.waiting", drive=source, item=last_on[source])
                    station.wait_for_next_disc(source, last_on[source],
                                               functools.partial(print, waiting))
                last_on[source] = item
                result = station.migrate(source, profile, item, batch=args.batch,
                                         review_partial=args.review_partial)
                _print_result(result)
                count(result.record.outcome)
            except Exception as exc:  # one bad row never stops the batch
                print(t("queue.row_error", n=n, total=len(rows), item=item or "-",
                        message=_message(exc)), file=sys.stderr)
                count("errors")
            if cancel.is_set():
                break
    finally:
        station.close()
    print(t("queue.summary", counts=", ".join(f"{k} {v}" for k, v in sorted(counts.items()))))
    return ExitCode.SUCCESS if not counts.get("errors") else ExitCode.BAD_INPUT


class _Lines:
    """What the drives and the background queue do, one line per change (the workers
    call this from their threads; one lock keeps lines whole)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.said: dict[tuple[str, str], str] = {}

    def __call__(self, kind: str, view: Any) -> None:
        from workbench.station.runner import (
            ACCEPTING,
            DONE,
            ERROR,
            FAILED,
            FINISHED,
            IMAGING,
            REVIEW,
        )
        line, out = "", sys.stdout
        if kind == "disc":
            line = t("queue.waiting", drive=view.drive, item=view.item_id)
        elif kind == "drive" and view.phase == IMAGING:
            line = t("board.cli.imaging", drive=view.drive, item=view.item_id)
        elif kind == "drive" and view.phase == FINISHED:
            line = t("board.cli.imaged", drive=view.drive, item=view.item_id,
                     outcome=t(f"outcome.{view.outcome}"))
        elif kind == "drive" and view.phase == ERROR:
            line, out = t("board.cli.drive_error", drive=view.drive, item=view.item_id,
                          message=view.error), sys.stderr
        elif kind == "carrier" and view.status == ACCEPTING:
            line = t("board.cli.accepting", item=view.item_id)
        elif kind == "carrier" and view.status == DONE:
            line = t("board.cli.accepted", item=view.item_id,
                     state=t(f"state.{view.state}"))
        elif kind == "carrier" and view.status == FAILED:
            line, out = t("board.cli.failed", item=view.item_id, message=view.error), \
                sys.stderr
        elif kind == "carrier" and view.status == REVIEW:
            line = t("board.cli.review", item=view.item_id,
                     outcome=t(f"outcome.{view.outcome}") if view.outcome else "-")
        key = (kind, getattr(view, "drive", "") if kind != "carrier" else view.item_id)
        if not line or self.said.get(key) == line:
            return
        with self.lock:
            self.said[key] = line
            print(line, file=out, flush=True)


def _over_drives(args: argparse.Namespace, settings: Settings, rows: list[dict[str, str | None]],
                 drives: list[str]) -> int:
    from workbench.station import Station
    from workbench.station.runner import DONE, FAILED, Job, StationRunner
    cancel = cancel_on_sigint()
    # two accepting workers: identification of one carrier while another is verified or
    # bagged (bench/bench_station.py); tape staging stays one writer
    runner = StationRunner(settings, auto_accept=True, accept_workers=2,
                           accept_partial=not args.review_partial, listener=_Lines())
    counts: dict[str, int] = {}
    started: list[str] = []

    def count(key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    try:
        with Station(settings) as station:
            for n, row in enumerate(rows, 1):
                if cancel.is_set():
                    break
                item = (row.get("item") or "").strip()
                source = (row.get("source") or "").strip()
                try:
                    if source and source not in drives:
                        raise BadInput("board.not_a_batch_drive", item=item, drive=source,
                                       drives=", ".join(drives))
                    profile = _next_row(station, row, n, len(rows))
                    if profile is None:
                        count("skipped")
                        continue
                    drive = None
                    while drive is None and not cancel.is_set():
                        drive = runner.wait_for_free([source] if source else drives, 1.0)
                    if drive is None:
                        break
                    if not args.yes:
                        try:
                            answer = input(t("queue.prompt", drive=drive)).strip().lower()
                        except EOFError:  # no one to answer (a script, a closed input)
                            print("\n" + t("ui.queue_no_answer", n=n, total=len(rows)),
                                  file=sys.stderr)
                            break
                        if answer == "q":
                            break
                        if answer == "s":
                            count("skipped")
                            continue
                    runner.start(Job(item, drive, profile.id, batch=args.batch,
                                     command=" ".join(sys.argv)))
                    started.append(item)
                except Exception as exc:  # one bad row never stops the batch
                    print(t("queue.row_error", n=n, total=len(rows), item=item or "-",
                            message=_message(exc)), file=sys.stderr)
                    count("errors")
        while not cancel.is_set() and not runner.wait_idle(1.0):
            pass  # the drives and the background queue finish (Ctrl-C stops them)
    finally:
        runner.shutdown(deadline=60, cancel=True)
    views = {c.item_id: c for c in runner.carriers()}
    for item in started:
        view = views.get(item)
        if view is None:
            count("errors")
            continue
        if view.outcome != "error":  # an error before imaging is counted once, below
            count(view.outcome)
        if view.status == FAILED:
            count("errors")
        elif view.status == DONE:
            count("accepted")
        else:
            count("waiting")
    print(t("queue.summary", counts=", ".join(f"{k} {v}" for k, v in sorted(counts.items()))))
    for done in runner.drives():
        print("  " + t("board.cli.drive_summary", drive=done.drive, carriers=done.carriers,
                       seconds=f"{done.read_seconds:.1f}"))
    return ExitCode.SUCCESS if not counts.get("errors") else ExitCode.BAD_INPUT
