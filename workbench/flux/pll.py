"""Clock recovery: from the times between flux transitions to a stream of cells.

A cell is half a data bit (the clock or the data position): IBM MFM puts 2, 3 or 4 cells
between transitions, FM 1 or 2. Everything here is numpy over whole revolutions:

1. the cell length comes from a histogram of the intervals (the scale at which most
   intervals sit near 2, 3 or 4 cells); a track whose intervals never sit 3 cells apart
   is FM (then the cell is twice as long);
2. the local cell length follows speed drift: sum of intervals over sum of their
   rounded cell counts in a sliding window;
3. the phase is tracked like a PLL, but without a loop: every transition's position in
   cells gives a unit phasor; their windowed sum points at the local grid, so a
   transition's cell index is its position rounded against that grid. Errors do not
   accumulate (a PLL's cycle slip becomes a one-cell shift that the grid absorbs), and the
   centred window is as good as a PLL looking both ways.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_BIN_US = 0.02  # histogram bin
_RATE_WINDOW = 256  # transitions over which the cell length is averaged
_PHASE_WINDOW = 48  # transitions over which the phase is averaged
MAX_GAP_CELLS = 16  # longer silences are cut (no IBM pattern has more than 4)


@dataclass(frozen=True)
class Clock:
    """The cell length found for a stretch of flux and whether it looks FM."""

    cell_us: float
    fm: bool
    fit: float  # share of intervals near a whole number of cells (0..1)


@dataclass(frozen=True)
class Cells:
    """A clocked stream: one byte (0 or 1) per cell, and where each transition fell."""

    bits: NDArray[np.uint8]
    index: NDArray[np.int64]  # cell index of each transition
    time_us: NDArray[np.float64]  # time of each transition from the stream's start
    cell_us: float  # the median local cell length
    locked: float  # share of transitions within 0.2 cells of the recovered grid


def find_clock(x_us: NDArray[np.float64]) -> Clock | None:
    """The cell length that explains the most intervals as 2/3/4 cells (MFM). None when
    there are too few intervals to say."""
    xs = x_us[(x_us > 0.3) & (x_us < 24.0)]
    if xs.size < 64:
        return None
    nbins = int(24.0 / _BIN_US) + 2
    hist = np.bincount((xs / _BIN_US).astype(np.int64), minlength=nbins)
    cum = np.concatenate(([0], np.cumsum(hist)))
    cells = np.geomspace(5.0, 0.25, 700)  # descending: on a tie, the longer cell wins
    m = np.array([2.0, 3.0, 4.0])
    lo = np.clip(((m - 0.3)[None, :] * cells[:, None] / _BIN_US).astype(np.int64), 0, nbins)
    hi = np.clip(((m + 0.3)[None, :] * cells[:, None] / _BIN_US).astype(np.int64), 0, nbins)
    counts = cum[hi] - cum[lo]  # (candidates, 3)
    best = int(np.argmax(counts.sum(axis=1)))
    cell = float(cells[best])
    near = np.rint(xs / cell)
    ok = (near >= 2) & (near <= 4) & (np.abs(xs / cell - near) < 0.3)
    if ok.any():
        cell = float(xs[ok].sum() / near[ok].sum())  # refine on the intervals that fit
    fit = float(ok.mean())
    threes = counts[best, 1] / max(1, counts[best].sum())
    if threes < 0.03:  # never 3 cells: FM, whose cell is the 2-cell unit here
        return Clock(cell * 2.0, True, fit)
    return Clock(cell, False, fit)


def _movsum(a: NDArray[np.float64], w: int) -> NDArray[np.float64]:
    """Centred moving sum (windows shrink at the ends); slices only, no index arrays."""
    n = a.size
    h = min(w // 2, n)
    c = np.empty(n + 1)
    c[0] = 0.0
    np.cumsum(a, out=c[1:])
    hi = np.concatenate((c[h + 1:], np.full(h, c[-1])))[:n]
    lo = np.concatenate((np.zeros(h), c[:n + 1 - h]))[:n]
    return hi - lo


def _unwrap(turns: NDArray[np.float64]) -> NDArray[np.float64]:
    """Phase in turns made continuous (no jump over half a turn between neighbours)."""
    d = np.diff(turns, prepend=0.0)
    d -= np.rint(d)
    return np.cumsum(d)


def recover(x_us: NDArray[np.float64], clock: Clock) -> Cells:
    """The cell stream of a run of intervals, at the given nominal cell length."""
    cell = clock.cell_us
    longest = 2 if clock.fm else 4
    local = np.full(x_us.size, cell)
    for _ in range(2):  # follow the speed: local cell length from rounded counts
        n = np.rint(x_us / local)
        ok = (n >= 1) & (n <= longest)
        num = _movsum(np.where(ok, x_us, 0.0), _RATE_WINDOW)
        den = _movsum(np.where(ok, n, 0.0), _RATE_WINDOW)
        local = np.clip(np.divide(num, den, out=np.full(x_us.size, cell), where=den > 0),
                        cell * 0.75, cell * 1.33)
    phase = np.cumsum(x_us / local)  # position in cells
    turn = 2 * np.pi * (phase % 1.0)
    grid = _unwrap(np.arctan2(_movsum(np.sin(turn), _PHASE_WINDOW),
                              _movsum(np.cos(turn), _PHASE_WINDOW)) / (2 * np.pi))
    pos = phase - grid
    k = np.rint(pos)
    locked = float(np.mean(np.abs(pos - k) < 0.2)) if k.size else 0.0
    steps = np.diff(k, prepend=0.0)
    steps[0] = max(1.0, np.rint(x_us[0] / cell)) if k.size else 0.0
    index = np.cumsum(np.clip(steps, 0, MAX_GAP_CELLS)).astype(np.int64)
    bits = np.zeros(int(index[-1]) + 1 if index.size else 0, np.uint8)
    bits[index] = 1
    return Cells(bits, index, np.cumsum(x_us), float(np.median(local)) if local.size else cell,
                 locked)
