"""Which Greaseweazle: a station may have several, each a USB serial device (gw --device).

    gw_device("gw:/dev/ttyACM1") -> "/dev/ttyACM1"      # said outright
    gw_device("/dev/ttyACM1")    -> "/dev/ttyACM1"      # a serial device is a Greaseweazle
    gw_device("/dev/sdb")        -> None                # a drive (a USB floppy drive)

One gw at a time on a Greaseweazle, whichever of its drives (A, B) it reads: the lock is
per device. Without --device, gw takes the first it finds: with one Greaseweazle
plugged in, that is the lock of its device (the same as naming it); with none or several
found, the lock "default" (machine-wide).
"""

from __future__ import annotations

import re
from pathlib import Path

PREFIX = "gw:"
DEFAULT_PATH = "/dev/greaseweazle"  # the lock (and drive path) of gw's own choice
_SERIAL = re.compile(r"^(/dev/(ttyACM\d+|ttyUSB\d+|serial/by-(id|path)/.+|cu\..+|tty\.usb.+)"
                     r"|COM\d+)$")


def gw_device(drive: str | None) -> str | None:
    """The Greaseweazle device a --drive names, or None for any other drive."""
    if not drive:
        return None
    if drive.startswith(PREFIX):
        return drive[len(PREFIX):]
    return drive if _SERIAL.match(drive) else None


BY_ID = Path("/dev/serial/by-id")  # udev's stable names: usb-Keir_Fraser_Greaseweazle_...


def plugged_in(by_id: Path | None = None) -> list[str]:
    """The serial devices of the Greaseweazles plugged in (their real paths)."""
    try:
        return sorted({str(p.resolve()) for p in (by_id or BY_ID).iterdir()
                       if "greaseweazle" in p.name.lower()})
    except OSError:  # no serial device at all: the folder is not there
        return []


def lock_path(device: str) -> str:
    """The drive-lock key of a Greaseweazle (one gw at a time on it). gw's own choice with
    one plugged in is that one: naming it and not naming it take the same lock."""
    if device:
        return device
    found = plugged_in()
    return found[0] if len(found) == 1 else DEFAULT_PATH


def drive_path(device: str, drive: str) -> str:
    """The job record's drive path: the device and the drive letter it read with."""
    return f"{device}#{drive}" if device else f"{DEFAULT_PATH}-{drive}"


def device_of(path: str) -> str:
    """The device a recorded drive path names ("" for gw's own choice)."""
    return path.rsplit("#", 1)[0] if "#" in path else ""
