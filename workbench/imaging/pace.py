"""How fast a virtual drive reads: training drives take a real drive's time, so a trainee
sees progress, can cancel and resume; tests and scripts read them at full speed.

A drive file (*.drive.toml) may set `rate`: bytes per second (a number), or text with a
unit: "27 KB/s", "1.5 MB/s", "512 KiB/s", or "24x" for an optical disc (1x CD = 75
sectors of 2,048 bytes a second = 153,600 B/s; 1x DVD = 1,385,000 B/s; 1x BD =
4,495,500 B/s; which one is the drive's profile: cd, dvd or bd). 0 reads at full speed.
Unset, the rate is the usual one for the drive's profile (or transport).

Fast mode: WORKBENCH_TRAINING_SPEED=fast reads every virtual drive at full speed
(the test suite sets it); "real" (the default) honours the rates.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from workbench.errors import BadInput

SPEED_ENV = "WORKBENCH_TRAINING_SPEED"
SPEEDS = ("real", "fast")

CD_1X = 75 * 2048  # 153,600 B/s of user data (Mode 1, 2,048-byte sectors)
DVD_1X = 1_385_000
BD_1X = 4_495_500
ONE_X = {"cd": CD_1X, "dvd": DVD_1X, "bd": BD_1X}

KB, MB = 1000, 1000 * 1000
# A USB floppy drive reads a track per turn plus a step: a 3.5-inch 2HD disk (160 tracks
# of 18 sectors) takes about 55 s; 2DD tracks hold half that, 2ED twice.
DEFAULT_RATES: dict[str, float] = {
    "fd35-2dd": 13 * KB, "fd525-2d": 13 * KB,
    "fd35-2hd": 27 * KB, "fd525-2hd": 27 * KB, "pc98-2hd": 27 * KB,
    "fd35-2ed": 54 * KB,
    "cd": 24 * CD_1X, "dvd": 8 * DVD_1X, "bd": 6 * BD_1X,
    "mo-128": 2 * MB, "mo-230": 2.5 * MB, "mo-540": 4 * MB, "mo-640": 4 * MB,
    "mo-1300": 5 * MB, "mo-2300": 5 * MB,
    "usb": 20 * MB, "hdd": 100 * MB,
}
# a profile of the station's own (not listed above), by the start of its name
_PREFIX_RATES = (("fd", 27 * KB), ("pc98", 27 * KB), ("mo", 3 * MB), ("usb", 20 * MB))
# no profile named: by the drive's transport
_TRANSPORT_RATES = {"sr": 24 * CD_1X, "usb": 20 * MB, "floppy": 27 * KB}

_UNITS = {"b/s": 1, "kb/s": KB, "mb/s": MB, "gb/s": 1000 * MB,
          "kib/s": 1024, "mib/s": 1024 * 1024, "gib/s": 1024 ** 3}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z/]*)\s*$", re.IGNORECASE)
ALLOWED = ('bytes per second (a number), or text such as "27 KB/s", "2.5 MB/s", '
           '"512 KiB/s", or "24x" for a cd, dvd or bd profile; 0: full speed')


def default_rate(profile: str, transport: str) -> float:
    """The usual read rate of a drive for this profile (or transport); 0: unknown, read
    at full speed."""
    if profile in DEFAULT_RATES:
        return DEFAULT_RATES[profile]
    for prefix, rate in _PREFIX_RATES:
        if profile.startswith(prefix):
            return rate
    return _TRANSPORT_RATES.get(transport, 0.0)


def parse_rate(value: object, profile: str, file: Path, key: str = "rate") -> float:
    """A drive file's rate in bytes per second; BadInput naming the file and the key."""
    def bad() -> BadInput:
        return BadInput("error.bad_value", file=str(file), key=key, value=repr(value),
                        allowed=ALLOWED)
    if isinstance(value, bool):
        raise bad()
    if isinstance(value, int | float):
        number, unit = float(value), "b/s"
    elif isinstance(value, str) and (m := _RATE.match(value)):
        number, unit = float(m.group(1)), (m.group(2) or "b/s").lower()
    else:
        raise bad()
    if unit == "x":
        if profile not in ONE_X:
            raise bad()
        rate = number * ONE_X[profile]
    elif unit in _UNITS:
        rate = number * _UNITS[unit]
    else:
        raise bad()
    if not math.isfinite(rate) or rate < 0:
        raise bad()
    return rate


def training_speed() -> str:
    """real (the default) or fast, from WORKBENCH_TRAINING_SPEED."""
    value = os.environ.get(SPEED_ENV, "").strip().lower() or "real"
    if value not in SPEEDS:
        raise BadInput("error.bad_value", file="environment", key=SPEED_ENV,
                       value=repr(value), allowed=", ".join(SPEEDS))
    return value


class Pace:
    """One drive's clock: reads of n bytes at `rate` bytes a second. Each read is given
    its slot on the drive's timeline; the reader waits until its slot ends. The drive
    reads ahead into its cache for up to `cache_seconds` while the host hashes and
    writes, so host work between reads does not slow it below its rate; an idle drive
    does not bank more than that. The wait ends early when `cancel` is set (the engine
    then stops before its next read). clock and wait are injectable for tests."""

    def __init__(self, rate: float, cache_seconds: float = 0.5,
                 clock: Callable[[], float] = time.monotonic,
                 wait: Callable[[threading.Event, float], object] | None = None) -> None:
        self.rate = rate
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._wait = wait or (lambda event, seconds: event.wait(seconds))
        self._due: float | None = None  # when the drive has read everything asked so far
        self._lock = threading.Lock()  # held for arithmetic only, never while waiting

    @property
    def due(self) -> float | None:
        """When the reads booked so far are done (None: nothing booked)."""
        return self._due

    def delay_for(self, nbytes: int) -> float:
        """Book nbytes on the drive's timeline: the seconds to wait from now."""
        if self.rate <= 0 or nbytes <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            start = now if self._due is None else max(self._due, now - self.cache_seconds)
            self._due = start + nbytes / self.rate
            return max(0.0, self._due - now)

    def take(self, nbytes: int, cancel: threading.Event) -> None:
        """Wait for nbytes to be read, or until cancel is set."""
        delay = self.delay_for(nbytes)
        if delay > 0 and not cancel.is_set():
            self._wait(cancel, delay)
        if cancel.is_set():
            with self._lock:  # a cancelled run's booked time is not owed by the next
                self._due = None
