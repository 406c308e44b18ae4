"""Offline, the journal knows only what this station recorded during the outage: a
carrier's history (its bags, withdrawals, other stations' attempts) is on the server.
So, while offline, a carrier whose job folder or bags show it was bagged, and whose bags
the journal does not hold, is not acted on: its state cannot be known here, and acting on
a guess could make a second bag without a withdrawal. Refused, with words that say why
and that it works again when the server answers. A carrier the journal knows fully (first
imaged and bagged during this outage) and one never bagged here go on as before: the job
folder proves all there is of them at this station.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import Refused

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


def check_offline(link: LinkedLedger, settings: Settings, item_id: str) -> None:
    """Refused when the link is offline and the item was bagged here beyond what the
    journal holds (see the module's words)."""
    if link.server is not None or link.journal is None:
        return
    on_disk = bags_on_disk(settings, item_id)
    if not on_disk and not handed_over(settings, item_id):
        return
    known = {str(r[0]) for r in link.journal.execute(
        "SELECT path FROM bags WHERE item_id = ?", (item_id,))}
    if on_disk and all(str(p) in known for p in on_disk):
        return  # bagged during this outage: the journal holds it
    raise Refused("pgfix.offline_history", item=item_id,
                  server=link.status().server)


def check_elsewhere(con: Con, settings: Settings, item_id: str, action: str) -> None:
    """A carrier whose current bag (not withdrawn) another station made is that
    station's to go on with (its bag, staging and tapes are there): `migrate` here is
    refused naming it, rather than failing on this station's empty staging folder or
    "continuing" an attempt of its own the other station overtook. On the server (not
    while offline: the journal cannot know), and in a SQLite ledger other stations'
    ledgers were merged into."""
    from workbench.ledger.link import LinkedLedger
    if action != "image" or (isinstance(con, LinkedLedger) and con.server is None):
        return
    row = con.execute(
        "SELECT b.station_id FROM bags b WHERE b.item_id = ? AND NOT EXISTS (SELECT 1 "
        "FROM withdrawals w WHERE w.bag_id = b.id) ORDER BY b.version DESC, b.rowid DESC "
        "LIMIT 1", (item_id,)).fetchone()
    if row is not None and str(row[0]) != settings.station_id:
        raise Refused("pgfix.bagged_elsewhere", item=item_id, station=str(row[0]))
