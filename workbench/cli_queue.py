"""`workbench queue FILE`: walk a batch list (item, profile, notes[, source]).

One drive (--drive, or each row's source column): one carrier at a time, through the
whole pipeline, with a prompt per carrier unless --yes. Several drives (--drives D1,D2):
each row goes to a free drive that can read it, in order, but a row waiting for a busy
drive never holds up a later row another drive can read (station/batch_order.py; a row
whose source names one of them waits for that drive). Each drive images in its own
worker, and finished carriers are verified, identified, bagged and staged in the
background (workbench.station.runner) while the drive reads the next. A row that cannot
be done is reported and the batch goes on; Ctrl-C cancels every drive cleanly (maps
saved, jobs resumable).
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


def _shown(item: str) -> str:
    """An item ID as a row's prefix shows it: control characters escaped, never sent to
    the terminal (the ID comes from a file anyone may have written)."""
    from workbench.identify.report import escape_invisible
    from workbench.package.bagtext import printable
    return escape_invisible(printable(item)) or "-"


IMAGE, ACCEPT = "image", "accept"


def _next_row(station: Station, row: dict[str, str | None], n: int, total: int
              ) -> tuple[str, MediaProfile] | None:
    """What to do with the row's carrier: (IMAGE, profile) to image or resume it,
    (ACCEPT, profile) for one left imaged (a batch stopped before accepting it: it goes
    on as the batch would have); None when it is done already (said). Raises for a row
    that cannot be done."""
    from workbench.profiles import get_profile
    from workbench.station.next_step import Way, continuation
    item = (row.get("item") or "").strip()
    go = continuation(station, item)
    st = go.state
    if go.way is Way.REVIEW:
        print(t("queue.continue_accept", n=n, total=total, item=_shown(item)))
        return ACCEPT, station.profiles[go.profile_id]
    if go.way not in (Way.IMAGE, Way.FLUX, Way.INGEST):  # an ingest: migrate says why not
        print(t("queue.done", n=n, total=total, item=_shown(item),
                state=t(f"state.{st.state.value}")))
        return None
    name = (row.get("profile") or "").strip()
    if not name:
        raise BadInput("queue.no_profile")
    return IMAGE, get_profile(station.profiles, name)


def _announce(station: Station, row: dict[str, str | None], profile: MediaProfile,
              n: int, total: int) -> None:
    """A row about to be imaged: its description recorded, the row and its reminders."""
    from workbench import cli_metadata
    item = (row.get("item") or "").strip()
    cli_metadata.describe_from_row(station, item, row)  # catalogue, title, ...
    print(t("queue.next", n=n, total=total, item=_shown(item), profile=profile.label(),
            notes=row.get("notes", "")))
    for reminder in profile.reminders_for():
        print("  " + t("cli.reminder", text=reminder))


def _summary(counts: dict[str, int]) -> None:
    from workbench.i18n import catalog

    def words(key: str) -> str:
        name = f"queue.count.{key.replace(' ', '_')}"
        return t(name) if name in catalog("en") else key
    print(t("queue.summary", counts=", ".join(f"{words(k)} {v}"
                                              for k, v in sorted(counts.items()))))


def _exit_code(counts: dict[str, int], cancelled: bool) -> int:
    """One rule for both queues (README, "Exit codes"): cancelled 5; a row that could
    not be done 2; a carrier that failed 4; one left partial 3; else 0."""
    if cancelled or counts.get("interrupted") or counts.get("aborted"):
        return ExitCode.ABORTED
    if counts.get("errors") or counts.get("not accepted") or counts.get("unfit"):
        return ExitCode.BAD_INPUT
    if counts.get("failed"):
        return ExitCode.FAILED
    if counts.get("partial") or counts.get("accepted partial") or counts.get("review"):
        return ExitCode.PARTIAL
    return ExitCode.SUCCESS


def cmd_queue(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.cli_ledger import _with_operator
    rows = read_rows(args.file)
    settings = _with_operator(settings, args)
    if args.drives:
        drives = [d.strip() for d in args.drives.split(",") if d.strip()]
        if not drives:
            raise BadInput("queue.no_drives", drives=args.drives)
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
                plan = _next_row(station, row, n, len(rows))
                if plan is None:
                    count("skipped")
                    continue
                if plan[0] == ACCEPT:  # left imaged: no drive needed
                    result = station.migrate(None, plan[1], item,
                                             review_partial=args.review_partial)
                    _print_result(result)
                    count(result.record.outcome)
                    continue
                profile = plan[1]
                _announce(station, row, profile, n, len(rows))
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
                print(t("queue.row_error", n=n, total=len(rows), item=_shown(item),
                        message=_message(exc)), file=sys.stderr)
                count("errors")
            if cancel.is_set():
                if n < len(rows):
                    counts["not started"] = len(rows) - n
                break
    finally:
        station.close()
    if cancel.is_set():
        print(t("queue.stopped"))
    _summary(counts)
    return _exit_code(counts, cancel.is_set())


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
        if kind == "elsewhere":
            drive, holder = view
            line = t("queue.drive_elsewhere", drive=drive, item=_shown(holder.item),
                     station=holder.station, pid=holder.pid, since=holder.since)
            key = (kind, drive)
        else:
            key = (kind, view.drive if kind != "carrier" else view.item_id)
            item = _shown(view.item_id)
        if kind == "disc":
            line = t("queue.waiting", drive=view.drive, item=item)
        elif kind == "drive" and view.phase == IMAGING:
            line = t("board.cli.imaging", drive=view.drive, item=item)
        elif kind == "drive" and view.phase == FINISHED:
            line = t("board.cli.imaged", drive=view.drive, item=item,
                     outcome=t(f"outcome.{view.outcome}"))
        elif kind == "drive" and view.phase == ERROR:
            line, out = t("board.cli.drive_error", drive=view.drive, item=item,
                          message=view.error), sys.stderr
        elif kind == "carrier" and view.status == ACCEPTING:
            line = t("board.cli.accepting", item=item)
        elif kind == "carrier" and view.status == DONE:
            line = t("board.cli.accepted", item=item, state=t(f"state.{view.state}"))
        elif kind == "carrier" and view.status == FAILED and view.outcome != "error":
            # failed before imaging ("error"): the drive's line says it, once
            line, out = t("board.cli.failed", item=item, message=view.error), sys.stderr
        elif kind == "carrier" and view.status == REVIEW:
            line = t("board.cli.review", item=item,
                     outcome=t(f"outcome.{view.outcome}") if view.outcome else "-")
        if not line or self.said.get(key) == line:
            return
        with self.lock:
            self.said[key] = line
            print(line, file=out, flush=True)


def _batch_drives(settings: Settings, names: list[str]) -> dict[str, str]:
    """The batch's drives and what kind each is (station.drives.drive_kind); a drive
    named twice or not usable is said at start and left out."""
    from workbench.profiles import load_profiles
    from workbench.station.drives import drive_kind
    from workbench.station.locks import drive_key
    profiles = load_profiles(settings.paths.profiles)
    kinds: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name in names:
        key = drive_key(name)
        if key in seen:
            print(t("queue.drive_twice", drive=name, other=seen[key]), file=sys.stderr)
            continue
        seen[key] = name
        try:
            kinds[name] = drive_kind(name, profiles)
        except WorkbenchError as exc:
            print(t("queue.drive_left_out", message=exc.message()), file=sys.stderr)
    if not kinds:
        raise BadInput("queue.no_drives", drives=", ".join(names))
    return kinds


def _over_drives(args: argparse.Namespace, settings: Settings, rows: list[dict[str, str | None]],
                 drives: list[str]) -> int:
    from workbench.station import State, Station
    from workbench.station.batch_order import RowOrder
    from workbench.station.drives import OPTICAL, fits
    from workbench.station.runner import DONE, FAILED, Job, StationRunner
    kinds = _batch_drives(settings, drives)
    drives = list(kinds)
    cancel = cancel_on_sigint()
    # two accepting workers: identification of one carrier while another is verified or
    # bagged (bench/bench_station.py); tape staging stays one writer
    runner = StationRunner(settings, auto_accept=True, accept_workers=2,
                           accept_partial=not args.review_partial, listener=_Lines())
    counts: dict[str, int] = {}
    started: list[str] = []
    reached = 0  # rows looked at (the rest were not started)

    def count(key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    order: RowOrder[tuple[dict[str, str | None], MediaProfile]] = RowOrder()

    def plan(station: Station, n: int, row: dict[str, str | None]) -> None:
        """Look at row n: done, accepted on, unfit, or waiting for one of its drives."""
        item = (row.get("item") or "").strip()
        source = (row.get("source") or "").strip()
        try:
            if source and source not in drives:
                raise BadInput("board.not_a_batch_drive", item=_shown(item),
                               drive=source, drives=", ".join(drives))
            planned = _next_row(station, row, n, len(rows))
            if planned is None:
                count("skipped")
                return
            kind, profile = planned
            if kind == ACCEPT:  # as the batch would have after imaging
                runner.after_imaging(station.state(item).item_id)
                started.append(station.state(item).item_id)
                return
            usable = [d for d in ([source] if source else drives) if fits(profile, kinds[d])]
            if not usable:  # refused before imaging: no attempt recorded
                needs = t("queue.needs_optical" if profile.family == OPTICAL
                          else "queue.needs_other")
                print(t("queue.unfit", n=n, total=len(rows), item=_shown(item),
                        profile=profile.id, needs=needs), file=sys.stderr)
                count("unfit")
                return
            order.add(n, (row, profile), usable)
        except Exception as exc:  # one bad row never stops the batch
            print(t("queue.row_error", n=n, total=len(rows), item=_shown(item),
                    message=_message(exc)), file=sys.stderr)
            count("errors")

    def start(station: Station, n: int, row: dict[str, str | None], profile: MediaProfile,
              drive: str) -> bool:
        """Start row n on drive (asked first unless --yes); False: the technician quits."""
        item = (row.get("item") or "").strip()
        try:
            _announce(station, row, profile, n, len(rows))
            print(t("queue.goes_to", n=n, total=len(rows), item=_shown(item), drive=drive),
                  flush=True)
            if not args.yes:
                try:
                    answer = input(t("queue.prompt", drive=drive)).strip().lower()
                except EOFError:  # no one to answer (a script, a closed input)
                    print("\n" + t("ui.queue_no_answer", n=n, total=len(rows)),
                          file=sys.stderr)
                    return False
                if answer == "q":
                    return False
                if answer == "s":
                    count("skipped")
                    return True
            runner.start(Job(item, drive, profile.id, batch=args.batch,
                             command=" ".join(sys.argv)))
            started.append(item)
        except Exception as exc:  # one bad row never stops the batch
            print(t("queue.row_error", n=n, total=len(rows), item=_shown(item),
                    message=_message(exc)), file=sys.stderr)
            count("errors")
        return True

    unstarted = 0
    try:
        with Station(settings) as station:
            while not cancel.is_set():
                free = set(runner.free(drives))
                ready = order.next_ready(free.__contains__)
                if ready is not None:  # the first waiting row a free drive can read
                    waiting, drive = ready
                    if not start(station, waiting.n, *waiting.row, drive):
                        unstarted = 1  # the technician stopped at this row
                        break
                    continue
                if reached < len(rows) and free:
                    reached += 1  # a drive no waiting row can use: look at the next row
                    plan(station, reached, rows[reached - 1])
                    continue
                if not order and reached == len(rows):
                    break
                runner.wait_for_free(order.drives() if reached == len(rows) else drives, 1.0)
            unstarted += len(order)  # rows waiting for a drive when the batch stopped
        while not cancel.is_set() and not runner.wait_idle(1.0):
            pass  # the drives and the background queue finish (Ctrl-C stops them)
    finally:
        runner.shutdown(deadline=60, cancel=True)
    views = {c.item_id: c for c in runner.carriers()}
    with Station(settings) as station:  # where a carrier the runner left stands now
        states = {item: station.state(item).state for item in started if item in views}
    for item in started:  # each row once, by where it ended
        view = views.get(item)
        if view is None or view.outcome == "error":  # not imaged (said on its line)
            count("errors")
        elif view.status == DONE or states.get(item) in (State.ON_TAPE, State.RELEASED):
            count("accepted partial" if view.outcome == "partial" else "accepted")
        elif states.get(item) is State.BAGGED:  # a stop cut its tape staging short
            count("bagged")
        elif view.outcome == "aborted" or states.get(item) is State.INTERRUPTED or (
                view.status == FAILED and cancel.is_set()):
            count("interrupted")  # resumable: the same command goes on
        elif view.status == FAILED:
            count("not accepted")
        elif view.outcome in ("failed", "partial"):  # waiting for the technician
            count(view.outcome)
        else:
            count("review")
    if reached < len(rows) or unstarted:
        counts["not started"] = len(rows) - reached + unstarted
    if cancel.is_set():
        print(t("queue.stopped"))
    _summary(counts)
    for done in runner.drives():
        print("  " + t("board.cli.drive_summary", drive=done.drive, carriers=done.carriers,
                       seconds=f"{done.read_seconds:.1f}"))
    return _exit_code(counts, cancel.is_set())
