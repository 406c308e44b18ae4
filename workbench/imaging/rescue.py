"""The rescue passes, after GNU ddrescue: copy, trim, scrape, retry.

copy   large reads; a failed read marks its block non-trimmed ('*') and the pass skips
       ahead (further after each error in a row). Pass 1 goes forward, pass 2 backward,
       both skipping; pass 3 forward without skipping leaves nothing untried.
trim   each non-trimmed block is read sector by sector from its leading edge forward and
       its trailing edge backward until a sector fails; the rest becomes non-scraped.
scrape the remaining non-scraped sectors are read forward one by one.
retry  N passes over the bad sectors, alternating direction.

Dead media are recognised the way a technician would: when a run starts with a few
failing reads and nothing read, a sample of single sectors spread over the untried
medium is read; when none of them reads, the run stops (GaveUp, "dead_floppy" or
"dead_medium") with the map kept. A run that goes over the profile's time or
failing-read budget stops the same way ("over_budget"). Strategy.keep_going turns these
stops off, so the technician can go on from the same map. A drive that stops answering
half-way is caught after max_consecutive_failures failing reads in a row: a sector that
read well in this run is read again, and when that fails too the drive is gone
(SourceGone "vanished"); the areas it failed since its last good read go back to their
earlier status, so nothing is called bad that the medium did not refuse.

Unread areas stay zero in the image. The map is saved (after fdatasync of the image)
every few seconds, so a crash loses at most that much work.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.imaging.digests import DigestStream
from workbench.imaging.mapfile import (
    BAD,
    FINISHED,
    NON_SCRAPED,
    NON_TRIED,
    NON_TRIMMED,
    PHASE_STATUS,
    Block,
    RescueMap,
)
from workbench.imaging.record import PassRecord
from workbench.imaging.sources import ReadError, Source, SourceGone
from workbench.imaging.strategy import Strategy
from workbench.imaging.writer import ImageWriter

PROGRESS_INTERVAL = 0.1
SKIP_MIN = 64 * 1024
# After the copy passes the whole is nearly done while a pass may still take long: views
# show these passes' own progress.
LATE_PHASES = ("trim", "scrape", "retry")


# a run whose first reads fail this many times in a row, with nothing read, reads its
# spread sample (or sooner when the sample itself is smaller)
SAMPLE_TRIGGER = 8


class Cancelled(Exception):
    """The cancel event was set: stop after the current read, keep everything."""


class GaveUp(SourceGone):
    """The rescue stopped on purpose, the map saved: a dead medium ("dead_floppy",
    "dead_medium") or a run over its budget ("over_budget"). reason is the outcome
    reason code (the engine maps every SourceGone to failed with Reason.of(reason,
    path=...)); params say more. Going on from the same map is the technician's choice
    (Strategy.keep_going)."""

    def __init__(self, reason: str, **params: Any) -> None:
        super().__init__(reason, ", ".join(f"{k}={v}" for k, v in params.items()))
        self.params = params


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
        self._in_a_row = 0  # failing reads in a row
        self._since_good: list[tuple[int, int, str]] = []  # what they marked, and how it was
        self._first_good = -1  # where this run first read well, and most recently
        self._recent_good: list[int] = []
        self._sampled = False
        self._checking = False
        self.speed_changes: list[str] = []  # an optical drive slowed after errors

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
                # only what is still untried: a spread sample may have read inside
                block = self.map.block_at(pos - 1 if reverse else pos)
                if block.status != NON_TRIED:
                    edge = max(block.pos, start) if reverse else min(block.end, end)
                    self._passed(abs(pos - edge))
                    pos = edge
                    continue
                room = pos - max(start, block.pos) if reverse else min(end, block.end) - pos
                size = min(cluster, room)
                at = pos - size if reverse else pos
                got = self._read(at, size, NON_TRIMMED)
                if got == size:
                    skip = 0
                elif skip_max:
                    skip = min(max(skip * 2, SKIP_MIN), skip_max) // sector * sector
                if reverse:
                    self._passed(at - max(at - skip, start))
                    pos = max(at - skip, start)
                else:
                    self._passed(min(at + size + skip, end) - (at + size))
                    pos = min(at + size + skip, end)
        self._end()

    def _trim(self) -> None:
        if not self.map.total(NON_TRIMMED):
            return
        self._begin("trim", 1, False, NON_TRIMMED)
        for start, end in self.map.areas(NON_TRIMMED):
            lead = start
            while lead < end:
                size = self._sector_at(lead, end)
                if self._read(lead, size, BAD) != size:
                    lead += size
                    break
                lead += size
            tail = end
            while tail > lead:
                size = min(self.s.sector_size, tail - lead)
                if self._read(tail - size, size, BAD) != size:
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
            self._read(at, size, BAD)
            pos = at if reverse else at + size

    def _sector_at(self, pos: int, end: int) -> int:
        """One sector from pos, or up to the next sector boundary (maps from other tools
        may not be aligned)."""
        boundary = (pos // self.s.sector_size + 1) * self.s.sector_size
        return min(boundary, end) - pos

    # -- one read --------------------------------------------------------------------
    def _read(self, pos: int, size: int, failed_status: str) -> int:
        """Read [pos, pos+size) into the image; return the good bytes from pos. What did
        not read is marked failed_status; then the dead-medium, budget and drive checks
        run."""
        self._tick(pos)
        assert self._pass is not None
        self._pass.bytes_attempted += size
        self._pass_done += size
        try:
            data = self.source.read(pos, size)
        except ReadError:
            got = 0
        else:
            got = self.accept(pos, data, size)
        if got:
            self._in_a_row = 0
            self._since_good.clear()
            self._recent_good = [*self._recent_good[-1:], pos]
            if self._first_good < 0:
                self._first_good = pos
        if got < size:
            if not self.speed_changes and not self._checking:  # once a run, at the first
                speed = self.source.slow_down()
                if speed:
                    self.speed_changes.append(f"read speed lowered to {speed} after a read "
                                              f"error at byte {pos + got}")
            self._pass.read_errors += 1
            self.read_errors += 1
            self._in_a_row += not got
            self._since_good += [(max(b.pos, pos + got), min(b.end, pos + size) - max(
                b.pos, pos + got), b.status) for b in self._blocks_in(pos + got, pos + size)]
            self.map.mark(pos + got, size - got, failed_status)
            self._after_failure()
        return got

    def _blocks_in(self, pos: int, end: int) -> list[Block]:
        i = bisect.bisect_right(self.map.blocks, pos, key=lambda b: b.pos) - 1
        out = []
        while i < len(self.map.blocks) and self.map.blocks[i].pos < end:
            out.append(self.map.blocks[i])
            i += 1
        return out

    def _after_failure(self) -> None:
        """A read failed: is the medium dead, the run over budget, the drive gone?"""
        if self._checking:
            return
        s = self.s
        if not s.keep_going:
            if s.failure_budget and self.read_errors >= s.failure_budget:
                raise self._over_budget()
            if (s.dead_sample and not self._sampled and not self._rescued_this_run
                    and self._in_a_row >= min(SAMPLE_TRIGGER, s.dead_sample)):
                self._sample()
        if s.max_consecutive_failures and self._in_a_row >= s.max_consecutive_failures:
            self._check_drive()

    def _sample(self) -> None:
        """Read single sectors spread evenly over the untried medium; when none of them
        reads, the medium is dead."""
        self._sampled, self._checking = True, True
        try:
            areas = list(self.map.areas(NON_TRIED))
            untried = sum(end - start for start, end in areas)
            count = min(self.s.dead_sample, untried // self.s.sector_size)
            if count < min(SAMPLE_TRIGGER, self.s.dead_sample):
                return  # too little untried left for a sample to say anything
            points, k = [], 0
            offset = 0
            for i in range(count):
                target = (2 * i + 1) * untried // (2 * count)
                while target >= offset + areas[k][1] - areas[k][0]:
                    offset += areas[k][1] - areas[k][0]
                    k += 1
                start, end = areas[k]
                at = start + target - offset
                points.append((max(start, at - at % self.s.sector_size), end))
            good = 0
            for at, end in points:
                size = self._sector_at(at, end)
                good += self._read(at, size, BAD) == size
                if good:
                    return
        finally:
            self._checking = False
        raise GaveUp("dead_floppy" if self.s.floppy else "dead_medium",
                     sampled=count, errors=self.read_errors)

    def _check_drive(self) -> None:
        """Many failing reads in a row: read again a sector that read well in this run.
        When none reads, the drive has stopped answering: the areas it failed since its
        last good read go back to what they were, and the run ends as vanished."""
        if self._first_good < 0:
            return  # nothing read in this run: the sample and the budgets decide
        self._checking = True
        try:
            for pos in dict.fromkeys([*reversed(self._recent_good), self._first_good]):
                size = self._sector_at(pos, self.map.size)
                try:
                    if len(self.source.read(pos, size)) == size:
                        self._in_a_row = 0
                        return
                except ReadError:
                    self.read_errors += 1
        finally:
            self._checking = False
        for pos, size, status in reversed(self._since_good):
            self.map.mark(pos, size, status)
        self._since_good.clear()
        raise SourceGone("vanished", f"{self.source.path} stopped answering: "
                         f"{self._in_a_row} failing reads in a row, and sectors that "
                         "read well before fail too")

    def _over_budget(self) -> GaveUp:
        return GaveUp("over_budget", seconds=round(time.monotonic() - self._started),
                      errors=self.read_errors)

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
        if (self.s.time_budget_seconds and self.read_errors and not self.s.keep_going
                and now - self._started > self.s.time_budget_seconds):
            raise self._over_budget()
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
