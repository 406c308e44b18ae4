"""A new tape copy where a pool lost its verified one (a copy that failed its re-check).

The source is the staging bag while it is on disk; after a release it is a good copy on
another tape, read back and checked (station/retrieve.py) into a private folder beside
the bags, written to the pool's tapes as any bag is, then removed. The bag is the same
bag (same name, same manifests): only the copies change, each a ledger row.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import Refused
from workbench.i18n import human_bytes
from workbench.station.retrieve import AskMount, Retrieval
from workbench.tape import stage
from workbench.tape.catalogue import FAILED, CopyEntry
from workbench.tape.plan import Unplaced

if TYPE_CHECKING:
    from workbench.station.core import Station


def recopy(station: Station, item_id: str, ask: AskMount | None = None
           ) -> tuple[list[CopyEntry], list[Unplaced]]:
    """Write the current bag to every pool lacking a verified copy of it."""
    st = station.state(item_id)
    if st.bag is None or st.bag.withdrawn:
        raise Refused("lto.recopy_no_bag", item=st.item_id, state=st.state.value)
    if not st.missing_pools:
        return [], []
    settings = station.settings
    staged = Path(st.bag.path)
    scratch: Path | None = None
    if not (staged.is_dir() and not st.bag.released):
        scratch = settings.paths.bags / ".recopy"
        shutil.rmtree(scratch / st.bag.name, ignore_errors=True)  # an earlier crash
        done = Retrieval(station).retrieve(st.item_id, scratch, ask, st.bag.name)
        assert done.path is not None
        staged = done.path
    # never onto a cartridge whose copy of this bag failed: another tape of the pool
    book = station.tapes.book
    latest = {e.barcode: e for e in book.history(st.bag.name)}
    failed = frozenset(b for b, e in latest.items() if e.result == FAILED)
    try:
        with station.tapes.lock("tape recopy").acquire():
            try:
                copies, unplaced = stage.run_plan(settings, book, [staged],
                                                  lambda p: station.progress("tape", p),
                                                  station.cancel, failed)
            finally:
                book.export(station.tapes.catalogue_path)
        mounted = stage.station_tapes(settings)
        for u in unplaced:
            here = [t.barcode for t in mounted if t.pool == u.pool]
            if u.reason in ("no_tape", "none_mounted") and here and set(here) <= failed:
                raise Refused("tapefix.recopy_same_tape", bag=st.bag.name, pool=u.pool,
                              tapes=", ".join(here))
            if u.reason == "no_tape" and set(here) & failed:  # the others: no room
                raise Refused("stagefix.recopy_no_other", bag=st.bag.name, pool=u.pool,
                              size=human_bytes(u.size),
                              failed=", ".join(c for c in here if c in failed),
                              others=", ".join(c for c in here if c not in failed))
        return copies, unplaced
    finally:
        if scratch is not None:
            shutil.rmtree(scratch / st.bag.name, ignore_errors=True)
