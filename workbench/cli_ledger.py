"""The pipeline and ledger commands: migrate, retry, queue, mark, log, show, report,
ledger export|merge. Registered into the main parser by workbench.cli."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import replace
from pathlib import Path

from workbench.config import Settings
from workbench.console import ProgressLine, table
from workbench.errors import BadInput, ExitCode
from workbench.i18n import LANGUAGES, language, t

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

    p = sub.add_parser("retry", help=t("cli.retry"))
    p.add_argument("item", metavar="ITEM", help=t("cli.image_item"))
    p.add_argument("--retries", type=int, metavar="N", help=t("cli.image_retries"))
    p.add_argument("--drive", metavar="PATH", help=t("cli.retry_drive"))
    p.add_argument("--operator", metavar="NAME", help=t("cli.operator"))
    p.add_argument("--review-partial", action="store_true", help=t("cli.review_partial"))

    p = sub.add_parser("queue", help=t("cli.queue"))
    p.add_argument("file", type=Path, metavar="FILE.csv", help=t("cli.queue_file"))
    p.add_argument("--drive", metavar="PATH", help=t("cli.queue_drive"))
    p.add_argument("--batch", default="", metavar="B", help=t("cli.bag_batch"))
    p.add_argument("--operator", metavar="NAME", help=t("cli.operator"))
    p.add_argument("--yes", action="store_true", help=t("cli.queue_yes"))

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
    report = sub.choices["report"]
    report.add_argument("--by", action="append", choices=("media", "profile", "family",
                                                          "batch", "station", "operator",
                                                          "drive"), help=t("cli.report_by"))
    report.add_argument("--format", default="text", choices=("csv", "xlsx", "json", "md",
                                                              "text"))
    report.add_argument("--out", type=Path, metavar="FILE", help=t("cli.report_out"))
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


def _with_operator(settings: Settings, args: argparse.Namespace) -> Settings:
    return replace(settings, operator=args.operator) if getattr(args, "operator", None) \
        else settings


def _print_result(result) -> None:  # type: ignore[no-untyped-def]
    from workbench.cli import print_record
    print_record(result.record, result.job_dir)
    from workbench.pipeline import step_line
    for step in result.steps:
        print("  " + step_line(*step))
    if result.bag:
        print("  " + t("migrate.bag", bag=str(result.bag)))


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


def _run_migration(settings: Settings, args: argparse.Namespace, run) -> int:  # type: ignore[no-untyped-def]
    """Run one migration with a progress line and Ctrl-C handling; print the result."""
    from workbench.cli import _cancel_on_sigint
    from workbench.imaging.record import Outcome
    from workbench.pipeline import Migration

    bar = _StepProgress()
    migration = Migration(_with_operator(settings, args), bar, _cancel_on_sigint())
    try:
        result = run(migration)
    finally:
        bar.close()
        migration.close()
    _print_result(result)
    return Outcome(result.record.outcome).exit_code


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.profiles import get_profile

    def run(migration):  # type: ignore[no-untyped-def]
        profile = get_profile(migration.profiles, args.profile)
        for reminder in profile.reminders_for():
            print(t("cli.reminder", text=reminder), file=sys.stderr)
        return migration.migrate(args.source, profile, args.item, batch=args.batch,
                                 retries=args.retries, command=" ".join(sys.argv),
                                 review_partial=args.review_partial)
    return _run_migration(settings, args, run)


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    return _run_migration(settings, args, lambda migration: migration.retry(
        args.item, retries=args.retries, drive=args.drive, command=" ".join(sys.argv),
        review_partial=args.review_partial))


def cmd_queue(args: argparse.Namespace, settings: Settings) -> int:
    """Walk a batch list (item, profile, notes[, source]), one carrier at a time."""
    from workbench.cli import _cancel_on_sigint
    from workbench.pipeline import Migration
    from workbench.profiles import get_profile

    try:
        rows = list(csv.DictReader(io.StringIO(args.file.read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput("error.bad_queue", file=str(args.file), detail=str(exc)) from exc
    if rows and not {"item", "profile"} <= set(rows[0]):
        raise BadInput("error.bad_queue", file=str(args.file),
                       detail="columns item, profile (and notes, source) are required")
    cancel = _cancel_on_sigint()
    migration = Migration(_with_operator(settings, args), _StepProgress(), cancel)
    counts: dict[str, int] = {}
    try:
        for n, row in enumerate(rows, 1):
            item, source = row["item"].strip(), (row.get("source") or args.drive or "").strip()
            done = migration.con.execute(
                "SELECT outcome FROM current_attempts WHERE item_id = ? AND outcome IN "
                "('success', 'partial', 'needs_flux', 'audio_disc')", (item,)).fetchone()
            if done:
                print(t("queue.done", n=n, total=len(rows), item=item))
                counts["skipped"] = counts.get("skipped", 0) + 1
                continue
            profile = get_profile(migration.profiles, row["profile"].strip())
            print(t("queue.next", n=n, total=len(rows), item=item, profile=profile.label(),
                    notes=row.get("notes", "")))
            for reminder in profile.reminders_for():
                print("  " + t("cli.reminder", text=reminder))
            if not args.yes:
                answer = input(t("queue.prompt", drive=source or "?")).strip().lower()
                if answer == "q":
                    break
                if answer == "s":
                    counts["skipped"] = counts.get("skipped", 0) + 1
                    continue
            if not source:
                raise BadInput("error.no_source_for", item=item)
            result = migration.migrate(source, profile, item, batch=args.batch)
            _print_result(result)
            counts[result.record.outcome] = counts.get(result.record.outcome, 0) + 1
            if cancel.is_set():
                break
    finally:
        migration.close()
    print(t("queue.summary", counts=", ".join(f"{k} {v}" for k, v in sorted(counts.items()))))
    return ExitCode.SUCCESS


def cmd_mark(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.ledger import record as ledger
    from workbench.ledger.db import connect

    con = connect(settings.paths.ledger)
    try:
        if not ledger.mark(con, args.item, ROUTES[args.route], args.note, settings.operator):
            raise BadInput("error.not_in_ledger", item=args.item)
    finally:
        con.close()
    print(t("mark.done", item=args.item, route=t(f"outcome.{ROUTES[args.route]}")))
    return ExitCode.SUCCESS


def _filters(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from workbench.ledger.query import Filters
    return Filters(args.date_from, args.date_to, args.batch, args.station, args.operator,
                   args.drive, args.outcome)


def cmd_log(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.ledger.db import connect
    from workbench.ledger.query import attempts_page

    con = connect(settings.paths.ledger)
    try:
        rows = attempts_page(con, _filters(args), args.limit, args.before)
    finally:
        con.close()
    table([t("log.started"), t("log.item"), t("log.media"), t("log.outcome"), t("log.bad"),
           t("log.station"), t("log.operator"), t("log.drive"), t("log.reason")],
          [[r["started"], r["item_id"], r["profile_id"], t(f"outcome.{r['outcome']}"),
            r["bad_sectors"], r["station_id"], r["operator"], r["drive"],
            r["reason"][:60]] for r in rows], sys.stdout)
    if len(rows) == args.limit:
        print(t("log.more", before=rows[-1]["started"]))
    return ExitCode.SUCCESS


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.ledger.db import connect
    from workbench.ledger.query import carrier_history, history_lines

    con = connect(settings.paths.ledger)
    try:
        h = carrier_history(con, args.item)
    finally:
        con.close()
    if not h["carrier"]:
        raise BadInput("error.not_in_ledger", item=args.item)
    print("\n".join(history_lines(h)))
    return ExitCode.SUCCESS


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.ledger.db import connect
    from workbench.ledger.export import report_slices, write_report
    from workbench.profiles import load_profiles

    lang = args.lang or language()
    con = connect(settings.paths.ledger)
    try:
        slices = report_slices(con, args.by or ["media"], _filters(args),
                               load_profiles(settings.paths.profiles), lang)
    finally:
        con.close()
    text = write_report(slices, args.format, lang, args.out)
    if args.out:
        print(t("report.written", file=str(args.out)))
    else:
        sys.stdout.write(text)
    return ExitCode.SUCCESS


def cmd_ledger(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.ledger.db import connect
    from workbench.ledger.export import export_ledger, merge_ledger

    con = connect(settings.paths.ledger)
    try:
        if args.ledger_command == "export":
            export_ledger(con, args.file)
            print(t("ledger.exported", file=str(args.file)))
            return ExitCode.SUCCESS
        for path in args.files:
            if not path.is_file():
                raise BadInput("error.file_missing", file=str(path))
            added = merge_ledger(con, path)
            print(t("ledger.merged", file=str(path),
                    added=", ".join(f"{k} {v}" for k, v in added.items())))
        return ExitCode.SUCCESS
    finally:
        con.close()


COMMANDS = {"migrate": cmd_migrate, "retry": cmd_retry, "queue": cmd_queue,
            "mark": cmd_mark, "log": cmd_log, "show": cmd_show, "report": cmd_report,
            "ledger": cmd_ledger}
__all__ = ["COMMANDS", "LANGUAGES", "add_parsers"]
