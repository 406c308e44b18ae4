"""`workbench signatures show|load FILE`: which PRONOM signatures identification uses, and
loading a newer signature file offline into the station's data folder
(workbench.identify.signatures). Registered by workbench.cli."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workbench.config import Settings
from workbench.errors import ExitCode
from workbench.i18n import t


def add_parsers(sub: argparse._SubParsersAction) -> None:
    sig = sub.add_parser("signatures", help=t("sig.cli.signatures")).add_subparsers(
        dest="signatures_command", metavar="ACTION")
    p = sig.add_parser("show", help=t("sig.cli.show"))
    p.add_argument("--json", action="store_true", help=t("cli.json"))
    p = sig.add_parser("load", help=t("sig.cli.load"))
    p.add_argument("file", metavar="FILE", type=Path, help=t("sig.cli.load_file"))
    p.add_argument("--allow-older", action="store_true", help=t("sig.cli.allow_older"))


def cmd_signatures(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from workbench.identify import signatures
    from workbench.identify.signatures_local import FORMATS
    store = signatures.store_dir(settings.paths.ledger)
    if args.signatures_command == "load":
        loaded = signatures.load(store, args.file, allow_older=args.allow_older)
        print(t("sig.loaded", label=loaded.label, folder=str(store)))
        return ExitCode.SUCCESS
    current = signatures.active(store)
    if getattr(args, "json", False):
        print(json.dumps({**asdict(current), "label": current.label, "store": str(store),
                          "fido_version": signatures.fido_version(),
                          "local_formats": {k: f.name for k, f in FORMATS.items()}},
                         ensure_ascii=False, indent=2))
        return ExitCode.SUCCESS
    print(t("sig.show.fido", version=signatures.fido_version()))
    print(t("sig.show.set", label=current.label))
    if current.source == "loaded":
        print(t("sig.show.loaded", source=current.loaded_from, when=current.loaded_at,
                folder=str(store)))
    else:
        print(t("sig.show.shipped", folder=str(store)))
    print(t("sig.show.local", count=len(FORMATS),
            names=", ".join(f"{k} {f.name}" for k, f in FORMATS.items())))
    return ExitCode.SUCCESS


COMMANDS = {"signatures": cmd_signatures}
