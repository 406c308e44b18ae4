"""`ledger merge --conflicts FILE` and `ledger conflicts`: the conflicts between stations'
records, one line each, a summary line, and the list as CSV or JSON (by the file's
suffix). Exit 7 (CONFLICTS) when one item ID has different content at two stations, or was
bagged at two stations (two current bags, identical or not):
merged, but not clean; for `ledger merge` that is a conflict this merge brought (a merge
that brings none exits 0 and says how many stand), for `ledger conflicts` any standing
one. One image under two item IDs is said and listed, exit 0 (a second
copy of a disc is real, as when it is imaged: see workbench/station/duplicates.py)."""

from __future__ import annotations

from pathlib import Path

from workbench.atomic import write_atomic
from workbench.errors import ExitCode
from workbench.i18n import t
from workbench.ledger.conflicts import KINDS, Conflict, to_csv, to_json
from workbench.station.conflict_list import conflict_report


def report(conflicts: list[Conflict], out: Path | None, standing: int = 0) -> int:
    """Print the conflicts and a summary; write them to out (even none: a script reads
    an empty list rather than last time's file). standing: conflicts the ledger holds
    besides these (a merge reports what it brought and counts the rest)."""
    lines, images = conflict_report(conflicts)  # real conflicts first, images grouped
    for line in lines:
        print(line)
    counts = {kind: sum(c.kind == kind for c in conflicts) for kind in KINDS}
    if conflicts:
        print(t("dup.summary", items=counts["item"], images=images))
        if counts["bag"]:
            print(t("ledgerfix.summary_bags", count=counts["bag"]))
        if standing:
            print(t("mfix.also_standing", count=standing))
    else:
        print(t("mfix.standing", count=standing) if standing else t("dup.none"))
    if out is not None:
        write_atomic(out, to_json(conflicts) if out.suffix.lower() == ".json"
                     else to_csv(conflicts))
        print(t("dup.written", file=str(out)))
    return ExitCode.CONFLICTS if counts["item"] or counts["bag"] else ExitCode.SUCCESS
