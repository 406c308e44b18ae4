"""`workbench image --flux [CAPTURE]`: image a floppy from flux, through the station's
flux flow (workbench/station/flux.py). With a path (an .scp file or a KryoFlux folder),
that capture is brought into the job folder and decoded; without one, a Greaseweazle
(`gw` on PATH) captures the disk into the job folder, track by track. The same command
again resumes an interrupted capture, then captures again only the tracks with bad
sectors (with the profile's retry revolutions)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.console import ProgressLine, cancel_on_sigint
from workbench.i18n import t
from workbench.profiles import get_profile, load_profiles


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flux", nargs="?", const="", default=None, metavar="CAPTURE",
                        help=t("flux.cli_flux"))
    parser.add_argument("--gw-device", default="", metavar="DEVICE",
                        help=t("flux.cli_gw_device"))


def _flux_progress(bar: ProgressLine) -> Any:
    def show(step: str, p: Any) -> None:
        if step == "image":
            bar(p)
        elif step == "flux":
            from workbench.station.flux_words import flux_progress_text
            text = flux_progress_text(p)
            if text and (getattr(p, "done", 0) % 20 == 0 or getattr(p, "done", 0) ==
                         getattr(p, "total", -1)):
                print(text, file=sys.stderr)
    return show


def cmd_image_flux(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.cli import print_record
    from workbench.imaging.record import Outcome
    from workbench.station import Station
    from workbench.station.flux import image_flux
    from workbench.station.flux_words import flux_reminders
    profile = get_profile(load_profiles(settings.paths.profiles), args.profile)
    for reminder in flux_reminders(capturing=not args.flux):  # not the USB drive's
        print(t("cli.reminder", text=reminder), file=sys.stderr)
    command = shlex.join(["workbench", *sys.argv[1:]])
    bar = ProgressLine()
    try:
        with Station(settings, _flux_progress(bar), cancel_on_sigint()) as station:
            result = image_flux(station, args.item, profile,
                                Path(args.flux) if args.flux else None, command=command,
                                device=args.gw_device)
    finally:
        bar.close()
    if args.json:
        print(result.record.to_json(), end="")
    else:
        print_record(result.record, result.job_dir)
    return Outcome(result.record.outcome).exit_code


def training_flux(station: Any, bar: Any) -> list[list[str]]:
    """`workbench training --flux`: every training flux recipe (media/flux/) through the
    whole pipeline like the training drives: its capture (built on first use in the
    training area), decoded and imaged, then accepted. Rows for the summary table."""
    from workbench.cli_ledger import training_row
    from workbench.flux.training import recipes, training_capture
    from workbench.station.flux import image_flux
    from workbench.station.next_step import Way, continuation
    rows = []
    for recipe in recipes():
        item = f"TRAIN-FLUX-{recipe.name}"
        profile = station.profiles[recipe.profile]
        print(t("training.drive", drive=recipe.model, profile=profile.label()))
        try:
            if continuation(station, item).way in (Way.IMAGE, Way.FLUX):
                capture = training_capture(recipe, station.settings.paths.staging.parent
                                           / "flux-media")
                result = image_flux(station, item, profile, capture, batch="TRAINING",
                                    command=f"workbench training --flux ({recipe.name})")
            else:
                result = station.result_of(item)
            if continuation(station, item).way is Way.REVIEW:
                result = station.accept(item, batch="TRAINING")
        finally:
            bar.close()
        rows.append(training_row(item, result.record.profile_id, result))
        if station.cancel.is_set():
            break
    return rows
