"""The conflicts between stations' records as a person reads them (`ledger conflicts`,
a resync's notes): the real conflicts (one item ID, different content) first, then one
line per image that several item IDs share, naming its carriers, instead of one line
per pair (15 carriers of one image were 105 lines that buried the real conflicts)."""

from __future__ import annotations

from workbench.i18n import t
from workbench.ledger.conflicts import Conflict, SameImage, grouped
from workbench.station.duplicates import conflict_line

SHOWN = 12  # carriers named on one image's line; the rest are counted


def image_line(group: SameImage) -> str:
    """One image's line: each item ID once, with the stations that recorded it."""
    stations: dict[str, list[str]] = {}
    for side in group.sides:
        stations.setdefault(side.item_id, []).append(side.station_id)
    items = sorted(stations)
    named = t("linkfix.same_image_join").join(
        t("linkfix.same_image_side", item=item,
          station=t("linkfix.same_image_join").join(sorted(set(stations[item]))))
        for item in items[:SHOWN])
    more = t("linkfix.same_image_more", count=len(items) - SHOWN) if len(items) > SHOWN \
        else ""
    return t("linkfix.same_image", digest=group.sha256[:16], count=len(items),
             items=named + more)


def conflict_report(conflicts: list[Conflict]) -> tuple[list[str], int]:
    """The lines, and how many images several item IDs share (the summary's count)."""
    items, images = grouped(conflicts)
    return [conflict_line(c) for c in items] + [image_line(g) for g in images], len(images)
