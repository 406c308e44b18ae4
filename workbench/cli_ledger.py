"""The carrier and ledger commands: migrate, retry, accept, queue, mark, note, withdraw,
pending, log, show, report, ledger export|merge. Registered into the main parser by
workbench.cli. Every action on a carrier goes through workbench.station."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from workbench import cli_metadata
from workbench.config import Settings
from workbench.console import ProgressLine, cancel_on_sigint, table
from workbench.errors import Aborted, BadInput, ExitCode
from workbench.i18n import LANGUAGES, language, t

if TYPE_CHECKING:
    from workbench.station import Filters, MigrationResult, Station

ROUTES = {"needs-flux": "needs_flux", "audio-disc": "audio_disc"}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help=t("cli.migrate"))
    p.add_argument("source", metavar="SOURCE", help=t("cli.image_source"))
    p.add_argument("--profile", required=True, metavar="ID", help=t("cli.image_profile"))
    p.add_argument("--item", required=True, metavar="ID", help=t("cli.image_item"))
    p.add_argument("--batch", default="", metavar="B", help=t("cli.bag_batch"))
    p.add_argument("--operator", metavar="NAME", help=t("cli.operator"))
    p.add_argument("--retries", type=int, metavar="N", help=t("cli.image_retries"))
    p.add_argument("--review-partial", action="store_true", help=t("cli.review_partial"))
    p.add_argument("--another-copy", action="store_true", help=t("cli.another_copy"))
    cli_metadata.add_description_args(p)  # catalogue, title, volume, condition, photos

    p = sub.add_parser("retry", help=t("cli.retry"))
    p.add_argument("item", metavar="ITEM", help=t("cli.image_item"))
    p.add_argument("--retries", type=int, metavar="N", help=t("cli.image_retries"))
    p.add_argument("--drive", metavar="PATH", help=t("cli.retry_drive"))
    p.add_argument("--operator", metavar="NAME", help=t("cli.operator"))
    p.add_argument("--review-partial", action="store_true", help=t("cli.review_partial"))
    p.add_argument("--keep-going", action="store_true", help=t("cli.keep_going"))

    p = sub.add_parser("accept", help=t("cli.accept"))
    p.add_argument("item", metavar="ITEM", help=t("cli.image_item"))
    p.add_argument("--batch", default=None, metavar="B", help=t("cli.bag_batch"))
    p.add_argument("--operator", metavar="NAME", help=t("cli.operator"))

    p = sub.add_parser("withdraw", help=t("cli.withdraw"))
    p.add_argument("item", metavar="ITEM", help=t("cli.image_item"))
    p.add_argument("--reason", required=True, metavar="TEXT", help=t("cli.withdraw_reason"))
    p.add_argument("--operator", metavar="NAME", help=t("cli.operator"))

    p = sub.add_parser("note", help=t("cli.note"))
    p.add_argument("item", metavar="ITEM", help=t("cli.image_item"))
    p.add_argument("text", metavar="TEXT", help=t("cli.note_text"))

    p = sub.add_parser("pending", help=t("cli.pending"))
    p.add_argument("--limit", type=int, default=500, help=t("cli.log_limit"))
    p.add_argument("--json", action="store_true", help=t("cli.json"))

    from workbench import cli_queue
    cli_queue.add_parser(sub)

    p = sub.add_parser("mark", help=t("cli.mark"))
    p.add_argument("item", metavar="ITEM", help=t("cli.image_item"))
    p.add_argument("route", choices=sorted(ROUTES), help=t("cli.mark_route"))
    p.add_argument("--note", default="", help=t("cli.mark_note"))

    for name in ("log", "report"):
        p = sub.add_parser(name, help=t(f"cli.{name}"))
        p.add_argument("--from", dest="date_from", default="", metavar="YYYY-MM-DD")
        p.add_argument("--to", dest="date_to", default="", metavar="YYYY-MM-DD")
        for f in ("batch", "station", "operator", "drive", "outcome"):
            p.add_argument(f"--{f}", default="", help=t(f"cli.filter_{f}"))
    log = sub.choices["log"]
    log.add_argument("--limit", type=int, default=50, help=t("cli.log_limit"))
    log.add_argument("--before", default="", metavar="TIME", help=t("cli.log_before"))
    from workbench.slices import SLICES
    report = sub.choices["report"]
    report.add_argument("--by", action="append", choices=tuple(SLICES),
                        help=t("cli.report_by"))
    report.add_argument("--format", default="text", choices=("csv", "xlsx", "json", "md",
                                                              "text"))
    report.add_argument("--out", type=Path, metavar="FILE", help=t("cli.report_out"))
    report.add_argument("--forecast", action="append", type=Path, default=[],  # issue 16
                        metavar="QUEUE.csv", help=t("lto.cli_forecast_queue"))
    report.add_argument("--plan", action="append", default=[], metavar="N:PROFILE",
                        help=t("lto.cli_forecast_plan"))
    report.add_argument("--lang", choices=LANGUAGES, default=argparse.SUPPRESS,
                        help=t("cli.lang"))

    p = sub.add_parser("show", help=t("cli.show"))
    p.add_argument("item", metavar="ITEM", help=t("cli.image_item"))

    ledger = sub.add_parser("ledger", help=t("cli.ledger")).add_subparsers(
        dest="ledger_command", metavar="ACTION", required=True)
    p = ledger.add_parser("export", help=t("cli.ledger_export"))
    p.add_argument("file", type=Path, metavar="FILE")
    p = ledger.add_parser("merge", help=t("cli.ledger_merge"))
    p.add_argument("files", type=Path, nargs="+", metavar="FILE")
    p.add_argument("--conflicts", type=Path, metavar="OUT", help=t("dup.cli_out"))
    ledger.add_parser("check", help=t("cli.ledger_check"))
    p = ledger.add_parser("move-to", help=t("ledger_pg.cli_move_to"))
    p.add_argument("url", metavar="URL", help=t("ledger_pg.cli_url"))
    ledger.add_parser("status", help=t("ledger_pg.cli_status"))
    ledger.add_parser("resync", help=t("ledger_pg.cli_resync"))
    p = ledger.add_parser("conflicts", help=t("dup.cli_conflicts"))
    p.add_argument("--out", type=Path, metavar="OUT", help=t("dup.cli_out"))


def _with_operator(settings: Settings, args: argparse.Namespace) -> Settings:
    return replace(settings, operator=args.operator) if getattr(args, "operator", None) \
        else settings


def _print_result(result: MigrationResult) -> None:
    from workbench.cli import print_record
    from workbench.station import step_line
    print_record(result.record, result.job_dir)
    for step in result.steps:
        print("  " + step_line(*step))
    from workbench.station.guard_words import virus_lines
    for line in virus_lines((result.report or {}).get("virus_scan") or {}):
        print("  " + line)
    if result.bag:
        print("  " + t("migrate.bag", bag=str(result.bag)))
    print("  " + t("station.state_line", state=t(f"state.{result.state.value}")))


def training_row(item: str, profile_id: str, result: MigrationResult) -> list[str]:
    """A training carrier's result printed, and its row for the summary table."""
    _print_result(result)
    record = result.record
    return [item, profile_id, t(f"outcome.{record.outcome}"),
            record.reason.message() if record.reason else ""]


class _StepProgress:
    """The pipeline reports (step, progress): one terminal line per kind of step."""

    def __init__(self) -> None:
        from workbench.console import identify_line
        self.lines = {"image": ProgressLine(), "identify": ProgressLine(render=identify_line)}

    def __call__(self, step: str, p: object) -> None:
        line = self.lines.get(step)
        if line is not None:
            line(p)

    def close(self) -> None:
        for line in self.lines.values():
            line.close()


def _say(notes: list[str]) -> None:
    """The ledger link's notes (offline, a resync's conflicts): on stderr, so that a
    report or JSON on stdout stays clean."""
    for line in notes:
        print(line, file=sys.stderr)


def _exit_code(result: MigrationResult) -> int:
    from workbench.imaging.record import Outcome
    return int(Outcome(result.record.outcome).exit_code)


def _run(settings: Settings, args: argparse.Namespace,
         run: Callable[[Station], MigrationResult]) -> int:
    """Run one carrier action with a progress line and Ctrl-C handling; print the result."""
    from workbench.station import Station

    bar = _StepProgress()
    station = Station(_with_operator(settings, args), bar, cancel_on_sigint())
    station.another_copy = bool(getattr(args, "another_copy", False))
    try:
        result = run(station)
        notes = station.records.link_notes()  # said after the work: it may have begun
    finally:
        bar.close()
        station.close()
    _print_result(result)
    _say(notes)
    return _exit_code(result)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.profiles import get_profile

    def run(station: Station) -> MigrationResult:
        profile = get_profile(station.profiles, args.profile)
        for reminder in profile.reminders_for():
            print(t("cli.reminder", text=reminder), file=sys.stderr)
        from workbench.station.guard_words import preflight_notes
        for note in preflight_notes(station, args.source, profile, args.item):
            print(note, file=sys.stderr)  # write protection, BLKROSET: as the UI shows
        cli_metadata.describe_from_args(station, args.item, args)  # before anything is read
        return station.migrate(args.source, profile, args.item, batch=args.batch,
                               retries=args.retries, command=" ".join(sys.argv),
                               review_partial=args.review_partial)
    return _run(settings, args, run)


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    def run(station: Station) -> MigrationResult:
        from workbench.station.guard_words import retry_notes
        for note in retry_notes(station, args.item, args.drive):
            print(note, file=sys.stderr)  # write protection, BLKROSET: as migrate says
        return station.retry(args.item, retries=args.retries, drive=args.drive,
                             command=" ".join(sys.argv), review_partial=args.review_partial,
                             keep_going=args.keep_going)
    return _run(settings, args, run)


def cmd_accept(args: argparse.Namespace, settings: Settings) -> int:
    return _run(settings, args, lambda station: station.accept(args.item, batch=args.batch))


def cmd_withdraw(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.station import Station
    from workbench.station.withdrawal import withdrawn_words
    with Station(_with_operator(settings, args)) as station:
        after = station.withdraw(args.item, args.reason)
    print(withdrawn_words(after, settings.station_id, args.reason))  # this station's bag
    return ExitCode.SUCCESS


def cmd_note(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.station import Station
    with Station(settings) as station:
        station.note(args.item, args.text)
    print(t("tui.note_saved"))
    return ExitCode.SUCCESS


def cmd_pending(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.console import local_time
    from workbench.station import State, Station
    from workbench.station.next_step import next_step_for
    with Station(settings) as station:
        items = station.pending(args.limit)
        steps = {s.item_id: next_step_for(station, s) for s in items}
        _say(station.records.link_notes(figures=True))
    if args.json:
        print(json.dumps([{"item": s.item_id, "state": s.state.value,
                           "next": steps[s.item_id][0].rpartition(".")[2],
                           "started": s.attempt["started"] if s.attempt else "",
                           "outcome": s.outcome,
                           "missing_pools": list(s.missing_pools)
                           if s.state is State.BAGGED else []}
                          for s in items], ensure_ascii=False, indent=2))
        return ExitCode.SUCCESS
    if not items:
        print(t("station.pending_none"))
        return ExitCode.SUCCESS
    table([t("station.col_item"), t("station.col_state"), t("station.col_since"),
           t("station.col_next"), t("station.col_detail")],
          [[s.item_id, t(f"state.{s.state.value}"),
            local_time(str(s.attempt["started"])) if s.attempt else "",
            t(steps[s.item_id][0], **steps[s.item_id][1]),
            t("station.missing_pools", pools=", ".join(s.missing_pools))
            if s.missing_pools and s.state is State.BAGGED else ""] for s in items], sys.stdout)
    if len(items) == args.limit:
        print(t("station.pending_more", count=args.limit))
    return ExitCode.SUCCESS


def cmd_mark(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.station import Station
    with Station(settings) as station:
        station.route(args.item, ROUTES[args.route], args.note)
    print(t("mark.done", item=args.item, route=t(f"outcome.{ROUTES[args.route]}")))
    return ExitCode.SUCCESS


def _filters(args: argparse.Namespace) -> Filters:
    from workbench.station import make_filters
    return make_filters(args.date_from, args.date_to, args.batch, args.station, args.operator,
                        args.drive, args.outcome)


def cmd_log(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.console import local_time, reason_words
    from workbench.station import Station

    with Station(settings) as station:
        rows = station.records.log_page(_filters(args), args.limit, args.before)
        same = station.records.identical(rows)
        from workbench.station.ledger_link import abandoned_words
        gone = abandoned_words(station, rows)  # overtaken by another station's attempt
        _say(station.records.link_notes(figures=True))
    table([t("log.started"), t("log.item"), t("log.media"), t("log.outcome"), t("log.bad"),
           t("log.station"), t("log.operator"), t("log.drive"), t("log.reason")],
          [[local_time(r["started"]), r["item_id"], r["profile_id"],
            gone.get(r["id"]) or t(f"outcome.{r['outcome']}"), r["bad_sectors"],
            r["station_id"], r["operator"], r["drive"],
            "; ".join(filter(None, ("" if r["id"] in gone else reason_words(r),
                                    same.get(r["id"], ""))))]
           for r in rows], sys.stdout)
    if len(rows) == args.limit:  # the next page: the same command, one page on
        options = [f"--{name.replace('_', '-')} {shlex.quote(str(value))}"
                   for name, value in (("from", args.date_from), ("to", args.date_to),
                                       ("batch", args.batch), ("station", args.station),
                                       ("operator", args.operator), ("drive", args.drive),
                                       ("outcome", args.outcome), ("limit", args.limit))
                   if value and not (name == "limit" and value == 50)]
        cursor = station.records.page_cursor(rows[-1])
        print(t("log.more", before=" ".join([shlex.quote(cursor), *options])))
    return ExitCode.SUCCESS


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.station import Station

    with Station(settings) as station:
        st = station.refresh(args.item)  # what the job folder says is recorded first
        lines = station.records.history_lines(st.item_id)
        described = cli_metadata.show_lines(station, st.item_id)
        _say(station.records.link_notes(figures=True))
        from workbench.station.offline_guard import not_known  # offline: not a typo
        unknown = None if lines or described else not_known(station.con, settings, args.item)
    if unknown is not None:
        raise unknown
    print("\n".join(lines + described))
    print(t("station.state_line", state=t(f"state.{st.state.value}")))
    if st.missing_pools and st.bag is not None:
        print(t("station.missing_pools", pools=", ".join(st.missing_pools)))
    from workbench.station.view import next_step
    step = [t(next_step(st)[0], **next_step(st)[1])] if st.is_ingest and \
        next_step(st)[0].startswith(("tapefix.", "ingest2.")) else []
    from workbench.station.ledger_link import next_line
    print(next_line(station, st, step + [t(f"action.{a.value}") for a in st.next_actions]))
    return ExitCode.SUCCESS


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.station import Station

    lang = args.lang or language()
    with Station(settings) as station:
        slices = station.records.report(args.by or ["media"], _filters(args), lang)
        text = station.records.write(slices, args.format, lang, args.out)
        _say(station.records.link_notes(figures=True))
    if args.out:  # what was written where
        print(t("ui.report_written", file=str(args.out.resolve()), format=args.format,
                rows=sum(len(rows) for rows in slices.values())))
    else:
        sys.stdout.write(text)
    if args.forecast or args.plan:  # the tape forecast of the backlog (cli_ltfs.py)
        from workbench.cli_ltfs import forecast_lines
        print("\n" + "\n".join(forecast_lines(settings, args.forecast, args.plan)[0]))
    return ExitCode.SUCCESS


def cmd_ledger(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.station import Station

    if args.ledger_command == "move-to":
        from workbench import cli_ledger_pg
        return cli_ledger_pg.move_to(settings, args.url)
    with Station(settings) as station:
        if args.ledger_command in ("status", "resync"):
            from workbench import cli_ledger_pg
            return cli_ledger_pg.link(station, args.ledger_command)
        if args.ledger_command == "check":
            station.records.check()
            where = station.records.link_status().server or str(settings.paths.ledger)
            print(t("ledger.check_ok", file=where))
            return ExitCode.SUCCESS
        if args.ledger_command == "export":
            rows = station.records.export(args.file)
            print(t("ui.ledger_exported", file=str(args.file.resolve()),
                    carriers=rows["carriers"], attempts=rows["attempts"]))
            return ExitCode.SUCCESS
        from workbench import cli_conflicts
        if args.ledger_command == "conflicts":
            return cli_conflicts.report(station.records.conflicts(), args.out)
        found = []
        for path in args.files:
            if not path.is_file():
                raise BadInput("error.file_missing", file=str(path))
            merged = station.records.merge(path)
            print(t("ledger.merged", file=str(path),
                    added=", ".join(f"{k} {v}" for k, v in merged.added.items())))
            found += merged.conflicts
        try:
            standing = [c for c in station.records.conflicts() if c not in found]
        except Aborted as offline:  # merged into the journal; the server's are unknown
            print(offline.message(), file=sys.stderr)
            standing = []
        return cli_conflicts.report(found, args.conflicts, len(standing))


def _queue(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.cli_queue import cmd_queue
    return cmd_queue(args, settings)


COMMANDS = {"migrate": cmd_migrate, "retry": cmd_retry, "accept": cmd_accept,
            "withdraw": cmd_withdraw, "note": cmd_note, "pending": cmd_pending,
            "queue": _queue, "mark": cmd_mark, "log": cmd_log, "show": cmd_show,
            "report": cmd_report, "ledger": cmd_ledger}
__all__ = ["COMMANDS", "LANGUAGES", "add_parsers"]
