"""`workbench`: headless commands for scripts and batches (the TUI uses the same core).

Exit codes: 0 success, 1 internal error, 2 bad input, 3 partial, 4 failed, 5 aborted
(resumable), 6 refused by pre-flight. See README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from workbench import (
    __version__,
    cli_autoload,
    cli_flux,
    cli_ledger,
    cli_metadata,
    cli_signatures,
    cli_tape,
    cli_tools,
)
from workbench.config import Settings
from workbench.console import ProgressLine, cancel_on_sigint, identify_line, table
from workbench.errors import BadInput, ExitCode, WorkbenchError
from workbench.i18n import LANGUAGES, human_bytes, is_utf8, language, set_language, t
from workbench.profiles import get_profile, load_profiles

# Command implementations are imported by the command that needs them: a CLI call only
# pays for what it runs.
if TYPE_CHECKING:
    from workbench.imaging.record import JobRecord


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description=t("cli.description"))
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument("--config", metavar="FILE", help=t("cli.config"))
    parser.add_argument("--lang", choices=LANGUAGES, help=t("cli.lang"))
    parser.add_argument("--training", action="store_true", help=t("cli.training_flag"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("profiles", help=t("cli.profiles"))
    p.add_argument("--json", action="store_true", help=t("cli.json"))

    p = sub.add_parser("drives", help=t("cli.drives"))
    p.add_argument("--json", action="store_true", help=t("cli.json"))

    p = sub.add_parser("image", help=t("cli.image"))
    p.add_argument("source", metavar="SOURCE", nargs="?", help=t("cli.image_source"))
    p.add_argument("--profile", required=True, metavar="ID", help=t("cli.image_profile"))
    cli_flux.add_arguments(p)  # --flux [CAPTURE]: the floppies no drive can read
    p.add_argument("--item", required=True, metavar="ID", help=t("cli.image_item"))
    p.add_argument("--out", metavar="DIR", type=Path, help=t("cli.image_out"))
    p.add_argument("--retries", type=int, metavar="N", help=t("cli.image_retries"))
    p.add_argument("--json", action="store_true", help=t("cli.json"))
    p.add_argument("--another-copy", action="store_true", help=t("cli.another_copy"))

    p = sub.add_parser("identify", help=t("cli.identify"))
    p.add_argument("image", metavar="IMAGE", help=t("cli.identify_image"))
    p.add_argument("--map", type=Path, metavar="MAPFILE", help=t("cli.identify_map"))
    p.add_argument("--out", type=Path, metavar="DIR", help=t("cli.identify_out"))
    p.add_argument("--format", choices=("csv", "json"), default="csv",
                   help=t("cli.identify_format"))
    p.add_argument("--md5", action="store_true", help=t("cli.identify_md5"))
    p.add_argument("--workers", type=int, metavar="N", help=t("cli.identify_workers"))

    p = sub.add_parser("bag", help=t("cli.bag"))
    p.add_argument("job", metavar="JOB_DIR", type=Path, help=t("cli.bag_job"))
    p.add_argument("--batch", metavar="B", help=t("cli.bag_batch"))
    p.add_argument("--count", metavar="'N of M'", help=t("cli.bag_count"))

    p = sub.add_parser("validate", help=t("cli.validate"))
    p.add_argument("bag", metavar="BAG", type=Path, help=t("cli.validate_bag"))
    p.add_argument("--fast", action="store_true", help=t("cli.validate_fast"))
    p.add_argument("--profile", action="store_true", help=t("cli.validate_profile"))

    cli_tape.add_parsers(sub)  # tape, retrieve, where, ingest

    p = sub.add_parser("training", help=t("cli.training"))
    p.add_argument("--flux", action="store_true", help=t("flux.cli_training"))
    cli_ledger.add_parsers(sub)
    cli_signatures.add_parsers(sub)
    cli_autoload.add_parsers(sub)
    cli_metadata.add_parsers(sub)
    return parser


def _pre_settings(argv: Sequence[str]) -> tuple[str | None, str | None]:
    """--config and --lang are needed before the (translated) parser exists."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("--lang", choices=LANGUAGES)
    known, _ = pre.parse_known_args(argv)
    return known.config, known.lang


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    config, lang = _pre_settings(argv)
    try:
        settings = cli_metadata.load_settings_for(argv, config)
    except WorkbenchError as exc:
        if lang:
            set_language(lang)
        print(t("cli.error", message=exc), file=sys.stderr)
        return exc.exit_code
    # --lang, then $WORKBENCH_LANG (this shell's choice), then the station's setting
    env_lang = os.environ.get("WORKBENCH_LANG", "")
    set_language(lang or (env_lang if env_lang in LANGUAGES else settings.language))
    undecodable = next((a for a in argv if not is_utf8(a)), None)
    if undecodable is not None:  # bytes no UTF-8 reader, ledger or PREMIS record holds
        print(t("cli.error", message=t("lead.undecodable_argument", argument=ascii(
            undecodable))), file=sys.stderr)
        return ExitCode.BAD_INPUT
    args = build_parser().parse_args(argv)
    if args.training:
        settings = settings.for_training()
    cli_metadata.warn_setup(args.command, settings)
    try:
        return COMMANDS.get(args.command, cmd_station)(args, settings)
    except BrokenPipeError:  # output piped into head, less...: stop quietly
        sys.stderr.close()
        return ExitCode.SUCCESS
    except BaseException as exc:
        known = known_error(exc, settings)
        if known is None:
            raise
        print(t("cli.error", message=known), file=sys.stderr)
        return known.exit_code


def known_error(exc: BaseException, settings: Settings) -> WorkbenchError | None:
    """The faults a station meets, as messages with their documented exit codes: disk
    full, read-only or misplaced folders, a damaged ledger, a cancel. Anything else is a
    bug (exit 1, with its traceback)."""
    import sqlite3

    from workbench.errors import Aborted, from_os_error, from_sqlite_error
    from workbench.station import Cancelled
    if isinstance(exc, WorkbenchError):
        return exc
    if isinstance(exc, KeyboardInterrupt | Cancelled):
        return Aborted("error.cancelled")
    if isinstance(exc, sqlite3.DatabaseError):
        return from_sqlite_error(exc, settings.paths.ledger)
    if isinstance(exc, OSError):
        return from_os_error(exc)
    return None


def cmd_station(args: argparse.Namespace, settings: Settings) -> int:
    """No command: the station UI (imported only now: the core never needs textual).
    Without a terminal (a script, CI) training runs headless instead."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        if settings.training:
            print(t("tui.no_terminal_training"), file=sys.stderr)
            return cmd_training(args, settings)
        print(t("tui.no_terminal"), file=sys.stderr)
        build_parser().print_help()
        return ExitCode.SUCCESS
    from workbench.tui.app import run
    return run(settings)


def cmd_profiles(args: argparse.Namespace, settings: Settings) -> int:
    profiles = load_profiles(settings.paths.profiles)
    if args.json:
        print(json.dumps([{"id": p.id, "family": p.family, "labels": p.labels,
                           "sector_size": p.sector_size, "expected_sizes": p.expected_sizes,
                           "size_range": p.size_range, "cluster_size": p.cluster_size,
                           "retries": p.retries, "digests": p.digests,
                           "iso9660_check": p.iso9660_check}
                          for p in profiles.values()], ensure_ascii=False, indent=2))
        return ExitCode.SUCCESS
    rows = []
    for p in profiles.values():
        sizes = ", ".join(f"{s:,}" for s in p.expected_sizes) if p.expected_sizes else (
            t("profiles.device_reported"))
        rows.append([p.id, p.family, p.label(), p.sector_size, sizes, p.retries])
    table([t("profiles.id"), t("profiles.family"), t("profiles.label"), t("profiles.sector"),
           t("profiles.sizes"), t("profiles.retries")], rows, sys.stdout)
    return ExitCode.SUCCESS


def cmd_drives(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.devices import list_drives
    profiles = load_profiles(settings.paths.profiles)
    drives = list_drives(profiles, training=settings.training)
    if args.json:
        print(json.dumps([d.to_dict() for d in drives], ensure_ascii=False, indent=2))
        return ExitCode.SUCCESS
    if not drives:
        print(t("drives.none"))
        return ExitCode.SUCCESS
    yes, no = t("word.yes"), t("word.no")
    rows = [[d.path, " ".join(x for x in (d.vendor, d.model) if x), d.serial, d.transport,
             yes if d.removable else no, human_bytes(d.size) if d.media_present else "-",
             d.sector_size, yes if d.media_present else no,
             ", ".join(d.mountpoints) or no, yes if d.system_disk else no,
             d.suggested_profile or "-"] for d in drives]
    table([t("drives.path"), t("drives.model"), t("drives.serial"), t("drives.transport"),
           t("drives.removable"), t("drives.size"), t("drives.sector"), t("drives.media"),
           t("drives.mounted"), t("drives.system"), t("drives.profile")], rows, sys.stdout)
    return ExitCode.SUCCESS


def print_record(record: JobRecord, out_dir: Path | None = None) -> None:
    from workbench.imaging.record import Outcome
    outcome = Outcome(record.outcome)
    print(t("result.headline", item=record.item_id, outcome=t(f"outcome.{outcome.value}")))
    from workbench.station import record_lines
    for line in record_lines(record):
        print("  " + line)
    for name, value in record.digests.items():
        print(f"  {name}: {value}")
    if out_dir is not None:
        print("  " + t("result.folder", folder=str(out_dir)))


def cmd_image(args: argparse.Namespace, settings: Settings) -> int:
    """Image a carrier. Into its job folder (the default) it is an attempt the station
    records; --out DIR images into any other folder, outside the station's records."""
    from workbench.imaging.record import Outcome
    if args.flux is not None:
        return cli_flux.cmd_image_flux(args, settings)
    if args.gw_device:  # a Greaseweazle is only for a flux capture: never silently dropped
        raise BadInput("lead.gw_device_without_flux", device=args.gw_device)
    if args.source is None:
        raise BadInput("flux.need_source")
    profile = get_profile(load_profiles(settings.paths.profiles), args.profile)
    for reminder in profile.reminders_for():
        print(t("cli.reminder", text=reminder), file=sys.stderr)
    command = shlex.join(["workbench", *sys.argv[1:]])
    bar = ProgressLine()
    try:
        from workbench.station import Station
        with Station(settings, lambda step, p: bar(p) if step == "image" else None,
                     cancel_on_sigint()) as station:
            station.another_copy = args.another_copy
            if args.out is None:
                result = station.image_carrier(args.source, profile, args.item,
                                               retries=args.retries, command=command)
                record, out_dir = result.record, result.job_dir
            else:
                out_dir = args.out
                record = station.image_elsewhere(args.source, profile, args.item, out_dir,
                                                 retries=args.retries, command=command)
    finally:
        bar.close()
    if args.json:
        print(record.to_json(), end="")
    else:
        print_record(record, out_dir)
    return Outcome(record.outcome).exit_code


def cmd_training(args: argparse.Namespace, settings: Settings) -> int:
    """Every sample carrier in media/ through the whole pipeline, in the training area
    (its own staging, bags and ledger), then the statistics report."""
    from workbench.cli_ledger import _StepProgress, training_row
    from workbench.devices import training_drives
    from workbench.imaging.pace import SPEED_ENV
    from workbench.station import Station
    from workbench.station.next_step import Way, continuation

    settings = settings if settings.training else settings.for_training()
    # no one watches the headless run's drives: full speed unless real speed is asked for
    os.environ.setdefault(SPEED_ENV, "fast")
    print(t("training.intro", folder=str(settings.paths.staging.parent)))
    bar = _StepProgress()
    migration = Station(settings, bar, cancel_on_sigint())
    rows = []
    try:
        for drive in training_drives(migration.profiles):
            if drive.problem or not drive.suggested_profile:
                rows.append([drive.name, "-", t("outcome.failed"), drive.problem])
                continue
            profile = migration.profiles[drive.suggested_profile]
            item = f"TRAIN-{drive.name}"
            print(t("training.drive", drive=drive.model, profile=profile.label()))
            try:
                go = continuation(migration, item)
                if go.way in (Way.IMAGE, Way.FLUX, Way.REVIEW, Way.STAGE):  # migrate goes on
                    result = migration.migrate(drive.path, profile, item, batch="TRAINING")
                else:  # done in an earlier training run (or failed): show it again
                    result = migration.result_of(item)
                    result.state = go.state.state
            finally:
                bar.close()
            rows.append(training_row(item, profile.id, result))
            if migration.cancel.is_set():
                break
        if getattr(args, "flux", False) and not migration.cancel.is_set():
            rows += cli_flux.training_flux(migration, bar)  # the flux recipes too
        report = migration.records.write({"media": migration.records.statistics("media")},
                                         "text", language())
    finally:
        migration.close()
    print()
    table([t("training.item"), t("training.profile"), t("training.outcome"),
           t("training.reason")], rows, sys.stdout)
    print()
    sys.stdout.write(report)
    return ExitCode.SUCCESS


def cmd_bag(args: argparse.Namespace, settings: Settings) -> int:
    """Accept a job without staging it to tape: verify, identify, bag, all recorded."""
    from workbench.station import Station
    from workbench.station.bag_only import bag_only
    bar = ProgressLine(render=identify_line)
    try:
        with Station(settings, lambda step, p: bar(p) if step == "identify" else None,
                     cancel_on_sigint()) as station:
            done = bag_only(station, args.job, batch=args.batch, count=args.count)
    finally:
        bar.close()
    print(t("bag.created" if done.created else "bag.exists", bag=str(done.bag),
            oxum=done.oxum, algorithms=", ".join(done.algorithms)))
    return ExitCode.SUCCESS


COMMANDS = {"profiles": cmd_profiles, "drives": cmd_drives, "image": cmd_image,
            "bag": cmd_bag, "training": cmd_training, **cli_tools.COMMANDS, **cli_tape.COMMANDS,
            **cli_ledger.COMMANDS, **cli_signatures.COMMANDS,
            **cli_autoload.COMMANDS, **cli_metadata.COMMANDS}
