"""Clock recovery: from the times between flux transitions to a stream of cells.

A cell is half a data bit (the clock or the data position): IBM MFM puts 2, 3 or 4 cells
between transitions, FM 1 or 2. Everything here is numpy over whole revolutions:

1. the cell length comes from a histogram of the intervals (the scale at which most
   intervals sit near 2, 3 or 4 cells); a track whose intervals never sit 3 cells apart
   is FM (then the cell is twice as long);
2. the local cell length follows speed drift: sum of intervals over sum of their
   rounded cell counts, per block of transitions with its neighbours;
3. the phase is tracked like a PLL, but without a loop: every transition's position in
   cells gives a unit phasor (a table lookup); their sum over a few dozen transitions
   points at the local grid, interpolated between blocks, so a transition's cell index is
   its position rounded against that grid. Errors do not accumulate (a PLL's cycle slip
   becomes a one-cell shift that the grid absorbs), and the centred window is as good as
   a PLL looking both ways.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_BIN_US = 0.02  # histogram bin
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


_RATE_BLOCK = 256  # transitions per block of the cell-length estimate (3 blocks averaged)
_PHASE_BLOCK = 24  # transitions per block of the phase estimate (3 blocks averaged)
_TURN = 1024  # phasor table resolution (1/1024 cell)
_COS = np.cos(2 * np.pi * np.arange(_TURN) / _TURN)
_SIN = np.sin(2 * np.pi * np.arange(_TURN) / _TURN)


def _block_sums(a: NDArray[np.float64], block: int) -> NDArray[np.float64]:
    """Sums over consecutive blocks, each with its neighbours (a 3-block window)."""
    sums = np.add.reduceat(a, np.arange(0, a.size, block))
    return np.convolve(sums, np.ones(3), mode="same")


def _local_cell(x_us: NDArray[np.float64], cell: float, longest: int,
                ) -> NDArray[np.float64]:
    """The cell length around each transition: intervals over their rounded cell counts,
    counting only intervals that round to a legal count. Twice, from the nominal cell."""
    local: NDArray[np.float64] | float = cell
    for _ in range(2):
        n = np.rint(x_us / local)
        ok = (n >= 1) & (n <= longest)
        num = _block_sums(np.where(ok, x_us, 0.0), _RATE_BLOCK)
        den = _block_sums(np.where(ok, n, 0.0), _RATE_BLOCK)
        rate = np.clip(np.divide(num, den, out=np.full(num.size, cell), where=den > 0),
                       cell * 0.75, cell * 1.33)
        local = np.repeat(rate, _RATE_BLOCK)[:x_us.size]
    assert isinstance(local, np.ndarray)
    return local


def _grid(phase: NDArray[np.float64]) -> NDArray[np.float64]:
    """The local grid offset (in cells) at each transition: the angle of the summed unit
    phasors of each block's transitions, made continuous, interpolated between blocks."""
    n = phase.size
    turn = ((phase - np.floor(phase)) * _TURN).astype(np.intp) & (_TURN - 1)
    c = _block_sums(_COS[turn], _PHASE_BLOCK)
    s = _block_sums(_SIN[turn], _PHASE_BLOCK)
    offset = np.arctan2(s, c) / (2 * np.pi)
    d = np.diff(offset, prepend=0.0)
    offset = np.cumsum(d - np.rint(d))  # no jump over half a cell between blocks
    starts = np.arange(0, n, _PHASE_BLOCK)
    centres = (starts + np.minimum(starts + _PHASE_BLOCK, n) - 1) / 2.0
    return np.interp(np.arange(n, dtype=np.float64), centres, offset)


def recover(x_us: NDArray[np.float64], clock: Clock) -> Cells:
    """The cell stream of a run of intervals, at the given nominal cell length."""
    cell = clock.cell_us
    if x_us.size == 0:
        return Cells(np.zeros(0, np.uint8), np.zeros(0, np.int64), x_us, cell, 0.0)
    local = _local_cell(x_us, cell, 2 if clock.fm else 4)
    phase = np.cumsum(x_us / local)  # position in cells
    pos = phase - _grid(phase)
    k = np.rint(pos)
    locked = float(np.mean(np.abs(pos - k) < 0.2))
    steps = np.diff(k, prepend=0.0)
    steps[0] = max(1.0, np.rint(x_us[0] / cell))
    index = np.cumsum(np.clip(steps, 0, MAX_GAP_CELLS)).astype(np.int64)
    bits = np.zeros(int(index[-1]) + 1, np.uint8)
    bits[index] = 1
    return Cells(bits, index, np.cumsum(x_us), float(np.median(local[::_RATE_BLOCK])), locked)
