"""The rescue passes, after GNU ddrescue: copy, trim, scrape, retry.

copy   large reads; a failed read marks its block non-trimmed ('*') and the pass skips
       ahead (further after each error in a row). Pass 1 goes forward, pass 2 backward,
       both skipping; pass 3 forward without skipping leaves nothing untried.
trim   each non-trimmed block is read sector by sector from its leading edge forward and
       its trailing edge backward until a sector fails; the rest becomes non-scraped.
scrape the remaining non-scraped sectors are read forward one by one.
retry  N passes over the bad sectors, alternating direction.

Unread areas stay zero in the image. The map is saved (after fdatasync of the image)
every few seconds, so a crash loses at most that much work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from workbench.imaging.digests import DigestStream
from workbench.imaging.mapfile import (
    BAD,
    FINISHED,
    NON_SCRAPED,
    NON_TRIED,
    NON_TRIMMED,
    PHASE_STATUS,
    RescueMap,
)
from workbench.imaging.record import PassRecord
from workbench.imaging.sources import ReadError, Source
from workbench.imaging.writer import ImageWriter

PROGRESS_INTERVAL = 0.1
SKIP_MIN = 64 * 1024
# After the copy passes the whole is nearly done while a pass may still take long: views
# show these passes' own progress.
LATE_PHASES = ("trim", "scrape", "retry")


class Cancelled(Exception):
    """The cancel event was set: stop after the current read, keep everything."""


@dataclass(frozen=True)
class Progress:
    """The latest state of a rescue (progress messages may be coalesced)."""

    phase: str
    pass_number: int
    position: int
    size: int
    rescued: int
    bad: int  # bytes in bad-sector blocks
    pending: int  # bytes not yet tried, trimmed or scraped (not bad: no pass failed there)
    read_errors: int
    rate: float  # bytes/s over the last few seconds
    average_rate: float
    eta: float | None  # seconds, None when unknown
    since_last_good: float  # seconds
    elapsed: float
    blocks: tuple[tuple[int, int, str], ...] = ()  # the map, for sector-map views
    # the current pass on its own: the bytes it has to go over (its areas when it
    # began), how many of them it has tried (or skipped, or left to the next pass), and
    # the time left at this pass's own rate
    pass_size: int = 0
    pass_done: int = 0
    pass_eta: float | None = None

    @property
    def fraction(self) -> float:
        return (self.rescued + self.bad) / self.size if self.size else 1.0

    @property
    def pass_fraction(self) -> float:
        return min(1.0, self.pass_done / self.pass_size) if self.pass_size else 1.0

    @property
    def per_pass(self) -> bool:
        """Show this pass's own progress: trim, scrape and retry run when the copy
        passes have left the whole at nearly 100%."""
        return self.phase in LATE_PHASES and self.pass_size > 0


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class Strategy:
    cluster_size: int
    sector_size: int
    retries: int
    map_save_seconds: float = 5.0


class Rescue:
    def __init__(self, source: Source, writer: ImageWriter, rmap: RescueMap,
                 digests: DigestStream,
                 strategy: Strategy, save_map: Callable[[], None],
                 progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.source, self.writer, self.map, self.digests = source, writer, rmap, digests
        self.s = strategy
        self._save_map = save_map
        self._progress = progress
        self._cancel = cancel or threading.Event()
        self.passes: list[PassRecord] = []
        self.read_errors = 0
        self._pass: PassRecord | None = None
        self._phase, self._pass_no = "copy", 1
        self._pass_size = self._pass_done = 0
        self._pass_started = time.monotonic()
        self._started = self._last_good = self._last_save = self._last_tick = time.monotonic()
        self._rate_mark = (self._started, 0)
        self._rate = 0.0
        self._rescued_this_run = 0

    # -- the public face -------------------------------------------------------------
    def run(self) -> None:
        """All phases; raises Cancelled, SourceGone or DiskFull with the map saved."""
        try:
            skip_max = max(SKIP_MIN, min(1 << 30, self.map.size // 100))
            self._copy(1, reverse=False, skip_max=skip_max)
            self._copy(2, reverse=True, skip_max=skip_max)
            self._copy(3, reverse=False, skip_max=0)
            self._trim()
            self._scrape()
            for n in range(1, self.s.retries + 1):
                self._retry(n, reverse=n % 2 == 0)
            self._phase = "done"
        finally:
            self.checkpoint()
            self._emit(force=True)

    def checkpoint(self) -> None:
        """Make the image durable, then the map that describes it."""
        self.writer.sync()
        self.map.current_status = PHASE_STATUS.get(self._phase, "?")
        self.map.current_pass = self._pass_no
        self._save_map()
        self._last_save = time.monotonic()

    # -- phases ----------------------------------------------------------------------
    def _begin(self, phase: str, number: int, reverse: bool, status: str) -> None:
        """Start a pass over the areas with status."""
        self._phase, self._pass_no = phase, number
        self._pass = PassRecord(phase, number, "backward" if reverse else "forward")
        self._pass_started = time.monotonic()
        self._pass_size, self._pass_done = self.map.total(status), 0
        self.passes.append(self._pass)
        self._emit()

    def _end(self) -> None:
        if self._pass is not None:
            self._pass.seconds = round(time.monotonic() - self._pass_started, 3)
            if not self._pass.bytes_attempted:
                self.passes.remove(self._pass)
            self._pass = None
            self._emit()  # the pass at 100%, however recently the last message went

    def _passed(self, size: int) -> None:
        """The pass went over size bytes without reading them (skipped ahead, or left
        the inside of a block to the scrape pass)."""
        self._pass_done += max(0, size)

    def _copy(self, number: int, reverse: bool, skip_max: int) -> None:
        if not self.map.total(NON_TRIED):
            return
        self._begin("copy", number, reverse, NON_TRIED)
        cluster, sector = self.s.cluster_size, self.s.sector_size
        for start, end in self.map.areas(NON_TRIED, reverse):
            skip = 0
            pos = end if reverse else start
            while (pos > start) if reverse else (pos < end):
                size = min(cluster, pos - start) if reverse else min(cluster, end - pos)
                at = pos - size if reverse else pos
                got = self._read(at, size)
                if got == size:
                    skip = 0
                else:
                    self.map.mark(at + got, size - got, NON_TRIMMED)
                    if skip_max:
                        skip = min(max(skip * 2, SKIP_MIN), skip_max) // sector * sector
                if reverse:
                    self._passed(at - max(at - skip, start))
                    pos = at - skip
                else:
                    self._passed(min(at + size + skip, end) - (at + size))
                    pos = at + size + skip
        self._end()

    def _trim(self) -> None:
        if not self.map.total(NON_TRIMMED):
            return
        self._begin("trim", 1, False, NON_TRIMMED)
        for start, end in self.map.areas(NON_TRIMMED):
            lead = start
            while lead < end:
                size = self._sector_at(lead, end)
                if self._read(lead, size) != size:
                    self.map.mark(lead, size, BAD)
                    lead += size
                    break
                lead += size
            tail = end
            while tail > lead:
                size = min(self.s.sector_size, tail - lead)
                if self._read(tail - size, size) != size:
                    self.map.mark(tail - size, size, BAD)
                    tail -= size
                    break
                tail -= size
            if lead < tail:
                self.map.mark(lead, tail - lead, NON_SCRAPED)
                self._passed(tail - lead)
        self._end()

    def _scrape(self) -> None:
        if not self.map.total(NON_SCRAPED):
            return
        self._begin("scrape", 1, False, NON_SCRAPED)
        for start, end in self.map.areas(NON_SCRAPED):
            self._sector_by_sector(start, end, reverse=False)
        self._end()

    def _retry(self, number: int, reverse: bool) -> None:
        if not self.map.total(BAD):
            return
        self._begin("retry", number, reverse, BAD)
        for start, end in self.map.areas(BAD, reverse):
            self._sector_by_sector(start, end, reverse)
        self._end()

    def _sector_by_sector(self, start: int, end: int, reverse: bool) -> None:
        pos = end if reverse else start
        while (pos > start) if reverse else (pos < end):
            if reverse:
                size = min(self.s.sector_size, pos - start)
                at = pos - size
            else:
                size = self._sector_at(pos, end)
                at = pos
            if self._read(at, size) != size:
                self.map.mark(at, size, BAD)
            pos = at if reverse else at + size

    def _sector_at(self, pos: int, end: int) -> int:
        """One sector from pos, or up to the next sector boundary (maps from other tools
        may not be aligned)."""
        boundary = (pos // self.s.sector_size + 1) * self.s.sector_size
        return min(boundary, end) - pos

    # -- one read --------------------------------------------------------------------
    def _read(self, pos: int, size: int) -> int:
        """Read [pos, pos+size) into the image; return the good bytes from pos."""
        self._tick(pos)
        assert self._pass is not None
        self._pass.bytes_attempted += size
        self._pass_done += size
        try:
            data = self.source.read(pos, size)
        except ReadError:
            self._pass.read_errors += 1
            self.read_errors += 1
            return 0
        got = self.accept(pos, data, size)
        if got < size:
            self._pass.read_errors += 1
            self.read_errors += 1
        return got

    def accept(self, pos: int, data: memoryview | bytes, size: int | None = None) -> int:
        """Put good data read at pos into the image, the map and the digests (also used
        for data read before the passes, such as the ISO 9660 probe)."""
        size = len(data) if size is None else size
        got = len(data) - len(data) % self.s.sector_size if len(data) < size else size
        if got <= 0:
            return 0
        view = memoryview(data)[:got]
        self.writer.write(pos, view)
        self.map.mark(pos, got, FINISHED)
        self.digests.feed_at(pos, view)
        if self._pass is not None:
            self._pass.bytes_rescued += got
        self._rescued_this_run += got
        self._last_good = time.monotonic()
        return got

    # -- bookkeeping -----------------------------------------------------------------
    def _tick(self, pos: int) -> None:
        if self._cancel.is_set():
            raise Cancelled
        self.map.current_pos = pos
        now = time.monotonic()
        if now - self._last_save >= self.s.map_save_seconds:
            self.checkpoint()
        if now - self._last_tick >= PROGRESS_INTERVAL:
            self._emit()

    def _emit(self, force: bool = False) -> None:
        if self._progress is None:
            return
        now = time.monotonic()
        self._last_tick = now
        mark_time, mark_bytes = self._rate_mark
        if now - mark_time >= 1.0 or force:
            self._rate = (self._rescued_this_run - mark_bytes) / max(now - mark_time, 1e-6)
            self._rate_mark = (now, self._rescued_this_run)
        totals = self.map.totals()
        elapsed = now - self._started
        average = self._rescued_this_run / elapsed if elapsed > 0 else 0.0
        pending = totals[NON_TRIED] + totals[NON_TRIMMED] + totals[NON_SCRAPED]
        eta = pending / average if average > 0 and pending else (0.0 if not pending else None)
        self._progress(Progress(
            phase=self._phase, pass_number=self._pass_no, position=self.map.current_pos,
            size=self.map.size, rescued=totals[FINISHED], bad=totals[BAD], pending=pending,
            read_errors=self.read_errors, rate=self._rate, average_rate=average, eta=eta,
            since_last_good=now - self._last_good, elapsed=elapsed,
            blocks=tuple((b.pos, b.size, b.status) for b in self.map.blocks),
            pass_size=self._pass_size, pass_done=min(self._pass_done, self._pass_size),
            pass_eta=self._pass_eta(now)))

    def _pass_eta(self, now: float) -> float | None:
        """Seconds left in this pass at the rate it has gone over its own bytes so far
        (sector-by-sector passes are far slower than copying)."""
        left = self._pass_size - self._pass_done
        if left <= 0:
            return 0.0
        seconds = now - self._pass_started
        if not self._pass_done or seconds <= 0:
            return None
        return left / (self._pass_done / seconds)
