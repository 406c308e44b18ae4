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
    sides = group.sides
    named = t("linkfix.same_image_join").join(
        t("linkfix.same_image_side", item=s.item_id, station=s.station_id)
        for s in sides[:SHOWN])
    more = t("linkfix.same_image_more", count=len(sides) - SHOWN) if len(sides) > SHOWN else ""
    return t("linkfix.same_image", digest=group.sha256[:16], count=len(sides),
             items=named + more)


def conflict_report(conflicts: list[Conflict]) -> tuple[list[str], int]:
    """The lines, and how many images several item IDs share (the summary's count)."""
    items, images = grouped(conflicts)
    return [conflict_line(c) for c in items] + [image_line(g) for g in images], len(images)
