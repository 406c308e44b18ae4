"""The ledger on a PostgreSQL server: the dialect seam, the same answers as SQLite, faults
with typed messages and nothing half-written, item locks across stations, four station
processes at once, an outage on the journal and its resync, move-to on 10,000 attempts."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import workbench_run
from tests.pg_fixtures import *  # noqa: F403 (the fixtures backend, pg_server, pg_url)
from workbench import PROJECT_ROOT
from workbench.config import Settings
from workbench.errors import BadInput, ExitCode, Refused
from workbench.ledger import pg
from workbench.ledger import record as ledger
from workbench.ledger.db import connect
from workbench.ledger.dialect import to_postgres


def seed(con, item: str, outcome: str, started: str, station: str = "S1",
         profile: str = "fd35-2hd", sha256: str = "", rate: float = 100.0) -> None:
    con.execute("INSERT OR IGNORE INTO carriers (item_id, profile_id, family, station_id, "
                "created) VALUES (?, ?, 'FD', ?, ?)", (item, profile, station, started))
    ledger.add_version(con, {
        "attempt": f"{station}-{item}-{started}", "item_id": item, "station_id": station,
        "operator": "op", "drive": "drive-1", "drive_serial": "", "profile_id": profile,
        "family": "FD", "batch": "B1", "started": started, "ended": started,
        "outcome": outcome, "reason_code": "unreadable" if outcome == "failed" else "",
        "reason": "", "bytes": 1000, "bytes_rescued": 1000 if outcome != "failed" else 0,
        "bad_sectors": 0, "read_errors": 0, "rate": rate, "md5": "", "sha256": sha256,
        "job_dir": "", "note": ""})


# -- the seam ------------------------------------------------------------------------------

def test_statements_translate_in_one_place():
    assert to_postgres("SELECT * FROM t WHERE a = ? AND b = :name") == \
        "SELECT * FROM t WHERE a = %s AND b = %(name)s"
    # text in quotes is text: a '?' or a '%' there is no placeholder
    assert to_postgres("SELECT '?:x%' AS q, ? FROM t") == "SELECT '?:x%%' AS q, %s FROM t"
    assert to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?)") == \
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING"
    assert to_postgres("SELECT SUM(outcome = 'success') s FROM h") == \
        "SELECT SUM(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END) s FROM h"
    assert to_postgres("SELECT g FROM (SELECT 1 g) WHERE g = 1").endswith(
        "(SELECT 1 g) AS _sub1 WHERE g = 1")
    assert to_postgres("SELECT x FROM (SELECT 1 x) h") == "SELECT x FROM (SELECT 1 x) h"
    assert to_postgres("BEGIN IMMEDIATE").startswith("BEGIN; SELECT pg_advisory_xact_lock(")
    assert "GREATEST(written, verified)" in to_postgres("ORDER BY MAX(written, verified)")


def test_both_backends_give_the_same_answers(tmp_path, pg_url):
    """The same rows on SQLite and on the server: every statistic, the log's pages, a
    carrier's history and the conflicts are the same."""
    from workbench.ledger.conflicts import find_conflicts
    from workbench.ledger.query import (
        Filters,
        attempts_page,
        carrier_history,
        page_cursor,
        statistics,
    )
    from workbench.slices import SLICES
    lite, server = connect(tmp_path / "l.sqlite"), connect(pg_url)
    for con in (lite, server):
        for n in range(60):
            seed(con, f"FD{n:03d}", ("success", "partial", "failed")[n % 3],
                 f"2026-03-{1 + n % 28:02d}T10:00:0{n % 10}.{n}Z", station=f"S{n % 3}",
                 rate=float(n * 7 % 13), sha256=f"h{n % 50}")
        seed(con, "FD001", "success", "2026-04-01T10:00:05Z", station="S2", sha256="other")
        seed(con, "FD002", "failed", "2026-03-03T10:00:02.2Z")  # a tie with an earlier one
        ledger.mark(con, "FD005", "needs_flux", "weak", "sup")
    for by in SLICES:
        for filters in (Filters(), Filters(date_from="2026-03-05", date_to="2026-03-20"),
                        Filters(station="S1", outcome="failed")):
            a = [r.as_dict() for r in statistics(lite, by, filters)]
            b = [r.as_dict() for r in statistics(server, by, filters)]
            assert a == b, (by, filters)

    def pages(con) -> list[list[str]]:
        out, before = [], ""
        while True:
            rows = attempts_page(con, Filters(), 7, before)
            if not rows:
                return out
            out.append([r["id"] for r in rows])
            before = page_cursor(rows[-1])
    assert pages(lite) == pages(server)
    def history(con, item: str) -> dict[str, list[dict]]:
        return {k: [{c: x for c, x in zip(r.keys(), r, strict=True) if c != "recorded"}
                    for r in v] for k, v in carrier_history(con, item).items()}
    for item in ("FD001", "FD005"):
        assert history(lite, item) == history(server, item)
    assert find_conflicts(lite) == find_conflicts(server) != []
    from workbench.ledger.export import export_ledger  # a server's ledger as a file
    copied = export_ledger(server, tmp_path / "from-server.sqlite")
    assert copied == export_ledger(lite, tmp_path / "from-file.sqlite")
    exported = connect(tmp_path / "from-server.sqlite")
    assert [r.as_dict() for r in statistics(exported, "station")] == \
        [r.as_dict() for r in statistics(lite, "station")]


def test_the_server_ledger_is_append_only_in_the_database(pg_url):
    import psycopg
    seed(connect(pg_url), "FD1", "success", "2026-01-01T00:00:00Z")
    raw = psycopg.connect(pg_url, autocommit=True)  # not through the workbench at all
    for sql in ("UPDATE attempts SET outcome = 'failed'", "DELETE FROM carriers",
                "TRUNCATE events"):
        with pytest.raises(psycopg.Error, match="append-only"):
            raw.execute(sql)
    assert raw.execute("SELECT outcome FROM attempts").fetchone()[0] == "success"


# -- faults -------------------------------------------------------------------------------

def _socket_dir(server: str) -> str:
    return parse_qs(urlsplit(server).query)["host"][0]


def test_a_wrong_url_says_what_is_wrong(tmp_path):
    with pytest.raises(BadInput) as bad:
        connect("postgresql://user@host:notaport/ledger")
    assert bad.value.key == "ledger_pg.bad_url"
    with pytest.raises(pg.LedgerUnreachable) as gone:
        connect(f"postgresql://u:secret@/ledger?host={tmp_path}/nowhere&port=5432")
    assert gone.value.key == "ledger_pg.unreachable"
    assert "secret" not in str(gone.value) and "***" in str(gone.value)


def test_no_driver_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(BadInput) as missing:
        connect("postgresql://user@host/ledger")
    assert missing.value.key == "ledger_pg.no_driver" and "psycopg" in str(missing.value)


def test_a_refused_password_and_a_missing_database(pg_server):
    host = _socket_dir(pg_server)
    with pytest.raises(Refused) as refused:
        connect(f"postgresql://ledger_pw:wrong-password@/postgres?host={host}&port=5432")
    assert refused.value.key == "ledger_pg.password" and "ledger_pw" in str(refused.value)
    assert "wrong-password" not in str(refused.value)
    import psycopg
    psycopg.connect(f"postgresql://ledger_pw:right-password@/postgres?host={host}&port=5432"
                    ).close()  # the password itself works
    with pytest.raises(Refused) as missing:
        connect(f"postgresql://postgres@/no_such_ledger?host={host}&port=5432")
    assert missing.value.key == "ledger_pg.no_database" and "no_such_ledger" in str(missing.value)


def test_a_ledger_of_a_newer_schema_is_refused(backend, tmp_path):
    import sqlite3
    target = backend.target(tmp_path / "l.sqlite")
    connect(target).close()
    if backend.name == "sqlite":
        raw = sqlite3.connect(target)
        raw.execute("PRAGMA user_version = 99")
        raw.close()
    else:
        import psycopg
        with psycopg.connect(str(target), autocommit=True) as raw:
            raw.execute("INSERT INTO ledger_schema VALUES (99, 'later')")
    with pytest.raises(Refused) as newer:
        connect(target)
    assert newer.value.key == "ledger_pg.schema_newer" and "99" in str(newer.value)


def _kill_backend_of(server: str, con: pg.PgConnection) -> None:
    import psycopg
    pid = con.raw.info.backend_pid
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_connection_dropped_mid_transaction_writes_nothing(pg_server, pg_url):
    con = connect(pg_url, "S1")
    assert isinstance(con, pg.PgConnection)
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT INTO carriers (item_id, profile_id, family, station_id, created) "
                "VALUES ('HALF', 'fd35-2hd', 'FD', 'S1', 'now')")
    _kill_backend_of(pg_server, con)
    with pytest.raises(pg.LedgerDropped) as dropped:
        con.execute("INSERT INTO events (id, attempt, item_id, station_id, step, started, "
                    "outcome, recorded) VALUES ('e', 'a', 'HALF', 'S1', 's', 't', 'o', 'r')")
    assert dropped.value.key == "ledger_pg.dropped" and dropped.value.exit_code == 5
    fresh = connect(pg_url)
    assert fresh.execute("SELECT COUNT(*) FROM carriers").fetchone()[0] == 0


def test_a_write_that_waits_too_long_is_refused_and_the_station_goes_on(pg_url):
    from workbench.errors import Aborted
    first, second = connect(pg_url, "S1"), connect(pg_url, "S2")
    first.execute("BEGIN IMMEDIATE")  # a long write at another station
    second.raw.execute("SET lock_timeout = '100ms'")
    with pytest.raises(Aborted) as busy:
        second.execute("BEGIN IMMEDIATE")
    assert busy.value.key == "ledger_pg.busy"
    first.execute("ROLLBACK")
    seed(second, "FD1", "success", "2026-01-01T00:00:00Z", station="S2")  # still usable
    assert second.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 1


# -- stations coordinate ---------------------------------------------------------------------

def _settings(root: Path, station: str, url: str) -> Settings:
    from workbench.config import _paths
    root.mkdir(parents=True, exist_ok=True)
    return replace(Settings(), station_id=station, paths=_paths(root, {}), ledger_url=url)


def test_an_item_at_one_station_is_refused_at_another_naming_it(tmp_path, pg_url):
    from workbench.station import Station
    from workbench.station.states import Action
    a = Station(_settings(tmp_path / "a", "reading-room-1", pg_url))
    b = Station(_settings(tmp_path / "b", "reading-room-2", pg_url))
    try:
        lock = a.lock("FD-7", Action.IMAGE).acquire()
        with pytest.raises(Refused) as refused:
            b.lock("FD-7", Action.IMAGE).acquire()
        assert "reading-room-1" in str(refused.value) and "FD-7" in str(refused.value)
        b.lock("FD-8", Action.IMAGE).acquire().release()  # another item is free
        lock.release()
        b.lock("FD-7", Action.IMAGE).acquire().release()
        a.lock("FD-7", Action.IMAGE).acquire()
        a.close()  # a station that ends (or dies) leaves no lock behind on the server
        b.lock("FD-7", Action.IMAGE).acquire().release()
    finally:
        b.close()


WRITER = """
import sys
from workbench.ledger.db import connect
from workbench.ledger import record as ledger
from tests.test_ledger_pg import seed
target, station, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = connect(target, station)
for i in range(n):
    item = f"SHARED-{i % 25}" if i % 3 == 0 else f"{station}-{i}"
    seed(con, item, ("success", "failed")[i % 2], f"2026-05-01T10:00:{i % 60:02d}.{i}Z",
         station=station, sha256=f"{station}{i}")
    ledger.record_event(con, f"{station}-{item}", item, station, "imaging", f"t{i}", f"t{i}",
                        "success")
con.close()
"""


def test_four_stations_writing_at_once_lose_and_duplicate_nothing(backend, tmp_path):
    target = str(backend.target(tmp_path / "shared.sqlite"))
    connect(target).close()  # made (and migrated) once, before the stations start
    per = 120
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, target, f"S{n}", str(per)],
                              cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
                              stderr=subprocess.PIPE, text=True) for n in range(4)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    con = connect(target)
    count = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    assert count("SELECT COUNT(*) FROM attempts") == 4 * per
    assert count("SELECT COUNT(DISTINCT id) FROM attempts") == 4 * per
    assert count("SELECT COUNT(*) FROM events") == 4 * per
    shared = len({f"SHARED-{i % 25}" for i in range(0, per, 3)})
    assert count("SELECT COUNT(*) FROM carriers") == 4 * (per - len(range(0, per, 3))) + shared
    by_station = dict(con.execute("SELECT station_id, COUNT(*) FROM attempts GROUP BY "
                                  "station_id").fetchall())
    assert by_station == {f"S{n}": per for n in range(4)}  # every row names its station
    # the derived tables agree with the history written by four writers at once
    assert count("SELECT COUNT(*) FROM heads") == 4 * per
    latest = dict(con.execute(
        "SELECT item_id, attempt FROM (SELECT h.item_id, h.attempt, ROW_NUMBER() OVER ("
        "PARTITION BY h.item_id ORDER BY h.started DESC, h.station_id DESC, h.row DESC) rn "
        "FROM heads h) WHERE rn = 1").fetchall())
    assert dict(con.execute("SELECT item_id, attempt FROM carrier_heads").fetchall()) == latest


# -- outages -------------------------------------------------------------------------------

def test_an_outage_goes_to_the_journal_and_resyncs_without_loss(tmp_path, pg_server, pg_url):
    from workbench.ledger.conflicts import find_conflicts
    from workbench.ledger.copy import copy_rows
    from workbench.ledger.db import connect_sqlite
    from workbench.ledger.link import LinkedLedger, LinkState
    # the station reaches the server through a link in its own folder: removing the link
    # cuts it off (connection refused), as a network outage would
    link = tmp_path / "net"
    real = _socket_dir(pg_server)
    station_url = pg_url.replace(f"host={real}", f"host={link}")
    other = connect(pg_url, "S2")  # another station, always online
    seed(other, "ITEM-0", "success", "2026-06-01T09:00:00Z", station="S2", sha256="s2-disc")
    link.symlink_to(real)
    linked = LinkedLedger(station_url, tmp_path / "ledger-journal.sqlite", "S1",
                          retry_seconds=0)
    seed(linked, "ITEM-1", "success", "2026-06-01T10:00:00Z", sha256="a1")
    assert linked.status().state is LinkState.ONLINE
    # the outage, in the middle of a transaction: that write is refused whole (the
    # server kept nothing of it), and the station goes on offline
    linked.execute("BEGIN IMMEDIATE")
    link.unlink()
    _kill_backend_of(pg_server, linked.server)
    with pytest.raises(pg.LedgerDropped):
        linked.execute("INSERT INTO carriers (item_id, profile_id, family, station_id, "
                       "created) VALUES ('HALF', 'fd35-2hd', 'FD', 'S1', 'now')")
    linked.execute("ROLLBACK")  # as the code does: nothing to roll back any more
    status = linked.status()
    assert status.state is LinkState.OFFLINE and "ledger-journal" in status.line()
    for n in range(2, 6):  # the station goes on: the journal
        seed(linked, f"ITEM-{n}", "success", f"2026-06-01T10:1{n}:00Z", sha256=f"a{n}")
    seed(linked, "ITEM-0", "success", "2026-06-01T11:00:00Z", sha256="other-disc")
    assert linked.status().pending == 5
    # meanwhile ITEM-0 was imaged at S2 with other content: a conflict to report
    assert other.execute("SELECT COUNT(*) FROM attempts WHERE station_id = 'S1'"
                         ).fetchone()[0] == 1  # only what was sent before the outage
    journal_copy = tmp_path / "journal-before.sqlite"
    linked.journal.execute(f"VACUUM INTO '{journal_copy}'")
    link.symlink_to(real)  # the server is back: the next write sends the journal first
    seed(linked, "ITEM-9", "success", "2026-06-01T12:00:00Z", sha256="a9")
    assert linked.status().state is LinkState.ONLINE
    sent = linked.last_resync
    assert sent is not None and sent.added["attempts"] == 5
    assert sent.kept == tmp_path / "ledger-journal.sqlite" and sent.kept.exists()
    assert linked.resync().kept is None  # marked sent: nothing twice
    assert [(c.kind, c.a.item_id) for c in sent.conflicts] == [("item", "ITEM-0")]
    rows = other.execute("SELECT item_id FROM attempts WHERE station_id = 'S1' "
                         "ORDER BY item_id").fetchall()
    assert [r[0] for r in rows] == ["ITEM-0", "ITEM-1", "ITEM-2", "ITEM-3", "ITEM-4",
                                    "ITEM-5", "ITEM-9"]  # each once
    assert other.execute("SELECT COUNT(*) FROM carriers WHERE item_id = 'HALF'"
                         ).fetchone()[0] == 0
    # a resync that ran twice (a crash between the server's commit and the journal's
    # mark) adds nothing
    again = copy_rows(connect_sqlite(journal_copy), other)
    assert set(again.values()) == {0}
    assert find_conflicts(other) == sent.conflicts
    linked.close()


def test_a_station_started_during_an_outage_says_so_and_resyncs(tmp_path, pg_server, pg_url):
    link = tmp_path / "net"
    real = _socket_dir(pg_server)
    url = pg_url.replace(f"host={real}", f"host={link}")
    env = {"WORKBENCH_LEDGER_URL": url}
    out = workbench_run("ledger", "status", cwd=tmp_path, env=env)
    assert out.returncode == ExitCode.ABORTED and "OFFLINE" in out.stdout
    media = PROJECT_ROOT / "media" / "usb-sample.drive.toml"
    done = workbench_run("migrate", str(media), "--profile", "usb", "--item", "USB-1",
                         cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "OFFLINE" in done.stderr and (tmp_path / "logs" / "ledger-journal.sqlite").exists()
    still = workbench_run("ledger", "resync", cwd=tmp_path, env=env)
    assert still.returncode == ExitCode.ABORTED
    link.symlink_to(real)
    sent = workbench_run("ledger", "resync", cwd=tmp_path, env=env)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    server = connect(pg_url)
    assert server.execute("SELECT COUNT(*) FROM carriers").fetchone()[0] == 1
    events = server.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert events >= 3
    assert workbench_run("ledger", "resync", cwd=tmp_path, env=env).returncode == 0
    assert server.execute("SELECT COUNT(*) FROM events").fetchone()[0] == events
    shown = workbench_run("show", "USB-1", cwd=tmp_path, env=env)
    assert "USB-1" in shown.stdout
    assert "the server" in workbench_run("ledger", "status", cwd=tmp_path, env=env).stdout
    checked = workbench_run("ledger", "check", cwd=tmp_path, env=env)
    assert checked.returncode == 0 and "no damage" in checked.stdout


def test_two_processes_of_one_station_share_the_journal_and_send_each_row_once(
        tmp_path, pg_server, pg_url):
    from workbench.ledger.link import LinkedLedger
    link, real = tmp_path / "net", _socket_dir(pg_server)
    url = pg_url.replace(f"host={real}", f"host={link}")
    journal = tmp_path / "ledger-journal.sqlite"
    board = LinkedLedger(url, journal, "S1", retry_seconds=0)  # both start offline
    cli = LinkedLedger(url, journal, "S1", retry_seconds=0)
    seed(board, "B-1", "success", "2026-07-01T10:00:00Z")
    seed(cli, "C-1", "success", "2026-07-01T10:01:00Z")
    link.symlink_to(real)
    assert board.reconnect()  # sends B-1 and C-1
    link.unlink()
    seed(cli, "C-2", "success", "2026-07-01T10:02:00Z")  # the other is still offline
    link.symlink_to(real)
    assert cli.reconnect()  # sends C-2 only (the rest is marked sent)
    assert cli.last_resync is not None and cli.last_resync.added["attempts"] == 1
    server = connect(pg_url)
    items = [r[0] for r in server.execute("SELECT item_id FROM attempts ORDER BY item_id")]
    assert items == ["B-1", "C-1", "C-2"]
    board.close()
    cli.close()


# -- moving over ---------------------------------------------------------------------------

def test_move_to_copies_10000_attempts_once_and_checks_them(tmp_path, pg_url):
    import psycopg

    from workbench.ledger.move import move_to
    file = tmp_path / "logs" / "ledger.sqlite"
    con = connect(file)
    rows, carriers = [], []
    for n in range(10_000):
        item = f"I{n // 2:05d}"
        if n % 2 == 0:
            carriers.append({"item_id": item, "profile_id": "fd35-2hd", "family": "FD",
                             "station_id": "S1", "created": "2026-01-01"})
        rows.append({"attempt": f"S1|{n}", "item_id": item, "station_id": "S1",
                     "operator": "op", "drive": "d", "drive_serial": "",
                     "profile_id": "fd35-2hd", "family": "FD", "batch": "B",
                     "started": f"2026-01-01T00:{n // 600 % 60:02d}:{n % 60:02d}.{n}Z",
                     "ended": "", "outcome": ("success", "failed")[n % 2],
                     "reason_code": "", "reason": "", "bytes": 1474560 * n,
                     "bytes_rescued": n, "bad_sectors": 0, "read_errors": 0,
                     "rate": n / 7, "md5": "", "sha256": f"{n:064x}", "job_dir": "",
                     "note": "日本語"})
    assert ledger.add_attempts(con, rows, carriers) == 10_000
    ledger.record_event(con, "S1|0", "I00000", "S1", "imaging", "t", "t", "success")
    con.close()
    first = move_to(file, pg_url, "S1")
    assert first.ok and first.added["attempts"] == 10_000 and first.added["carriers"] == 5000
    server = connect(pg_url)
    assert server.execute("SELECT COUNT(*) FROM heads").fetchone()[0] == 10_000
    assert server.execute("SELECT COUNT(*) FROM carrier_heads").fetchone()[0] == 5000
    # the check can fail: a row changed on the server (its guard put aside by hand)
    with psycopg.connect(pg_url, autocommit=True) as raw:
        raw.execute("ALTER TABLE attempts DISABLE TRIGGER attempts_append_only")
        raw.execute("UPDATE attempts SET bytes_rescued = 1 WHERE attempt = 'S1|77'")
        raw.execute("ALTER TABLE attempts ENABLE TRIGGER attempts_append_only")
    cli = workbench_run("ledger", "move-to", pg_url, cwd=tmp_path)  # again: copies nothing
    assert cli.returncode == ExitCode.CONFLICTS and "1 differ" in cli.stdout
    assert "attempts: 10000 rows here, 10000 on the server, 0 copied now" in cli.stdout
    assert f"SHA-256 of the attempts rows: {first.digests['attempts']}" in cli.stdout
    assert server.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 10_000


def test_the_statistics_screen_says_the_ledger_is_offline(tmp_path):
    import asyncio

    from textual.widgets import Static

    from workbench.tui.app import WorkbenchApp
    from workbench.tui.supervisor import StatsScreen
    url = f"postgresql://postgres@/postgres?host={tmp_path}/no-server&port=5432"

    async def scenario(settings: Settings) -> str:
        app = WorkbenchApp(settings)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("s")
            assert isinstance(app.screen, StatsScreen)
            link = app.screen.query_one("#ledger-link", Static)
            return str(link.render()) if link.display else ""
    offline = asyncio.run(scenario(replace(Settings(), ledger_url=url)))
    assert "OFFLINE" in offline and "ledger-journal.sqlite" in offline
    assert asyncio.run(scenario(Settings())) == ""  # its own file: nothing to say
