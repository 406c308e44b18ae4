"""Unattended disc batches: an autoloader (a robot, a person at a plain drive, or the
simulated robot of training) feeds a drive; every disc goes through the Station and out
to the done bin or the reject bin; a morning report says what happened and why.

    loader, tray, drive = autoloader_for(station, "sim", drive="", batch="NIGHT-1")
    summary = AutoloadBatch(station, loader, tray, BatchOptions("NIGHT-1", drive)).run()
    report = night_report(station, since="", batch="NIGHT-1")
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import BadInput
from workbench.station.autoload.batch import (
    ACCEPT,
    AutoloadBatch,
    BatchOptions,
    BatchSummary,
    Disposition,
    read_items,
)
from workbench.station.autoload.loaders import (
    Autoloader,
    AutoloaderFailed,
    CommandAutoloader,
    ManualAutoloader,
)
from workbench.station.autoload.night import FORMATS, NightReport, night_report, write_night
from workbench.station.autoload.sim import STACK_FILE, SimAutoloader, build_stack
from workbench.station.autoload.tray import Tray, tray_for

if TYPE_CHECKING:
    from workbench.station.core import Station

KINDS = ("sim", "configured", "manual")

__all__ = ["ACCEPT", "FORMATS", "KINDS", "AutoloadBatch", "Autoloader", "AutoloaderFailed",
           "BatchOptions", "BatchSummary", "Disposition", "NightReport", "autoloader_for",
           "build_stack", "default_stack", "night_report", "read_items", "write_night"]


def default_stack(station: Station) -> Path:
    """The simulated robot's stack: beside the (training) staging area."""
    return station.settings.paths.staging.parent / "autoloader-stack"


def autoloader_for(station: Station, kind: str, drive: str, batch: str,
                   stack: Path | None = None) -> tuple[Autoloader, Tray, str]:
    """The autoloader of a kind, the drive's tray, and the drive's path. The simulated
    robot's drive is its stack's slot (made from the sample CD when the folder has no
    stack yet)."""
    if kind == "sim":
        folder = stack or default_stack(station)
        if not (folder / STACK_FILE).is_file():
            build_stack(folder)
        sim = SimAutoloader(folder)
        if drive and Path(drive).resolve() != sim.drive.resolve():
            raise BadInput("autoload.sim_drive", drive=drive, slot=str(sim.drive))
        return sim, tray_for(str(sim.drive)), str(sim.drive)
    if not drive:
        raise BadInput("autoload.needs_drive", kind=kind)
    tray = tray_for(drive)
    if kind == "configured":
        return CommandAutoloader(station.settings.autoloader, drive, batch), tray, drive
    if kind == "manual":
        return ManualAutoloader(station.settings, tray, station.cancel), tray, drive
    raise BadInput("autoload.bad_kind", kind=kind, allowed=", ".join(KINDS))
