"""Where a retrieval may write, and whether it fits: never into the station's own
folders (a tape's mount, the bags, staging: a bag there would be taken for one of the
station's), and not onto a disk without room for the copy (the catalogue knows its
size). A disk that fills anyway says so, with the partial copy gone and nothing
recorded against the tape copy."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path

import psutil

from workbench.config import Settings
from workbench.errors import Aborted, Refused
from workbench.i18n import human_bytes
from workbench.station.ingest_guard import _existing, _within, station_folders
from workbench.tape.catalogue import CopyEntry

SCRATCH = ".recopy"  # recopy's own folder under the bags (station/recopy.py)


def check_target(settings: Settings, to: Path) -> None:
    real = _existing(to).resolve() / to.absolute().relative_to(_existing(to))
    if real == (settings.paths.bags / SCRATCH).resolve():
        return  # recopy reads a copy back here, then removes it
    for folder in station_folders(settings):
        own = folder.resolve()
        if _within(real, own):  # beside them (the station's own folder) is fine
            raise Refused("tapefix.retrieve_own_folder", path=str(to), folder=str(folder))


def check_room(to: Path, entry: CopyEntry) -> None:
    free = psutil.disk_usage(str(_existing(to))).free
    if free < entry.bytes:
        raise Refused("tapefix.retrieve_no_room", bag=entry.bag, path=str(to),
                      needed=human_bytes(entry.bytes), free=human_bytes(free))


@contextlib.contextmanager
def disk_full(target: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise Aborted("tapefix.retrieve_disk_full", path=str(target.parent),
                          bag=target.name) from exc
        raise
