"""`workbench ledger move-to URL | status | resync`: the shared ledger on a server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.errors import BadInput, ExitCode
from workbench.i18n import t

if TYPE_CHECKING:
    from workbench.config import Settings
    from workbench.station import Station


def move_to(settings: Settings, url: str) -> int:
    from workbench.ledger.link import ledger_url
    from workbench.ledger.move import move_to as move
    from workbench.ledger.pg import safe_url
    if ledger_url(settings) == url:
        raise BadInput("ledger_pg.move_same")
    moved = move(settings.paths.ledger, url, settings.station_id)
    for check in moved.checks:
        differ = t("ledger_pg.move_differ", count=len(check.differ),
                   keys=", ".join(check.differ[:5])) if check.differ else ""
        print(t("ledger_pg.move_table", table=check.table, rows=check.source_rows,
                held=check.target_rows, added=moved.added.get(check.table, 0), differ=differ))
    for table, digest in moved.digests.items():
        print(t("ledger_pg.move_digest", table=table, digest=digest))
    file, server = str(settings.paths.ledger), safe_url(url)
    elsewhere = [k for c in moved.checks for k in c.elsewhere]
    if moved.ok:
        print(t("ledger_pg.move_ok", file=file, server=server))
        if elsewhere:  # copied whole; these item IDs stand as conflicts, listed
            print(t("pgfix.move_elsewhere", count=len(elsewhere), items=", ".join(elsewhere)))
        return ExitCode.SUCCESS
    print(t("ledger_pg.move_bad", file=file, server=server))
    return ExitCode.CONFLICTS


def link(station: Station, command: str) -> int:
    from workbench.station.ledger_link import journal_of, link_status, resync
    if command == "resync":
        done = resync(station)
        if done is None:
            print(t("ledger_pg.resync_offline"))
            print(link_status(station).line())
            return ExitCode.ABORTED
        if done.kept is None:
            print(t("pgfix.resync_none", journal=str(journal_of(station))))
        else:
            print(t("ledger_pg.resynced", kept=str(done.kept),
                    added=", ".join(f"{k} {v}" for k, v in done.added.items() if v) or "0"))
        if done.conflicts:
            from workbench import cli_conflicts
            return cli_conflicts.report(done.conflicts, None, 0)
        return ExitCode.SUCCESS
    status = link_status(station)
    print(status.line())
    if status.state.value == "offline":
        return ExitCode.ABORTED
    notes = station.records.link_notes()  # a resync this command made: sent, conflicts
    if notes:
        print("\n".join(notes))
    return ExitCode.SUCCESS
