"""`workbench`: headless commands for scripts and batches (the TUI uses the same core).

Exit codes: 0 success, 1 internal error, 2 bad input, 3 partial, 4 failed, 5 aborted
(resumable), 6 refused by pre-flight. See README.md.
"""

from __future__ import annotations

import argparse
import io
import json
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from workbench import __version__, cli_ledger
from workbench.atomic import write_atomic
from workbench.config import Settings, load_settings
from workbench.console import ProgressLine, identify_line, table
from workbench.errors import BadInput, ExitCode, WorkbenchError
from workbench.i18n import LANGUAGES, human_bytes, language, set_language, t
from workbench.profiles import get_profile, load_profiles

# Command implementations are imported by the command that needs them: a CLI call only
# pays for what it runs.
if TYPE_CHECKING:
    from workbench.identify.report import FormatReport
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
    p.add_argument("source", metavar="SOURCE", help=t("cli.image_source"))
    p.add_argument("--profile", required=True, metavar="ID", help=t("cli.image_profile"))
    p.add_argument("--item", required=True, metavar="ID", help=t("cli.image_item"))
    p.add_argument("--out", metavar="DIR", type=Path, help=t("cli.image_out"))
    p.add_argument("--retries", type=int, metavar="N", help=t("cli.image_retries"))
    p.add_argument("--json", action="store_true", help=t("cli.json"))

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
    p = tape.add_parser("catalog", help=t("cli.tape_catalog"))
    p.add_argument("--json", action="store_true", help=t("cli.json"))
    p = tape.add_parser("release", help=t("cli.tape_release"))
    p.add_argument("items", nargs="+", metavar="ITEM", help=t("cli.tape_items"))

    sub.add_parser("training", help=t("cli.training"))
    cli_ledger.add_parsers(sub)
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
        settings = load_settings(config)
    except WorkbenchError as exc:
        if lang:
            set_language(lang)
        print(t("cli.error", message=exc), file=sys.stderr)
        return exc.exit_code
    set_language(lang or settings.language)
    args = build_parser().parse_args(argv)
    if args.training:
        settings = settings.for_training()
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
    from workbench.imaging.rescue import Cancelled
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


def _cancel_on_sigint() -> threading.Event:
    """First Ctrl-C stops cleanly (map saved, resumable); a second one kills."""
    cancel = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if cancel.is_set():
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            raise KeyboardInterrupt
        cancel.set()
        print("\n" + t("cli.cancelling"), file=sys.stderr)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
    return cancel


def print_record(record: JobRecord, out_dir: Path | None = None) -> None:
    from workbench.imaging.record import Outcome
    outcome = Outcome(record.outcome)
    print(t("result.headline", item=record.item_id, outcome=t(f"outcome.{outcome.value}")))
    if record.reason:
        print("  " + record.reason.message())
    if record.size:
        print("  " + t("result.bytes", rescued=human_bytes(record.bytes_rescued),
                       size=human_bytes(record.size), bad=record.bad_sector_count))
    for pos, size in record.bad_ranges[:10]:
        print("  " + t("result.bad_range", pos=f"{pos:#x}", size=f"{size:#x}",
                       sectors=-(-size // record.sector_size)))
    if len(record.bad_ranges) > 10:
        print("  " + t("result.more_ranges", count=len(record.bad_ranges) - 10))
    if record.bytes_untried:  # aborted: not tried is not bad
        print("  " + t("result.untried", untried=human_bytes(record.bytes_untried),
                       ranges=len(record.untried_ranges)))
    for name, value in record.digests.items():
        print(f"  {name}: {value}")
    if out_dir is not None:
        print("  " + t("result.folder", folder=str(out_dir)))


def cmd_image(args: argparse.Namespace, settings: Settings) -> int:
    """Image a carrier. Into its job folder (the default) it is an attempt the station
    records; --out DIR images into any other folder, outside the station's records."""
    from workbench.imaging.record import Outcome
    profile = get_profile(load_profiles(settings.paths.profiles), args.profile)
    for reminder in profile.reminders_for():
        print(t("cli.reminder", text=reminder), file=sys.stderr)
    command = shlex.join(["workbench", *sys.argv[1:]])
    bar = ProgressLine()
    try:
        from workbench.station import Station
        with Station(settings, lambda step, p: bar(p) if step == "image" else None,
                     _cancel_on_sigint()) as station:
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
    from workbench.cli_ledger import _print_result, _StepProgress
    from workbench.devices import training_drives
    from workbench.ledger.export import write_text
    from workbench.ledger.query import statistics
    from workbench.station import State, Station

    settings = settings if settings.training else settings.for_training()
    print(t("training.intro", folder=str(settings.paths.staging.parent)))
    bar = _StepProgress()
    migration = Station(settings, bar, _cancel_on_sigint())
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
                state = migration.state(item).state
                if state in (State.NEW, State.INTERRUPTED, State.IMAGED, State.BAGGED):
                    result = migration.migrate(drive.path, profile, item, batch="TRAINING")
                else:  # done in an earlier training run (or failed): show it again
                    result = migration.result_of(item)
                    result.state = state
            finally:
                bar.close()
            _print_result(result)
            record = result.record
            rows.append([item, profile.id, t(f"outcome.{record.outcome}"),
                         record.reason.message() if record.reason else ""])
            if migration.cancel.is_set():
                break
        stats = statistics(migration.con, "media",
                           label=lambda k: migration.profiles[k].report_label()
                           if k in migration.profiles else k)
    finally:
        migration.close()
    print()
    table([t("training.item"), t("training.profile"), t("training.outcome"),
           t("training.reason")], rows, sys.stdout)
    print()
    write_text({"media": stats}, sys.stdout, language())
    return ExitCode.SUCCESS


def cmd_identify(args: argparse.Namespace, settings: Settings) -> int:
    """List and identify every file inside an image; write the format report."""
    from workbench.identify.engine import identify_image
    from workbench.identify.report import WRITERS
    from workbench.imaging.record import MAP_NAME, JobRecord
    image_path = Path(args.image)
    map_path = args.map
    if map_path is None and (image_path.parent / MAP_NAME).is_file():
        map_path = image_path.parent / MAP_NAME  # the job folder's own map
    record = JobRecord.load(image_path.parent) if (image_path.parent / "job.json").is_file() \
        else None
    digests = ("sha256", "md5") if args.md5 or (record and "md5" in record.digests) \
        else ("sha256",)
    bar = ProgressLine(render=identify_line)
    try:
        report = identify_image(image_path, settings, map_path=map_path, digests=digests,
                                workers=args.workers, progress=bar,
                                cancel=_cancel_on_sigint())
    finally:
        bar.close()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, writer in WRITERS.items():
            target = args.out / f"formats.{name}"
            buf = io.StringIO()
            writer(report, buf)
            write_atomic(target, buf.getvalue())
        print_summary(report, sys.stdout)
        print(t("identify.written", folder=str(args.out)))
    else:
        WRITERS[args.format](report, sys.stdout)
        if sys.stderr.isatty():
            print_summary(report, sys.stderr)
    return ExitCode.SUCCESS


def print_summary(report: FormatReport, out: TextIO) -> None:
    s = report.summary()
    fmt = report.image_format
    print(t("identify.image", image=report.image,
            kind=(fmt.get("puid") and f"{fmt['puid']} {fmt['name']}") or fmt["file_system"]),
          file=out)
    for v in report.volumes:
        print("  " + t("identify.volume", index=v.index + 1, fs=v.fs_type or "-",
                       label=v.label or "-", files=v.files), file=out)
        for error in v.errors[:5]:
            print("    " + t("identify.volume_error", error=error), file=out)
    print(t("identify.totals", files=s["files"], bytes=human_bytes(s["bytes"]),
            unidentified=len(s["unidentified"]), damaged=len(s["damaged"]),
            duplicates=len(s["duplicates"]), zero=len(s["zero_byte"])), file=out)
    for puid, count in list(s["by_puid"].items())[:10]:
        print(f"  {count:6}  {puid}", file=out)
    from workbench.identify.report import escape_invisible
    for item in s["damaged"][:10]:
        print("  " + t("identify.damaged", path=escape_invisible(item["path"]),
                       bytes=item["bytes_lost"]),
              file=out)


def cmd_bag(args: argparse.Namespace, settings: Settings) -> int:
    """Accept a job without staging it to tape: verify, identify, bag, all recorded."""
    from workbench.imaging.record import JobRecord
    from workbench.station import State, Station
    record = JobRecord.load(args.job)
    if record is None:
        raise BadInput("error.no_job", folder=str(args.job))
    staged = settings.paths.staging / record.item_id  # the station's job folder
    if args.job.resolve() != staged.resolve():
        raise BadInput("error.bag_not_staging", folder=str(args.job), item=record.item_id,
                       staging=str(staged))
    bar = ProgressLine(render=identify_line)
    try:
        with Station(settings, lambda step, p: bar(p) if step == "identify" else None,
                     _cancel_on_sigint()) as station:
            st = station.state(record.item_id)
            if st.bag is not None and st.state is not State.WITHDRAWN:  # bagged already
                result = station.result_of(record.item_id)
                result.bag = Path(st.bag.path)
                created = False
            else:
                result = station.accept(record.item_id, batch=args.batch, stage=False,
                                        bag_count=args.count)
                created = True
    finally:
        bar.close()
    from workbench.package.bags import read_info
    assert result.bag is not None
    info = dict(read_info(result.bag))
    print(t("bag.created" if created else "bag.exists", bag=str(result.bag),
            oxum=info.get("Payload-Oxum", ""),
            algorithms=", ".join(p.name[9:-4] for p in sorted(result.bag.glob("manifest-*.txt")))))
    return ExitCode.SUCCESS


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.package.profile import load_bag_profile
    from workbench.package.validate import validate_bag
    profile = load_bag_profile(settings.paths.profiles)
    problems = validate_bag(args.bag, profile, fast=args.fast)
    if problems:
        print(t("validate.invalid", bag=str(args.bag), count=len(problems)))
        for problem in problems:
            print(f"  - {problem}")
        return ExitCode.FAILED
    print(t("validate.fast_ok" if args.fast else "validate.ok", bag=str(args.bag)))
    return ExitCode.SUCCESS


def cmd_tape(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.station import Station
    from workbench.tape import stage
    from workbench.tape.tapes import label_tape, load_generations

    action = args.tape_command
    if action == "label":
        for other in stage.station_tapes(settings):  # one barcode, one tape
            if other.barcode == args.barcode and other.mount.resolve() != args.mount.resolve():
                raise BadInput("error.duplicate_barcode", barcode=args.barcode,
                               first=str(other.mount), second=str(args.mount))
        tape = label_tape(args.mount, args.barcode, args.pool, args.generation, args.capacity,
                          load_generations(settings.paths.profiles), settings.tape_pools)
        print(t("tape.labelled", mount=str(tape.mount), barcode=tape.barcode, pool=tape.pool,
                capacity=human_bytes(tape.capacity)))
        return ExitCode.SUCCESS
    if action not in ("plan", "write", "verify", "catalog", "release"):
        build_parser().parse_args(["tape", "--help"])
        return ExitCode.BAD_INPUT
    with Station(settings, cancel=_cancel_on_sigint()) as station:
        desk = station.tapes
        if action == "plan":
            assignments, unplaced = desk.plan()
            table([t("tape.barcode"), t("tape.pool"), t("tape.generation"), t("tape.used"),
                   t("tape.room")],
                  [[tp.barcode, tp.pool, tp.generation, human_bytes(tp.used()),
                    human_bytes(tp.room(settings.tape_headroom))]
                   for tp in stage.station_tapes(settings)], sys.stdout)
            print()
            for a in assignments:
                print(t("tape.assign", bag=a.bag.name, size=human_bytes(a.size), pool=a.pool,
                        barcode=a.barcode))
            for u in unplaced:
                print(t(f"tape.unplaced_{u.reason}", bag=u.bag.name, size=human_bytes(u.size),
                        pool=u.pool))
            return ExitCode.SUCCESS if not unplaced else ExitCode.PARTIAL
        if action == "write":
            done, unplaced = desk.write(args.bag)
            for e in done:
                print(t(f"tape.result_{e.result}", bag=e.bag, barcode=e.barcode, pool=e.pool,
                        detail=e.detail))
            for u in unplaced:
                print(t(f"tape.unplaced_{u.reason}", bag=u.bag.name, size=human_bytes(u.size),
                        pool=u.pool))
            if not done and not unplaced:
                print(t("tui.tape_nothing"))
            failed = any(e.result != "verified" for e in done) or \
                any(u.reason in ("missing", "failed") for u in unplaced)
            return ExitCode.FAILED if failed else ExitCode.PARTIAL if unplaced \
                else ExitCode.SUCCESS
        if action == "verify":
            checked = desk.verify(args.barcode)
            for e in checked:
                print(t(f"tape.checked_{e.result}", bag=e.bag, barcode=e.barcode, pool=e.pool,
                        detail=e.detail))
            return ExitCode.FAILED if any(e.result != "verified" for e in checked) \
                else ExitCode.SUCCESS
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
        worst = ExitCode.SUCCESS  # release: each item on its own; one refusal stops none
        for item in args.items:
            try:
                for path in station.release(item):
                    print(t("tape.released", path=str(path)))
            except WorkbenchError as exc:
                print(t("cli.error", message=exc), file=sys.stderr)
                worst = max(worst, exc.exit_code)
        return worst


COMMANDS = {"profiles": cmd_profiles, "drives": cmd_drives, "image": cmd_image,
            "identify": cmd_identify, "bag": cmd_bag, "validate": cmd_validate,
            "tape": cmd_tape, "training": cmd_training, **cli_ledger.COMMANDS}
