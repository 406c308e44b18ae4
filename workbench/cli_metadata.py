"""`workbench describe`, `workbench conditions` and `workbench setup`; the description
options `migrate` takes and the columns `queue` reads. Registered by workbench.cli; the
rules are in workbench.station.metadata, workbench.carrier_info and workbench.config."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.config import Settings
from workbench.console import table
from workbench.errors import BadInput, ConfigError, ExitCode
from workbench.i18n import LANGUAGES, t

if TYPE_CHECKING:
    from workbench.station import Station

BAGGING = ("migrate", "accept", "queue", "bag", "retry")  # commands that may make a bag


def load_settings_for(argv: list[str], config: str | None) -> Settings:
    """The station settings; for `setup`, a settings file that does not exist yet is
    the one it makes (--config or $WORKBENCH_CONFIG naming a new file)."""
    from dataclasses import replace

    from workbench.config import find_config, load_settings
    try:
        return load_settings(config)
    except ConfigError as exc:
        path = find_config(config)
        if exc.key != "error.file_missing" or "setup" not in argv or path is None \
                or path.exists():
            raise
        return replace(Settings(), source=path)


def add_description_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalogue", metavar="ID", help=t("meta.cli_catalogue"))
    p.add_argument("--title", metavar="TEXT", help=t("meta.cli_title"))
    p.add_argument("--volume", metavar="N/M", help=t("meta.cli_volume"))
    p.add_argument("--condition", metavar="CODES", help=t("meta.cli_condition"))
    p.add_argument("--condition-note", metavar="TEXT", help=t("meta.cli_condition_note"))
    p.add_argument("--photo", action="append", default=[], metavar="ROLE=FILE",
                   help=t("meta.cli_photo"))
    p.add_argument("--photos", type=Path, metavar="DIR", help=t("meta.cli_photos"))
    p.add_argument("--camera", action="append", default=[], metavar="ROLE",
                   help=t("meta.cli_camera"))


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("describe", help=t("meta.cli_describe"))
    p.add_argument("item", metavar="ITEM", help=t("cli.image_item"))
    add_description_args(p)
    p.add_argument("--operator", metavar="NAME", help=t("cli.operator"))
    p.add_argument("--json", action="store_true", help=t("cli.json"))
    sub.add_parser("conditions", help=t("meta.cli_conditions"))

    p = sub.add_parser("setup", help=t("setup.cli"))
    p.add_argument("--organisation", metavar="NAME", help=t("setup.cli_organisation"))
    p.add_argument("--station-id", metavar="ID", help=t("setup.cli_station_id"))
    p.add_argument("--contact-name", metavar="NAME", help=t("setup.cli_contact_name"))
    p.add_argument("--contact-email", metavar="ADDRESS", help=t("setup.cli_contact_email"))
    p.add_argument("--language", choices=LANGUAGES, help=t("setup.cli_language"))
    p.add_argument("--pools", metavar="A,B", help=t("setup.cli_pools"))
    p.add_argument("--camera-command", metavar="COMMAND", help=t("setup.cli_camera"))
    p.add_argument("--camera-timeout", type=float, metavar="SECONDS",
                   help=t("setup.cli_camera_timeout"))
    p.add_argument("--codepage", metavar="CODEC", help=t("setup.cli_codepage"))
    p.add_argument("--operator", metavar="NAME", help=t("setup.cli_operator"))
    p.add_argument("--block-read-only", choices=("restore", "keep", "off"),
                   help=t("udev.cli_block_read_only"))
    p.add_argument("--udev", action="store_true", help=t("udev.cli"))
    p.add_argument("--dry-run", action="store_true", help=t("udev.cli_dry_run"))
    p.add_argument("--rules-dir", metavar="DIR", help=t("udev.cli_rules_dir"))
    p.add_argument("--clear-read-only", action="store_true", help=t("readonly_left.cli"))


def _photos(args: argparse.Namespace) -> list[tuple[str, Path]]:
    out = []
    for given in args.photo:
        role, eq, file = given.partition("=")
        if not eq or not file:
            raise BadInput("meta.bad_photo_arg", value=given)
        out.append((role, Path(file)))
    return out


def describe_from_args(station: Station, item: str, args: argparse.Namespace) -> bool:
    """Record what the options say about the carrier; False when they say nothing."""
    from workbench.station.metadata import describe
    given = (args.catalogue, args.title, args.volume, args.condition, args.condition_note)
    if all(v is None for v in given) and not (args.photo or args.photos or args.camera):
        return False
    warnings: list[str] = []
    describe(station, item, record_id=args.catalogue, title=args.title, volume=args.volume,
             conditions=args.condition, note=args.condition_note, photos=_photos(args),
             photo_folder=args.photos, camera=args.camera, warnings=warnings)
    _warn(warnings)
    return True


def _warn(warnings: list[str]) -> None:
    for line in warnings:
        print(t("mfix.warning", message=line), file=sys.stderr)


def describe_from_row(station: Station, item: str, row: dict[str, str | None]) -> None:
    """A queue row's columns catalogue, title, volume, condition (and condition_note,
    photos: a folder). Empty cells say nothing."""
    from workbench.station.metadata import describe

    def cell(name: str) -> str | None:
        value = (row.get(name) or "").strip()
        return value or None
    fields = (cell("catalogue"), cell("title"), cell("volume"), cell("condition"),
              cell("condition_note"))
    folder = cell("photos")
    if any(v is not None for v in fields) or folder:
        record_id, title, volume, conditions, note = fields
        warnings: list[str] = []
        describe(station, item, record_id=record_id, title=title, volume=volume,
                 conditions=conditions, note=note,
                 photo_folder=Path(folder) if folder else None, warnings=warnings)
        _warn(warnings)


def warn_setup(command: str | None, settings: Settings) -> None:
    """The one rule for the placeholder organisation: a real station that was never set
    up still makes bags (refusing would stop a night's batch over a name), but every
    command that may bag says so, as the UI does at start."""
    if command in BAGGING and settings.organisation_unset:
        print(t("setup.warn_unnamed", name=settings.organisation or "-"), file=sys.stderr)


def show_lines(station: Station, item: str) -> list[str]:
    """The description for `workbench show` ([] when the carrier has none)."""
    from workbench.station.metadata import shown
    return shown(station, item)


def cmd_describe(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict, replace

    from workbench.station import Station
    from workbench.station.metadata import current, lines
    if args.operator:
        settings = replace(settings, operator=args.operator)
    with Station(settings) as station:
        describe_from_args(station, args.item, args)
        info = current(station, args.item)
    if args.json:
        print(json.dumps(asdict(info) if info else {}, ensure_ascii=False, indent=2))
    else:
        print("\n".join(lines(info)))
    return ExitCode.SUCCESS


def cmd_conditions(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.carrier_info import CONDITIONS
    table([t("meta.col_code"), t("meta.col_words"), t("meta.col_families")],
          [[code, t(f"condition.{code}"), ", ".join(families)]
           for code, families in CONDITIONS.items()], sys.stdout)
    return ExitCode.SUCCESS


def cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.station.setup import save, settings_file
    path = settings_file(settings)
    values: dict[str, str | float | None] = {
        "station_id": args.station_id, "organisation": args.organisation,
        "contact_name": args.contact_name, "contact_email": args.contact_email,
        "language": args.language, "pools": args.pools, "codepage": args.codepage,
        "operator": args.operator, "camera_command": args.camera_command,
        "camera_timeout": args.camera_timeout, "block_read_only": args.block_read_only}
    if any(v is not None for v in values.values()):
        settings = save(path, values)
        print(t("setup.written", file=str(path)))
    if args.clear_read_only:  # flags killed runs left set (imaging/readonly_left.py)
        from workbench.imaging.readonly_left import clear_left
        for line in clear_left(settings):
            print(line)
        return ExitCode.SUCCESS
    if args.udev:
        from workbench.station.udev import RULES_DIR, run_setup
        for line in run_setup(Path(args.rules_dir) if args.rules_dir else RULES_DIR,
                              dry_run=args.dry_run, exempt=settings.udev_exempt):
            print(line)
        return ExitCode.SUCCESS
    for line in setup_summary(settings):
        print("  " + line)
    if settings.organisation_unset:
        print(t("setup.warn_unnamed", name=settings.organisation or "-"), file=sys.stderr)
    return ExitCode.SUCCESS


def setup_summary(s: Settings) -> list[str]:
    return [t("setup.line_station", station=s.station_id),
            t("setup.line_organisation", organisation=s.organisation),
            t("setup.line_contact", name=s.contact_name or "-", email=s.contact_email or "-"),
            t("setup.line_language", language=s.language),
            t("setup.line_pools", pools=", ".join(s.tape_pools)),
            t("setup.line_camera", command=s.camera_command or "-",
              seconds=f"{s.camera_timeout:g}"),
            t("setup.line_codepage", codepage=s.legacy_codepage),
            t("udev.line_block", policy=s.block_read_only),
            udev_summary_line(s.udev_exempt)]


def udev_summary_line(exempt: tuple[str, ...] = ()) -> str:
    from workbench.station.udev import summary_line
    return summary_line(exempt=exempt)


COMMANDS = {"describe": cmd_describe, "conditions": cmd_conditions, "setup": cmd_setup}
