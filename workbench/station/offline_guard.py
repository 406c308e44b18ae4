"""Offline, the journal knows only what this station recorded during the outage: a
carrier's history (its bags, withdrawals, other stations' attempts) is on the server.
So, while offline, a carrier whose job folder, bags or tape records show it was bagged
here, and whose bags the journal does not hold, is not acted on: its state cannot be
known here, and acting on a guess could make a second bag without a withdrawal. A
released carrier (bag and job folder removed) is known by this station's tape records
(tryout 15b, N2). Refused, with words that say why and that it works again when the
server answers. A carrier the journal knows fully (first imaged and bagged during this
outage) and one never bagged here go on as before: the job folder proves all there is
of them at this station.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import Aborted, BadInput, Refused, WorkbenchError

PREMIS = ".premis.xml"  # logs/tape-premis/BAG.premis.xml: a bag this station put on tape

if TYPE_CHECKING:
    from workbench.config import Settings
    from workbench.ledger.db import Con
    from workbench.ledger.link import LinkedLedger


def bags_on_disk(settings: Settings, item_id: str) -> list[Path]:
    """This station's bag folders of the item (every version; set-aside ones left out)."""
    folder = settings.paths.bags
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [folder / n for n in names if n == item_id or n.startswith(f"{item_id}+v")]


def handed_over(settings: Settings, item_id: str) -> bool:
    """The job folder's image was handed over to a bag (its map stays, its image is
    gone): the carrier was bagged here, even when the bag itself is gone (released)."""
    from workbench.imaging.engine import job_dir
    from workbench.imaging.record import JobRecord
    from workbench.station.recover import needs_image
    job = job_dir(settings, item_id)
    return needs_image(job, JobRecord.load(job))


def taped_here(settings: Settings, item_id: str) -> set[str]:
    """Names of the item's bags this station put on tape: its tape PREMIS records (one
    file per bag, kept) and its catalogue export. They outlive a release, which removes
    the bag and the job folder."""
    from workbench.station.book import item_of
    names: set[str] = set()
    try:
        files = os.listdir(settings.paths.logs / "tape-premis")
    except OSError:
        files = []
    names |= {f.removesuffix(PREMIS) for f in files
              if f.endswith(PREMIS) and item_of(f.removesuffix(PREMIS)) == item_id}
    from workbench.tape.catalogue import read_entries
    catalogue = settings.paths.logs / "tape-catalogue.json"
    try:
        entries = read_entries(catalogue) if catalogue.is_file() else []
    except (OSError, WorkbenchError):
        entries = []  # a damaged export: the PREMIS records still say it
    return names | {e.bag for e in entries if item_of(e.bag) == item_id}


def check_offline(link: LinkedLedger, settings: Settings, item_id: str) -> None:
    """Refused when the link is offline and the item was bagged here beyond what the
    journal holds (see the module's words): a bag folder, a handed-over job folder or a
    tape record of this station that the journal does not hold, or a bag the journal
    holds from an earlier outage (sent since: its later history is on the server)."""
    if link.server is not None or link.journal is None:
        return
    on_disk, taped = bags_on_disk(settings, item_id), taped_here(settings, item_id)
    if not on_disk and not taped and not handed_over(settings, item_id):
        return
    sent = link.journal.execute(
        "SELECT MAX(up_to) FROM journal_sent WHERE tbl = 'bags'").fetchone()[0] or 0
    rows = link.journal.execute(
        "SELECT rowid, path, name, item_id FROM bags WHERE item_id = ? AND station_id "
        "IN (?, '')", (item_id, settings.station_id)).fetchall()
    paths = {str(r[1]) for r in rows}
    names = {str(r[2] or r[3]) for r in rows}
    if rows and all(int(r[0]) > sent for r in rows) and \
            all(str(p) in paths for p in on_disk) and taped <= names:
        return  # bagged during this outage: the journal holds all of it
    if taped and not on_disk:  # on tape, staging released: as online, never a new v1
        raise Refused("crossfix.offline_released", item=item_id,
                      bags=", ".join(sorted(taped)), server=link.status().server)
    raise Refused("pgfix.offline_history", item=item_id,
                  server=link.status().server)


def check_elsewhere(con: Con, settings: Settings, item_id: str, action: str) -> None:
    """A carrier whose current bag (not withdrawn) another station made is that
    station's to go on with (its bag, staging and tapes are there): `migrate` here is
    refused naming it, rather than failing on this station's empty staging folder or
    "continuing" an attempt of its own the other station overtook. So is one whose image
    waits at another station (station/elsewhere.py: accept, retry, route too). On the
    server (not while offline: the journal cannot know), and in a SQLite ledger other
    stations' ledgers were merged into."""
    from workbench.ledger.link import LinkedLedger
    if isinstance(con, LinkedLedger) and con.server is None:
        return
    from workbench.station.elsewhere import check_imaged_elsewhere
    check_imaged_elsewhere(con, settings, item_id, action)  # its image lies there
    if action != "image":
        return
    row = con.execute(
        "SELECT b.station_id FROM bags b WHERE b.item_id = ? AND NOT EXISTS (SELECT 1 "
        "FROM withdrawals w WHERE w.bag_id = b.id) ORDER BY b.version DESC, b.rowid DESC "
        "LIMIT 1", (item_id,)).fetchone()
    if row is not None and str(row[0]) != settings.station_id:
        raise Refused("pgfix.bagged_elsewhere", item=item_id, station=str(row[0]))


def bagged_here(settings: Settings, item_id: str) -> bool:
    """This station's disk or tape records show it bagged the item (at some time)."""
    return bool(bags_on_disk(settings, item_id) or taped_here(settings, item_id)
                or handed_over(settings, item_id))


def not_known(con: Con, settings: Settings, item_id: str) -> WorkbenchError:
    """Why the ledger shows nothing of item_id (`show`, the UI's carrier screen): not in
    the ledger (check the ID), or, offline, not in this station's journal: the shared
    ledger may well know it, and when this station bagged it before the outage it does."""
    from workbench.ledger.link import LinkedLedger
    if not isinstance(con, LinkedLedger) or con.server is not None:
        return BadInput("error.not_in_ledger", item=item_id)
    key = "crossfix.offline_show_bagged" if bagged_here(settings, item_id) \
        else "crossfix.offline_show_unknown"
    return Aborted(key, item=item_id, server=con.status().server)
