"""How many cartridges the backlog needs, per pool.

The backlog is what is not yet on tape in a pool: bags waiting (their real sizes), and
carriers still to do (batch lists, planned counts: N carriers of a profile) at the
average size of that media type's bags so far (the station's own record; a type never
bagged here: the profile's largest expected size, else it is said as unknown). Every
pool holds one copy of everything, so each pool needs the same bytes; the cartridges
still needed are what the mounted tapes of the pool cannot hold, over a cartridge's
usable room (usable capacity less the headroom, less the largest bag: a bag is never
split, so the last one on a tape may not fit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workbench.errors import BadInput
from workbench.station.states import State
from workbench.tape.catalogue import VERIFIED
from workbench.tape.plan import bag_size
from workbench.tape.tapes import load_generations

if TYPE_CHECKING:
    from workbench.station.core import Station

TODO = (State.NEW, State.INTERRUPTED, State.IMAGED, State.FAILED)


@dataclass
class MediaLine:
    media: str
    carriers: int
    average: int  # bytes per carrier (0: unknown)
    basis: str  # ledger | profile | unknown
    bags: int = 0  # how many bags the ledger average is of

    @property
    def bytes(self) -> int:
        return self.carriers * self.average


@dataclass
class PoolLine:
    pool: str
    generation: str
    needed: int  # bytes not yet on tape in the pool
    room: int  # on the pool's mounted tapes
    per_cartridge: int
    cartridges: int


@dataclass
class Forecast:
    waiting_bags: int = 0
    waiting_bytes: int = 0
    media: list[MediaLine] = field(default_factory=list)
    pools: list[PoolLine] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # media types with no size to go by


def averages(station: Station) -> dict[str, tuple[int, int]]:
    """Media type -> (average bytes of its bags here, how many): bags of accepted
    attempts, by their attempt's image size (bags add little to it)."""
    rows = station.con.execute(
        "SELECT a.profile_id AS media, AVG(a.bytes) AS avg, COUNT(*) AS n FROM bags b "
        "JOIN attempts a ON a.attempt = b.attempt AND a.outcome IN ('success', 'partial') "
        "AND a.bytes > 0 AND NOT EXISTS (SELECT 1 FROM attempts c WHERE c.supersedes = a.id)"
        " GROUP BY a.profile_id").fetchall()
    return {r["media"]: (int(r["avg"]), int(r["n"])) for r in rows}


def parse_plan(text: str) -> tuple[int, str]:
    count, _, media = text.partition(":")
    if not count.strip().isdigit() or not media.strip():
        raise BadInput("lto.bad_plan", value=repr(text))
    return int(count), media.strip()


def forecast(station: Station, rows: list[tuple[str, str]], planned: list[str],
             generation: str = "") -> Forecast:
    """rows: (item, media type) of the batch lists; a carrier done already is not
    counted. planned: "N:PROFILE" for carriers not listed yet."""
    settings = station.settings
    out = Forecast()
    counts: dict[str, int] = {}
    seen: set[str] = set()
    for item, media in rows:
        if not item or item in seen:
            continue
        seen.add(item)
        try:
            state = station.state(item).state
        except BadInput:
            continue  # a bad item ID: the queue reports it when it runs
        if state in TODO:
            counts[media] = counts.get(media, 0) + 1
    known = averages(station)
    for text in planned:
        n, media = parse_plan(text)
        if media not in station.profiles and media not in known:  # a typo: said, not "?"
            raise BadInput("labelfix.plan_unknown", value=text, media=media,
                           known=", ".join(sorted({*station.profiles, *known})))
        counts[media] = counts.get(media, 0) + n
    for media, n in sorted(counts.items()):
        if media in known:
            out.media.append(MediaLine(media, n, known[media][0], "ledger",
                                       known[media][1]))
            continue
        profile = station.profiles.get(media)
        nominal = list(profile.expected_sizes) if profile else []
        if not nominal and profile and profile.size_range:
            nominal = [profile.size_range[1]]
        if nominal:
            out.media.append(MediaLine(media, n, max(nominal), "profile"))
        else:
            out.media.append(MediaLine(media, n, 0, "unknown"))
            out.unknown.append(media)
    backlog = sum(m.bytes for m in out.media)
    largest = max([m.average for m in out.media] or [0])
    generations = load_generations(settings.paths.profiles)
    tapes = station.tapes.mounted()
    bags = station.tapes.current_bags()
    bag_sizes = {b: bag_size(b) for b in bags}
    verified = {(e.bag, e.pool) for e in station.tapes.book.current().values()
                if e.result == VERIFIED}
    for pool in settings.tape_pools:
        missing = [b for b in bags if (b.name, pool) not in verified]
        waiting = sum(bag_sizes[b] for b in missing)
        out.waiting_bags = max(out.waiting_bags, len(missing))
        out.waiting_bytes = max(out.waiting_bytes, waiting)
        pool_tapes = [t for t in tapes if t.pool == pool]
        gen = generation or (pool_tapes[-1].generation if pool_tapes else "LTO-8")
        if gen not in generations:
            raise BadInput("error.unknown_generation", generation=gen,
                           known=", ".join(generations))
        room = sum(t.room(settings.tape_headroom) for t in pool_tapes)
        biggest = max([largest, *bag_sizes.values()])
        per = int(generations[gen].usable * (1 - settings.tape_headroom)) - biggest
        needed = waiting + backlog
        cartridges = math.ceil(max(0, needed - room) / per) if per > 0 else 0
        out.pools.append(PoolLine(pool, gen, needed, room, max(per, 0), cartridges))
    return out
