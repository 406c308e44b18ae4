"""What the flux readers accept as plausible, and the one tick-conversion rule.

A damaged or hostile file must give a BadInput, never a huge allocation or a hang: the
readers check every claimed size against the file before they allocate, and every
interval and revolution against limits no floppy drive comes near.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from workbench.errors import BadInput
from workbench.flux.model import Revolution

# The slowest floppy drives turn once in 0.2-0.6 s; an unformatted track may give one
# interval as long as a revolution. Five seconds for either is far past any real capture.
MAX_SECONDS = 5.0
# More index pulses per track than anyone captures (Greaseweazle's --revs is a byte too).
MAX_REVOLUTIONS = 255
# A whole SCP of 168 tracks at 20 revolutions stays under 1 GiB; a track file far less.
MAX_FILE_BYTES = 2 << 30


def read_bytes(path: Path) -> bytes:
    """The whole file, or a BadInput that says why not."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BadInput("flux_formats.too_large", path=str(path), size=size,
                           limit=MAX_FILE_BYTES)
        with open(path, "rb") as fh:
            return fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise BadInput("flux_formats.not_found", path=str(path)) from None
    except OSError as exc:
        raise BadInput("flux_formats.unreadable", path=str(path),
                       detail=exc.strerror or str(exc)) from None


def track_label(cylinder: int, head: int) -> str:
    return f"{cylinder}.{head}"


def checked_revolution(path: Path, track: str, rev: int, values: NDArray[Any],
                       tail: int, sample_hz: float) -> Revolution:
    """A Revolution from non-negative integer intervals (any width), refused when an
    interval or the revolution is absurd (the file is damaged, or not flux at all)."""
    limit = int(MAX_SECONDS * sample_hz)
    longest = int(values.max()) if values.size else 0
    if longest > limit or tail > limit:
        raise BadInput("flux_formats.absurd_interval", path=str(path), track=track,
                       rev=rev + 1, seconds=f"{max(longest, tail) / sample_hz:.3g}",
                       limit=f"{MAX_SECONDS:g}")
    total = int(values.sum(dtype=np.int64)) + tail
    if total > 2 * limit:
        raise BadInput("flux_formats.absurd_revolution", path=str(path), track=track,
                       rev=rev + 1, seconds=f"{total / sample_hz:.3g}",
                       limit=f"{2 * MAX_SECONDS:g}")
    return Revolution(intervals=values.astype(np.uint32, copy=False), tail=max(0, tail))


def split_revolutions(values: NDArray[np.int64], cut: NDArray[np.int64],
                      index: NDArray[np.int64]
                      ) -> tuple[list[tuple[NDArray[np.int64], int]], int, int]:
    """Cut a continuous capture into revolutions at its index pulses.

    values are every interval of the track in order (the first from the start of the
    capture); cut[k] is how many transitions come before pulse k, as the file records
    it, and index[k] the pulse's time from the start. A revolution's first interval counts
    from its pulse (the part of the interval the pulse fell in that came before the pulse
    is the previous revolution's tail), and its tail runs from its last transition to the
    closing pulse: intervals + tail = the time from pulse to pulse. Where a file's times
    contradict its own cut (a pulse outside the interval it is recorded in), the split is
    clamped to that interval. Returns (intervals, tail) per revolution, the count of
    transitions outside every whole revolution (before the first pulse, after the last)
    and the count of revolutions whose pulse times had to be clamped by over a tick."""
    times = np.cumsum(values)
    revs = []
    clamped = 0
    for n in range(cut.size - 1):
        a, b = int(cut[n]), int(cut[n + 1])
        start, stop = int(index[n]), int(index[n + 1])
        if a == b:
            revs.append((values[a:a], max(0, stop - start)))
            continue
        intervals = values[a:b].copy()
        before = int(times[a] - values[a])  # the transition before the pulse
        carry = min(max(start - before, 0), int(values[a]))
        intervals[0] -= carry
        tail = stop - int(times[b - 1])
        clamped += abs(carry - (start - before)) > 1 or tail < -1
        revs.append((intervals, max(tail, 0)))
    outside = int(cut[0]) + int(times.size - cut[-1]) if cut.size else int(times.size)
    return revs, outside, clamped


def joined(revs: list[Revolution]) -> tuple[list[NDArray[np.int64]], list[int]]:
    """The inverse of split_revolutions, for writers of continuous formats: each
    revolution's physical intervals (its first rejoined with the time before the pulse
    since the last transition) and, per pulse, the time since the last transition."""
    parts = []
    since = [0]  # the capture starts at the first pulse
    carry = 0
    for rev in revs:
        values = rev.intervals.astype(np.int64)
        if values.size:
            values[0] += carry
            carry = 0
        parts.append(values)
        carry += rev.tail
        since.append(carry)
    return parts, since


def resample(rev: Revolution, factor: float) -> Revolution:
    """The revolution in another sample clock (new ticks = old ticks * factor).

    The rule: each transition's time from the start of its revolution is rounded, not
    each interval, so no error accumulates: every transition lands within half a tick of
    its exact time, every interval within one tick of its exact scaled length, and the
    revolution's length (intervals + tail) is rounded once."""
    if factor == 1.0:
        return rev
    times = np.cumsum(rev.intervals, dtype=np.int64)
    scaled = np.floor(times * factor + 0.5).astype(np.int64)
    intervals = np.diff(scaled, prepend=np.int64(0))
    end = int(times[-1]) if times.size else 0
    new_end = int(scaled[-1]) if scaled.size else 0
    tail = int(np.floor((end + rev.tail) * factor + 0.5)) - new_end
    return Revolution(intervals=intervals.astype(np.uint32), tail=max(0, tail))
