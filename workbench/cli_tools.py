"""The file-level commands: identify an image, validate a bag (the tapes are in
cli_tape.py). Registered by workbench.cli."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from workbench.atomic import write_atomic
from workbench.config import Settings
from workbench.console import ProgressLine, cancel_on_sigint, identify_line
from workbench.errors import Aborted, ExitCode
from workbench.i18n import human_bytes, t
from workbench.station import Cancelled, environment_line

if TYPE_CHECKING:
    from workbench.identify.report import FormatReport


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
        from workbench.scan.virus import VirusScan
        report = identify_image(image_path, settings, map_path=map_path, digests=digests,
                                workers=args.workers, progress=bar,
                                scanner=VirusScan.for_settings(settings),
                                cancel=cancel_on_sigint("identify.cancelling"))
    except (Cancelled, KeyboardInterrupt):  # nothing is written: no resume to promise
        raise Aborted("identify.cancelled") from None
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
    from workbench.console import more_line
    s = report.summary()
    fmt = report.image_format
    print(t("identify.image", image=report.image,
            kind=(fmt.get("puid") and f"{fmt['puid']} {fmt['name']}") or fmt["file_system"]),
          file=out)
    print(environment_line(report.environment), file=out)
    from workbench.station.guard_words import virus_lines
    for line in virus_lines(report.virus_scan):
        print(line, file=out)
    if not report.complete:
        print(t("identify.incomplete"), file=out)
    for v in report.volumes:
        print("  " + t("identify.volume", index=v.index + 1, fs=v.fs_type or "-",
                       label=v.label or "-", files=v.files), file=out)
        for error in v.errors[:5]:
            print("    " + t("identify.volume_error", error=error), file=out)
        for line in more_line(5, len(v.errors)):
            print("    " + line, file=out)
    print(t("identify.totals", files=s["files"], bytes=human_bytes(s["bytes"]),
            unidentified=len(s["unidentified"]), damaged=len(s["damaged"]),
            duplicates=len(s["duplicates"]), zero=len(s["zero_byte"])), file=out)
    from workbench.station.result import format_lines
    named = {"summary": s, "files": [{"puid": f.puid, "format_name": f.format_name}
                                     for f in report.files]}
    for line in format_lines(named, 10):
        print("  " + line, file=out)
    from workbench.identify.report import escape_invisible
    for line in [t("identify.damaged", path=escape_invisible(item["path"]),
                   bytes=item["bytes_lost"]) for item in s["damaged"][:10]] \
            + more_line(10, len(s["damaged"])):
        print("  " + line, file=out)


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    """Any bag: RFC 8493 (BagIt 0.93 to 1.0); our profile when the bag declares it or
    --profile asks; bagit-python's second opinion. Errors, then warnings, one a line."""
    from workbench.package.profile import load_bag_profile
    from workbench.package.validate import describe, printable, validate_any
    profile = load_bag_profile(settings.paths.profiles)
    report = validate_any(args.bag, profile, force_profile=args.profile, fast=args.fast)
    bag = printable(str(args.bag))
    if report.version is not None:
        print(t("validate.about", version="{}.{}".format(*report.version),
                encoding=report.encoding or "?",
                profile=t("validate.profile_ours" if report.profile
                          else "validate.profile_none")))
    verdict = report.verdict
    if verdict == "invalid":
        print(t("validate.invalid", bag=bag, count=len(report.errors)))
    elif verdict == "incomplete":
        print(t("validate.incomplete", bag=bag, count=len(report.to_fetch)))
    elif verdict == "disputed":
        print(t("tapefix.validate_disputed", bag=bag, count=len(report.warnings)))
    else:
        print(t("validate.fast_ok" if verdict == "complete" else "validate.ok", bag=bag))
    for problem in report.errors:
        print(f"  - {describe(problem)}")
    for path in report.to_fetch[:20]:
        print(t("validate.to_fetch_item", path=printable(path)))
    if report.warnings:
        print(t("validate.warnings", count=len(report.warnings)))
    for problem in report.warnings:
        print(f"  - {t('validate.warning', text=describe(problem))}")
    if verdict == "invalid":
        return ExitCode.FAILED
    return ExitCode.PARTIAL if verdict in ("incomplete", "disputed") else ExitCode.SUCCESS


COMMANDS = {"identify": cmd_identify, "validate": cmd_validate}
