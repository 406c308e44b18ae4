"""Ingest pre-flight: the checks migrate makes before anything is read or written.

A block device that is mounted or the system disk is refused by the imaging pre-flight
(reused, not repeated); the station's own folders (staging, bags, ledger, tapes), a
folder holding them or one inside them are refused as a source (an ingest would copy
its own output); the staging disk must hold the source's files before the copy starts.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import psutil

from workbench.config import Settings
from workbench.errors import Refused
from workbench.i18n import human_bytes
from workbench.imaging import preflight


def station_folders(settings: Settings) -> list[Path]:
    p = settings.paths
    return [p.staging, p.bags, p.tape]


def _within(a: Path, b: Path) -> bool:
    return a == b or b in a.parents


def _existing(path: Path) -> Path:
    """path, or its nearest existing parent (staging is made on the first ingest)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def source_size(source: Path) -> int:
    """Bytes the copy will write: the regular files of a folder, or the whole image or
    device (its files cannot be larger)."""
    st = os.stat(source)
    if stat.S_ISBLK(st.st_mode):
        with open(source, "rb") as fh:
            return fh.seek(0, os.SEEK_END)
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size
    total = 0
    for top, _, names in os.walk(source):
        for name in names:
            try:
                f = os.lstat(os.path.join(top, name))
            except OSError:
                continue  # said when it is read
            if stat.S_ISREG(f.st_mode):
                total += f.st_size
    return total


def check_source(settings: Settings, source: Path) -> None:
    """Refused (exit 6) before anything is made when the ingest would be unsafe."""
    preflight.refuse_before_open(source)  # a mounted device, the system disk
    if not source.exists():
        return  # opening it says what is wrong
    real = source.resolve()
    for folder in station_folders(settings):
        own = folder.resolve()
        if _within(real, own) or _within(own, real):
            raise Refused("tapefix.own_folder", path=str(source), folder=str(folder))
    if _within(settings.paths.ledger.resolve(), real):
        raise Refused("tapefix.own_folder", path=str(source), folder=str(settings.paths.ledger))
    out = settings.paths.staging
    st = os.stat(real)
    if stat.S_ISBLK(st.st_mode):
        out_disk = preflight.whole_disk(os.stat(_existing(out)).st_dev)
        preflight.enforce([preflight.Check(
            "output_outside_source", out_disk != preflight.whole_disk(st.st_rdev),
            {"path": str(source), "out": str(out)})])
    needed = source_size(real)
    free = psutil.disk_usage(str(_existing(out))).free
    if free < needed + settings.free_space_margin:
        raise Refused("tapefix.no_room", path=str(source), out=str(out),
                      needed=human_bytes(needed + settings.free_space_margin),
                      free=human_bytes(free))
