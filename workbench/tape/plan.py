"""Planning: which bag goes to which tape of each pool. A bag is never split across
tapes; bags are placed largest first on the first tape of the pool with room (first-fit
decreasing), which fills tapes well and keeps each write one sequential stream."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.tape.catalogue import VERIFIED, CopyBook
from workbench.tape.tapes import Tape


@dataclass(frozen=True)
class Assignment:
    bag: Path
    size: int
    pool: str
    barcode: str


@dataclass(frozen=True)
class Unplaced:
    bag: Path
    size: int
    pool: str
    reason: str  # no_tape | too_big | read_only (a tape of the pool is mounted read-only)
    # | none_mounted (the pool has no tape mounted at all) | index_full (a tape of the
    # pool has room on its data partition, but its index partition is under the rule)


def bag_size(bag: Path) -> int:
    return sum(p.stat().st_size for p in bag.rglob("*") if p.is_file())


def plan(bags: list[Path], tapes: list[Tape], catalogue: CopyBook, pools: tuple[str, ...],
         headroom: float) -> tuple[list[Assignment], list[Unplaced]]:
    current = catalogue.current()
    placed: list[Assignment] = []
    unplaced: list[Unplaced] = []
    sizes = {bag: bag_size(bag) for bag in bags}
    for pool in pools:
        pool_tapes = [t for t in tapes if t.pool == pool]
        room = {t.barcode: t.room(headroom) for t in pool_tapes}
        waiting = [b for b in bags if not any(
            e.pool == pool and e.result == VERIFIED
            for (name, _), e in current.items() if name == b.name)]
        for bag in sorted(waiting, key=lambda b: (-sizes[b], b.name)):
            target = next((t for t in pool_tapes if room[t.barcode] >= sizes[bag]), None)
            if target is None:
                biggest = max((t.capacity * (1 - headroom) for t in pool_tapes), default=0)
                too_big = bool(pool_tapes) and sizes[bag] > biggest
                locked = any(not t.writable() for t in pool_tapes)  # not "full": say why
                index = any(t.index_short() for t in pool_tapes)
                unplaced.append(Unplaced(bag, sizes[bag], pool, "none_mounted" if not
                                         pool_tapes else "too_big" if too_big else
                                         "read_only" if locked else "index_full" if index
                                         else "no_tape"))
                continue
            room[target.barcode] -= sizes[bag]
            placed.append(Assignment(bag, sizes[bag], pool, target.barcode))
    return placed, unplaced
