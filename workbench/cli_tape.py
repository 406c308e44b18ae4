"""The tape commands: label, plan, write, verify (and re-verify), catalogue, release,
recopy, forecast, the LTFS cartridge (format, mount, unmount); getting a bag back
(`retrieve`), where every copy is (`where`), and the ingest of existing preservation
images (`ingest`). Registered by workbench.cli; everything acts through workbench.station.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from workbench import cli_ingest
from workbench.config import Settings
from workbench.console import ProgressLine, cancel_on_sigint, table
from workbench.errors import ExitCode, WorkbenchError
from workbench.i18n import human_bytes, t


def add_parsers(sub: Any) -> None:
    tape = sub.add_parser("tape", help=t("cli.tape")).add_subparsers(dest="tape_command",
                                                                     metavar="ACTION")
    p = tape.add_parser("label", help=t("cli.tape_label"))
    p.add_argument("mount", type=Path, metavar="MOUNT", help=t("cli.tape_mount"))
    p.add_argument("--barcode", required=True, help=t("cli.tape_barcode"))
    p.add_argument("--pool", required=True, help=t("cli.tape_pool"))
    p.add_argument("--generation", default="LTO-8", help=t("cli.tape_generation"))
    p.add_argument("--capacity", type=int, default=0, metavar="BYTES",
                   help=t("cli.tape_capacity"))
    tape.add_parser("plan", help=t("cli.tape_plan"))
    p = tape.add_parser("write", help=t("cli.tape_write"))
    p.add_argument("--bag", action="append", metavar="ITEM", help=t("cli.tape_bag"))
    p = tape.add_parser("verify", help=t("cli.tape_verify"))
    p.add_argument("--barcode", help=t("cli.tape_barcode"))
    p.add_argument("--older-than", metavar="AGE", help=t("lto.cli_older_than"))
    p.add_argument("--due", action="store_true", help=t("lto.cli_due"))
    p = tape.add_parser("catalog", help=t("cli.tape_catalog"))
    p.add_argument("--json", action="store_true", help=t("cli.json"))
    p = tape.add_parser("release", help=t("cli.tape_release"))
    p.add_argument("items", nargs="+", metavar="ITEM", help=t("cli.tape_items"))
    p = tape.add_parser("recopy", help=t("lto.cli_recopy"))
    p.add_argument("items", nargs="+", metavar="ITEM", help=t("cli.tape_items"))
    p = tape.add_parser("forecast", help=t("lto.cli_forecast"))
    p.add_argument("queues", nargs="*", type=Path, metavar="QUEUE.csv",
                   help=t("lto.cli_forecast_queue"))
    p.add_argument("--plan", action="append", default=[], metavar="N:PROFILE",
                   help=t("lto.cli_forecast_plan"))
    p.add_argument("--generation", default="", help=t("cli.tape_generation"))
    p.add_argument("--json", action="store_true", help=t("cli.json"))
    p = tape.add_parser("format", help=t("lto.cli_format"))
    p.add_argument("--barcode", default="", help=t("cli.tape_barcode"))
    p.add_argument("--pool", required=True, help=t("cli.tape_pool"))
    p.add_argument("--generation", default="LTO-8", help=t("cli.tape_generation"))
    p = tape.add_parser("mount", help=t("lto.cli_mount"))
    p.add_argument("--barcode", default="", help=t("cli.tape_barcode"))
    p = tape.add_parser("unmount", help=t("lto.cli_unmount"))
    p.add_argument("barcode", metavar="BARCODE", help=t("cli.tape_barcode"))

    p = sub.add_parser("retrieve", help=t("lto.cli_retrieve"))
    p.add_argument("item", metavar="ITEM", help=t("cli.tape_items"))
    p.add_argument("--to", type=Path, default=None, metavar="DIR", help=t("lto.cli_to"))
    p.add_argument("--bag", default=None, metavar="NAME", help=t("lto.cli_bag_version"))
    p = sub.add_parser("where", help=t("lto.cli_where"))
    p.add_argument("item", metavar="ITEM", help=t("cli.tape_items"))
    p.add_argument("--json", action="store_true", help=t("cli.json"))
    cli_ingest.add_parser(sub)


def _print_unplaced(unplaced: list[Any]) -> None:
    for u in unplaced:
        print(t(f"tape.unplaced_{u.reason}", bag=u.bag.name, size=human_bytes(u.size),
                pool=u.pool))


def say_unreadable(station: Any) -> bool:
    """Each tape mounted here that cannot be used, with how to fix it (stderr); the
    other tapes are used as if it were not there."""
    from workbench.station.tape_labels import unreadable_line
    bad = station.tapes.unreadable()
    for u in bad:
        print(unreadable_line(u), file=sys.stderr)
    return bool(bad)


def cmd_tape(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.station import Station

    action = args.tape_command
    if action == "label":
        with Station(settings) as station:
            tape = station.tapes.label(args.mount, args.barcode, args.pool, args.generation,
                                       args.capacity)
        print(t("tape.labelled", mount=str(tape.mount), barcode=tape.barcode, pool=tape.pool,
                capacity=human_bytes(tape.capacity)))
        return ExitCode.SUCCESS
    if action in ("format", "mount", "unmount"):
        from workbench.cli_ltfs import cmd_cartridge
        return cmd_cartridge(args, settings)
    if action == "forecast":
        from workbench.cli_ltfs import cmd_forecast
        return cmd_forecast(args, settings)
    if action not in ("plan", "write", "verify", "catalog", "release", "recopy"):
        from workbench.cli import build_parser
        build_parser().parse_args(["tape", "--help"])
        return ExitCode.BAD_INPUT
    stopping = "stagefix.cancelling_verify" if action == "verify" else "stagefix.cancelling_tape"
    with Station(settings, cancel=cancel_on_sigint(stopping)) as station:
        desk = station.tapes
        bad_tapes = say_unreadable(station) if action in ("plan", "write", "verify") \
            else False
        if action == "plan":
            assignments, unplaced = desk.plan()
            table([t("tape.barcode"), t("tape.pool"), t("tape.generation"), t("tape.used"),
                   t("tape.room")],
                  [[tp.barcode, tp.pool, tp.generation, human_bytes(tp.used()),
                    human_bytes(tp.room(settings.tape_headroom))]
                   for tp in desk.mounted()], sys.stdout)
            for tp in desk.mounted():  # room 0 on LTFS: say it is the index partition
                if tp.index_short():
                    print(t("lto.read_only_index_headroom", barcode=tp.barcode))
            print()
            for a in assignments:
                print(t("tape.assign", bag=a.bag.name, size=human_bytes(a.size), pool=a.pool,
                        barcode=a.barcode))
            _print_unplaced(unplaced)
            return ExitCode.SUCCESS if not (unplaced or bad_tapes) else ExitCode.PARTIAL
        if action == "write":
            from workbench.station.tape_outcome import unresolved, write_code
            done, unplaced = desk.write(args.bag)
            for e in done:
                print(t(f"tape.result_{e.result}", bag=e.bag, barcode=e.barcode, pool=e.pool,
                        detail=e.detail))
                if e.result != "verified" and e not in unresolved(done):
                    print("  " + t("stagefix.replaced", bag=e.bag, pool=e.pool))
            _print_unplaced(unplaced)
            if not done and not unplaced:
                print(t("tui.tape_nothing"))
            written = write_code(done, unplaced)
            return ExitCode.PARTIAL if bad_tapes and written == ExitCode.SUCCESS else written
        if action == "verify":
            code = _verify(args, station)
            return max(code, ExitCode.PARTIAL) if bad_tapes else code
        if action == "catalog":
            entries = desk.catalogue()
            if args.json:
                print(json.dumps([asdict(e) for e in entries], ensure_ascii=False, indent=2))
            else:
                table([t("tape.bag"), t("tape.barcode"), t("tape.pool"), t("tape.copy"),
                       t("tape.size"), t("tape.written"), t("tape.verified"),
                       t("tape.result")],
                      [[e.bag, e.barcode, e.pool, e.copy, human_bytes(e.bytes), e.written,
                        e.verified, t(f"tape.state_{e.result}")] for e in entries],
                      sys.stdout)
            return ExitCode.SUCCESS
        worst = ExitCode.SUCCESS  # release, recopy: each item on its own
        for item in args.items:
            try:
                if action == "release":
                    for path in station.release(item):
                        print(t("tape.released", path=str(path)))
                    continue
                from workbench.station.recopy import recopy
                copies, unplaced = recopy(station, item, ask_mount)
                for e in copies:
                    print(t(f"tape.result_{e.result}", bag=e.bag, barcode=e.barcode,
                            pool=e.pool, detail=e.detail))
                _print_unplaced(unplaced)
                if not copies and not unplaced:
                    print(t("lto.recopy_nothing", item=item))
                if any(e.result != "verified" for e in copies) or unplaced:
                    worst = max(worst, ExitCode.FAILED)
            except WorkbenchError as exc:
                print(t("cli.error", message=exc), file=sys.stderr)
                worst = max(worst, exc.exit_code)
        return worst


def _verify(args: argparse.Namespace, station: Any) -> int:
    from workbench.station.book import item_of
    from workbench.station.reverify import due_elsewhere, parse_age
    from workbench.station.tape_view import due_line
    settings = station.settings
    age: float | None = None
    if args.older_than:
        age = parse_age(args.older_than)
    elif args.due:
        if settings.tape_verify_days <= 0:
            print(t("lto.no_schedule"))
            return ExitCode.SUCCESS
        age = settings.tape_verify_days * 86400.0
    checked = station.tapes.verify(args.barcode, older_than=age)
    for e in checked:
        print(t(f"tape.checked_{e.result}", bag=e.bag, barcode=e.barcode, pool=e.pool,
                detail=e.detail))
        if e.result != "verified":
            print("  " + t("lto.make_new_copy", item=item_of(e.bag), bag=e.bag,
                           pool=e.pool))
    elsewhere = []
    if age is not None:
        mounted = {tp.barcode for tp in station.tapes.mounted()}
        elsewhere = due_elsewhere(list(station.tapes.book.current().values()), mounted, age,
                                  tuple(checked))
        for d in elsewhere:
            print(due_line(d))
    if checked.left:  # stopped (Ctrl-C): what this run chose and did not read
        from workbench.station.reverify import unchecked_by_tape
        print(t("stagefix.verify_stopped", count=len(checked.left),
                tapes=unchecked_by_tape(checked.left)))
    elif not checked and not elsewhere:
        print(t("lto.nothing_due" if age is not None else "tui.tape_nothing"))
    if any(e.result != "verified" for e in checked):
        return ExitCode.FAILED  # an alarm is never hidden behind a stop
    return ExitCode.ABORTED if checked.left else ExitCode.PARTIAL if elsewhere \
        else ExitCode.SUCCESS


def ask_mount(copies: list[Any]) -> bool:
    """Asks the person at the station to mount one of the cartridges (a terminal only:
    a script gets the refusal that names them, exit 6)."""
    names = ", ".join(f"{e.barcode} ({e.pool})" for e in copies)
    if not sys.stdin.isatty():
        return False
    print(t("lto.ask_mount", tapes=names), file=sys.stderr)
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip().lower() not in ("q", "quit", "n", "no")


def cmd_retrieve(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.station import Station
    from workbench.station.retrieve import Retrieval
    bar = ProgressLine()
    try:
        with Station(settings, cancel=cancel_on_sigint("stagefix.cancelling_retrieve")
                     ) as station:
            say_unreadable(station)
            done = Retrieval(station).retrieve(args.item, args.to or Path.cwd(), ask_mount,
                                               args.bag, progress=bar)
    finally:
        bar.close()
    from workbench.station.retrieve import retrieval_lines
    for line in retrieval_lines(done):  # copies tried before: failed, or their tape went
        print(line)
    assert done.source is not None
    print(t("lto.retrieved", bag=done.bag, path=str(done.path), barcode=done.source.barcode,
            pool=done.source.pool))
    return ExitCode.SUCCESS


def cmd_where(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.station import Station
    from workbench.station.retrieve import Retrieval, where_lines
    with Station(settings) as station:
        say_unreadable(station)
        where = Retrieval(station).where(args.item)
    if args.json:
        print(json.dumps({"item": where.item_id, "state": where.state, "bags": [
            {"bag": b.bag.name, "current": b.current, "withdrawn": b.bag.withdrawn,
             "released": b.bag.released, "staging": b.bag.path if b.staging else "",
             "copies": [{**asdict(p.entry), "mounted": p.mounted,
                         "last_checked": p.last_checked} for p in b.copies]}
            for b in where.bags]}, ensure_ascii=False, indent=2))
        return ExitCode.SUCCESS
    for line in where_lines(where):
        print(line)
    return ExitCode.SUCCESS


COMMANDS = {"tape": cmd_tape, "retrieve": cmd_retrieve, "where": cmd_where,
            **cli_ingest.COMMANDS}
