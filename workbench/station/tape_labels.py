"""Labelling a tape: a barcode names one cartridge. A barcode the ledger (or the station's
catalogue export) already knows belongs to a cartridge that holds, or held, copies: a
second cartridge labelled with it would have its copies read as the first one's, and a
verify of the stand-in would mark the real cartridge's good copies failed."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import BadInput, Refused
from workbench.i18n import t
from workbench.station.words import plural
from workbench.tape.catalogue import read_entries
from workbench.tape.stage import TAPE_CATALOGUE
from workbench.tape.tapes import LABEL, Unreadable, load_generations, scan_tapes

if TYPE_CHECKING:
    from workbench.station.core import Station


def _own_catalogue_says(mount: Path, barcode: str) -> bool:
    """The folder is that very cartridge whose label was lost: its own catalogue (written
    by the workbench onto the tape) names only this barcode."""
    path = mount / TAPE_CATALOGUE
    with contextlib.suppress(OSError, ValueError, TypeError):
        data = json.loads(path.read_text("utf-8"))
        codes = {e.get("barcode") for e in data} if isinstance(data, list) else set()
        return codes == {barcode}
    return False


def known_barcode(station: Station, barcode: str, catalogue: Path) -> list[str]:
    """Where the station already knows barcode: the ledger's copies (any station's) and
    the catalogue export, one phrase each ("" none)."""
    where = []
    rows = station.con.execute(
        "SELECT station_id, pool, COUNT(DISTINCT COALESCE(NULLIF(bag, ''), item_id)) AS n "
        "FROM tape_copies WHERE barcode = ? GROUP BY station_id, pool ORDER BY station_id, "
        "pool", (barcode,)).fetchall()
    for r in rows:
        where.append(plural("labelfix.known_in_ledger", r["n"], pool=r["pool"],
                            station=r["station_id"]))
    if not rows and catalogue.is_file():
        with contextlib.suppress(Exception):
            entries = [e for e in read_entries(catalogue) if e.barcode == barcode]
            if entries:
                where.append(plural("labelfix.known_in_catalogue",
                                    len({e.bag for e in entries}), file=str(catalogue),
                                    pool=", ".join(sorted({e.pool for e in entries}))))
    return where


def check_unknown_barcode(station: Station, mount: Path, barcode: str,
                          catalogue: Path) -> None:
    """Refused (exit 6) when barcode is already another cartridge's."""
    where = known_barcode(station, barcode, catalogue)
    if where and not _own_catalogue_says(mount, barcode):
        raise Refused("labelfix.barcode_known", barcode=barcode, where="; ".join(where),
                      mount=str(mount))


def check_barcode_case(barcode: str) -> None:
    """A new label's barcode in capitals, as on the cartridge's sticker: LTO barcode
    labels (and the library's reader, and LTFS's volume serial) are upper case, so
    `pri001l8` is a typing of PRI001L8. Refused rather than upper-cased: a barcode is an
    identifier the technician types from the sticker, and taking one that differs from
    what was typed would hide the slip; this way one sticker is one barcode in the
    ledger, never two."""
    if barcode != barcode.upper():
        raise BadInput("deadfix.barcode_case", barcode=barcode, upper=barcode.upper())


def known_pools(station: Station, barcode: str, catalogue: Path) -> set[str]:
    """The pools the ledger (any station's copies) or the catalogue export knows the
    cartridge in."""
    pools = {r["pool"] for r in station.con.execute(
        "SELECT DISTINCT pool FROM tape_copies WHERE barcode = ?", (barcode,))}
    if not pools and catalogue.is_file():
        with contextlib.suppress(Exception):
            pools = {e.pool for e in read_entries(catalogue) if e.barcode == barcode}
    return {p for p in pools if p}


def check_same_pool(station: Station, barcode: str, pool: str, catalogue: Path) -> None:
    """A cartridge labelled again (its label lost) keeps its pool: its copies are
    counted in the pool the ledger holds them in, so a label naming another pool would
    offer its room to that pool while every record calls its copies the first pool's."""
    pools = known_pools(station, barcode, catalogue)
    if pools and pool not in pools:
        raise Refused("deadfix.pool_known", barcode=barcode, pool=pool,
                      known=", ".join(sorted(pools)))


def unreadable_tapes(station: Station) -> list[Unreadable]:
    """Tapes mounted at the station that cannot be used (a bad label, a dead mount)."""
    settings = station.settings
    return scan_tapes(settings.paths.tape, load_generations(settings.paths.profiles))[1]


def unreadable_line(u: Unreadable, lang: str | None = None) -> str:
    """What is wrong with the tape and how to fix it; the other tapes work on."""
    if u.dead:
        return t("labelfix.tape_dead", lang=lang, name=u.mount.name, mount=str(u.mount),
                 reason=u.reason)
    return t("labelfix.tape_unreadable", lang=lang, name=u.mount.name, mount=str(u.mount),
             reason=u.reason, label=str(u.mount / LABEL))


def check_verify_barcode(station: Station, barcode: str) -> None:
    """`tape verify --barcode X` with X not mounted says so: a tape the ledger knows is
    to be mounted (exit 6); a barcode nobody knows is a typo (exit 2)."""
    mounted = [tp.barcode for tp in station.tapes.mounted()]
    if barcode in mounted:
        return
    copies = [e for e in station.tapes.book.current().values() if e.barcode == barcode]
    if copies:
        raise Refused("labelfix.verify_not_mounted", barcode=barcode, count=len(copies),
                      pool=copies[0].pool, root=str(station.settings.paths.tape))
    raise BadInput("labelfix.verify_unknown", barcode=barcode,
                   mounted=", ".join(mounted) or "-")
