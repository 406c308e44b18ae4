"""Room on the disk for flux, checked before anything is written, and a full disk while
copying a capture in named by the folder it filled.

    refuse_unless_room(job, needed, settings.free_space_margin, "copy")
    copy_in(sources_and_targets)   # all or nothing: no half copy is left

A capture brought in has a known size; a Greaseweazle capture is estimated from its plan
(CapturePlan.bytes_needed: the tracks still to capture, a revolution more than asked).
The image, map and D88 the decode writes afterwards are counted too (the profile's
largest size, twice): a capture that fits but leaves no room for its image would stop
half-way.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from workbench.errors import Aborted, Refused
from workbench.i18n import human_bytes
from workbench.profiles import MediaProfile

_FULL = (errno.ENOSPC, errno.EDQUOT)


def free_bytes(folder: Path) -> int:
    """Free space where folder is (or would be made: its nearest existing parent)."""
    path = folder.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def image_bytes(profile: MediaProfile) -> int:
    """What the decode writes after the capture: the image and a D88 of its size."""
    return 2 * max(profile.expected_sizes, default=0)


def track_data_bytes(profile: MediaProfile) -> int:
    """Sector data on one track (the profile's largest size over its tracks)."""
    flux = profile.flux
    tracks = flux.cylinders * flux.heads if flux is not None else 0
    return max(profile.expected_sizes, default=0) // tracks if tracks else 0


def refuse_unless_room(folder: Path, needed: int, margin: int, what: str) -> None:
    """Refused, naming the folder, the space needed (with the station's margin) and the
    space free, when the disk under folder cannot take needed bytes. what: "copy" (a
    capture brought in) or "capture" (a Greaseweazle capture, estimated)."""
    free = free_bytes(folder)
    if free < needed + margin:
        raise Refused(f"flux.no_space_{what}", folder=str(folder),
                      needed=human_bytes(needed + margin), free=human_bytes(free))


def copy_in(pairs: list[tuple[Path, Path]], named: Path | None = None) -> None:
    """Each source copied to its target (under a temporary name, fsynced, renamed). A
    failure removes what this call wrote (the part being written and the files copied
    before it), so no half capture is left to be read as a whole one; the sources are
    only read. A full disk names the target's folder (or named: the folder the copy
    becomes), not the source."""
    done: list[Path] = []
    for src, target in pairs:
        part = target.with_name(".part-" + target.name)
        try:
            shutil.copyfile(src, part)
            with open(part, "rb+") as fh:
                os.fsync(fh.fileno())
            part.replace(target)
        except OSError as exc:
            for path in (part, *done):
                path.unlink(missing_ok=True)
            if exc.errno in _FULL:
                raise Aborted("flux.copy_disk_full",
                              folder=str(named or target.parent)) from exc
            raise
        done.append(target)
