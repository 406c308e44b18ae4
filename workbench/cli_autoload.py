"""`workbench autoload` (an unattended disc batch) and `workbench night-report` (what
the night's batches did). Registered into the main parser by workbench.cli; the rules
are workbench.station.autoload's."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from workbench.atomic import write_atomic
from workbench.config import Settings
from workbench.console import cancel_on_sigint
from workbench.errors import ExitCode
from workbench.i18n import LANGUAGES, language, t


def add_parsers(sub: argparse._SubParsersAction) -> None:
    # no choices here: the station checks the values (and the parser stays cheap to build)
    p = sub.add_parser("autoload", help=t("autoload.cli.autoload"))
    p.add_argument("--drive", default="", metavar="PATH", help=t("autoload.cli.drive"))
    p.add_argument("--autoloader", metavar="sim|configured|manual",
                   help=t("autoload.cli.autoloader"))
    p.add_argument("--batch", required=True, metavar="B", help=t("autoload.cli.batch"))
    p.add_argument("--items", type=Path, metavar="FILE", help=t("autoload.cli.items"))
    p.add_argument("--prefix", default="", metavar="TEXT", help=t("autoload.cli.prefix"))
    p.add_argument("--start", type=int, default=1, metavar="N", help=t("autoload.cli.start"))
    p.add_argument("--digits", type=int, default=4, choices=range(1, 10), metavar="N",
                   help=t("autoload.cli.digits"))
    p.add_argument("--accept", default="partial", metavar="partial|review",
                   help=t("autoload.cli.accept"))
    p.add_argument("--profile", default="", metavar="ID", help=t("autoload.cli.profile"))
    p.add_argument("--stack", type=Path, metavar="DIR", help=t("autoload.cli.stack"))
    p.add_argument("--operator", metavar="NAME", help=t("cli.operator"))

    p = sub.add_parser("night-report", help=t("autoload.cli.night"))
    p.add_argument("--since", default="", metavar="TIME", help=t("autoload.cli.since"))
    p.add_argument("--batch", default="", metavar="B", help=t("autoload.cli.night_batch"))
    p.add_argument("--format", default="text", metavar="text|csv|json",
                   help=t("autoload.cli.format"))
    p.add_argument("--out", type=Path, metavar="FILE", help=t("cli.report_out"))
    p.add_argument("--lang", choices=LANGUAGES, default=argparse.SUPPRESS,
                   help=t("cli.lang"))


def _say(kind: str, fields: dict[str, Any]) -> None:
    from workbench.station.autoload.words import news
    print(news(kind, fields), flush=True)


def cmd_autoload(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.cli_ledger import _StepProgress, _with_operator
    from workbench.station import Cancelled, Station
    from workbench.station.autoload import (
        AutoloadBatch,
        BatchOptions,
        autoloader_for,
        read_items,
    )

    kind = args.autoloader or ("sim" if settings.training else "configured")
    items = read_items(args.items) if args.items else ()
    bar = _StepProgress()
    station = Station(_with_operator(settings, args), bar, cancel_on_sigint())
    try:
        loader, tray, drive = autoloader_for(station, kind, args.drive, args.batch,
                                             args.stack)
        options = BatchOptions(args.batch, drive, args.prefix, args.start, args.digits,
                               items, args.accept, args.profile,
                               shlex.join(["workbench", *sys.argv[1:]]))
        batch = AutoloadBatch(station, loader, tray, options, _say)
        try:
            summary = batch.run()
        except Cancelled:
            print(t("autoload.cancelled", batch=args.batch), file=sys.stderr)
            return ExitCode.ABORTED
    finally:
        bar.close()
        station.close()
    print(t("autoload.summary", batch=summary.batch, done=summary.count("done"),
            partial=summary.count("partial"), rejected=summary.count("rejected")))
    print(t("autoload.see_report", batch=summary.batch))
    clean = summary.count("partial") + summary.count("rejected") == 0
    return ExitCode.SUCCESS if clean else ExitCode.PARTIAL


def cmd_night_report(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.station import Station
    from workbench.station.autoload import night_report, write_night

    lang = getattr(args, "lang", None) or language()
    with Station(settings) as station:
        report = night_report(station, args.since, args.batch, lang)
    text = write_night(report, args.format, lang)
    if args.out:
        write_atomic(args.out, text)
        print(t("report.written", file=str(args.out)))
    else:
        sys.stdout.write(text)
    return ExitCode.SUCCESS


COMMANDS = {"autoload": cmd_autoload, "night-report": cmd_night_report}
