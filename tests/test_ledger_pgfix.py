"""The shared ledger's rough edges found by a tester (issue 15, tryout D1-D10): offline a
carrier bagged before the outage is refused, a lost COMMIT or item lock is a typed fault,
the server's item lock is taken again after a blip, a resync's conflicts are shown, a
missing role and a malformed URL are typed, offline figures say they are the journal's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import workbench_run
from tests.pg_fixtures import *  # noqa: F403 (the fixtures pg_server, pg_url)
from tests.test_ledger_pg import _kill_backend_of, _settings, _socket_dir, seed
from workbench import PROJECT_ROOT
from workbench.errors import BadInput, ExitCode, Refused
from workbench.ledger import pg
from workbench.ledger.db import connect

MEDIA = str(PROJECT_ROOT / "media" / "usb-sample.drive.toml")


def _cut_url(tmp_path: Path, pg_server: str, pg_url: str) -> tuple[Path, str, str]:
    """A URL through a link in tmp_path: removing the link is an outage."""
    link, real = tmp_path / "net", _socket_dir(pg_server)
    return link, real, pg_url.replace(f"host={real}", f"host={link}")


def test_offline_a_carrier_bagged_before_the_outage_is_refused(tmp_path, pg_server, pg_url):
    link, real, url = _cut_url(tmp_path, pg_server, pg_url)
    env = {"WORKBENCH_LEDGER_URL": url}
    link.symlink_to(real)
    done = workbench_run("migrate", MEDIA, "--profile", "usb", "--item", "USB-1",
                         cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "bags" / "USB-1").is_dir()
    link.unlink()  # the outage: the journal knows nothing of USB-1's bag
    for command in (["retry", "USB-1"], ["accept", "USB-1"],
                    ["withdraw", "USB-1", "--reason", "x"]):
        out = workbench_run(*command, cwd=tmp_path, env=env)
        assert out.returncode == ExitCode.REFUSED, (command, out.stdout, out.stderr)
        assert "history is on the server" in out.stderr
    assert not (tmp_path / "bags" / "USB-1+v2").exists()
    shown = workbench_run("show", "USB-1", cwd=tmp_path, env=env)
    assert "OFFLINE" in shown.stderr and "journal only" in shown.stderr
    # a carrier first imaged during the outage goes on as before (its job folder is all)
    fresh = workbench_run("migrate", MEDIA, "--profile", "usb", "--item", "USB-2",
                          cwd=tmp_path, env=env)
    assert fresh.returncode == 0, fresh.stderr
    link.symlink_to(real)  # back: nothing of USB-1 changed, USB-2 sent
    server = connect(pg_url)
    assert server.execute("SELECT COUNT(*) FROM bags WHERE item_id = 'USB-1'"
                          ).fetchone()[0] == 1
    assert workbench_run("ledger", "resync", cwd=tmp_path, env=env).returncode == 0
    assert server.execute("SELECT COUNT(*) FROM bags WHERE item_id = 'USB-2'"
                          ).fetchone()[0] == 1


def test_a_connection_lost_at_commit_is_a_typed_and_honest_fault(tmp_path, pg_server, pg_url):
    from workbench.ledger.link import LinkedLedger
    linked = LinkedLedger(pg_url, tmp_path / "journal.sqlite", "S1")
    linked.execute("BEGIN IMMEDIATE")
    linked.execute("INSERT INTO carriers (item_id, profile_id, family, station_id, created) "
                   "VALUES ('C-1', 'fd35-2hd', 'FD', 'S1', 'now')")
    assert linked.server is not None
    _kill_backend_of(pg_server, linked.server)
    with pytest.raises(pg.LedgerDropped) as lost:
        linked.execute("COMMIT")
    assert lost.value.key == "pgfix.commit_lost" and lost.value.exit_code == 5
    assert "may or may not" in str(lost.value)
    linked.execute("ROLLBACK")  # what the caller does next: nothing left to undo
    seed(linked, "C-2", "success", "2026-01-01T00:00:00Z")  # and the station goes on
    linked.close()


def test_a_lost_item_lock_is_taken_again_or_refused(tmp_path, pg_server, pg_url, monkeypatch):
    from workbench.ledger import item_locks, keeper
    from workbench.station import Station
    from workbench.station.states import Action
    monkeypatch.setattr(keeper, "TICK", 3600.0)  # the writes alone take the lock back here
    a = Station(_settings(tmp_path / "a", "station-A", pg_url))
    b = Station(_settings(tmp_path / "b", "station-B", pg_url))
    try:
        # a blip while taking the lock: typed, bridged, and the lock is held
        _kill_backend_of(pg_server, a.con.server)
        lock = a.lock("L-1", Action.IMAGE).acquire()
        with pytest.raises(Refused):
            b.lock("L-1", Action.IMAGE).acquire()
        # a blip after it: the next write of A takes the lock again before B can
        _kill_backend_of(pg_server, a.con.server)
        seed(a.con, "L-0", "success", "2026-01-01T00:00:00Z", station="station-A")
        with pytest.raises(Refused) as refused:
            b.lock("L-1", Action.IMAGE).acquire()
        assert "station-A" in str(refused.value)
        # a blip: A's lease keeps the item from B (a drop of seconds frees nothing)
        _kill_backend_of(pg_server, a.con.server)
        with pytest.raises(Refused, match="station-A"):  # held, or its lease runs
            b.lock("L-1", Action.IMAGE).acquire()
        # past the lease, B takes the item first: A's next write is refused, naming B
        monkeypatch.setattr(item_locks, "GRACE_SECONDS", 0.0)
        b_lock = b.lock("L-1", Action.IMAGE).acquire()
        with pytest.raises(Refused) as taken:
            seed(a.con, "L-9", "success", "2026-01-01T00:00:01Z", station="station-A")
        assert "station-B" in str(taken.value)
        lock.release()  # no error: A holds nothing on the server any more
        b_lock.release()
        # a lost connection at release: no traceback, the server let it go
        lock = a.lock("L-2", Action.IMAGE).acquire()
        _kill_backend_of(pg_server, a.con.server)
        lock.release()
        b.lock("L-2", Action.IMAGE).acquire().release()
    finally:
        a.close()
        b.close()


def test_a_lock_taken_offline_is_taken_on_the_server_at_reconnect(tmp_path, pg_server, pg_url):
    from workbench.station import Station
    from workbench.station.states import Action
    link, real, url = _cut_url(tmp_path, pg_server, pg_url)
    a = Station(_settings(tmp_path / "a", "station-A", url))
    b = Station(_settings(tmp_path / "b", "station-B", pg_url))
    try:
        assert a.con.server is None  # started during the outage
        a.con.retry_seconds = 0
        lock = a.lock("R-1", Action.IMAGE).acquire()
        link.symlink_to(real)
        seed(a.con, "R-0", "success", "2026-01-01T00:00:00Z", station="station-A")
        assert a.con.server is not None
        with pytest.raises(Refused) as refused:
            b.lock("R-1", Action.IMAGE).acquire()
        assert "station-A" in str(refused.value)
        lock.release()
        b.lock("R-1", Action.IMAGE).acquire().release()
    finally:
        a.close()
        b.close()


def test_resync_says_what_it_sent_and_lists_the_conflicts(tmp_path, pg_server, pg_url):
    link, real, url = _cut_url(tmp_path, pg_server, pg_url)
    env = {"WORKBENCH_LEDGER_URL": url}
    done = workbench_run("migrate", MEDIA, "--profile", "usb", "--item", "USB-1",
                         cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    offline_log = workbench_run("log", cwd=tmp_path, env=env)
    assert "OFFLINE" in offline_log.stderr and "journal only" in offline_log.stderr
    other = connect(pg_url, "S2")  # meanwhile another station imaged USB-1: other content
    seed(other, "USB-1", "success", "2026-06-01T09:00:00Z", station="S2", sha256="s2")
    link.symlink_to(real)
    sent = workbench_run("ledger", "resync", cwd=tmp_path, env=env)
    assert "Sent the journal" in sent.stdout and "Nothing to send" not in sent.stdout
    assert "USB-1" in sent.stdout and sent.returncode == ExitCode.CONFLICTS
    again = workbench_run("ledger", "resync", cwd=tmp_path, env=env)
    assert again.returncode == 0 and "every row of the journal" in again.stdout


def test_a_missing_role_is_refused_and_a_malformed_url_is_bad_input(tmp_path, pg_server):
    rest = pg_server.split("//", 1)[1]
    nobody = "postgresql://nosuchuser@" + (rest.split("@", 1)[1] if "@" in rest else rest)
    with pytest.raises(Refused) as refused:
        connect(nobody)
    assert refused.value.key == "pgfix.role_refused" and refused.value.exit_code == 6
    with pytest.raises(BadInput) as bad:
        connect("postgresql://ledger_pw:s3cret@[::1/postgres")
    assert bad.value.key == "ledger_pg.bad_url" and "s3cret" not in str(bad.value)
    out = workbench_run("ledger", "status", cwd=tmp_path,
                        env={"WORKBENCH_LEDGER_URL": "postgresql://u:p@[::1/db"})
    assert out.returncode == ExitCode.BAD_INPUT, out.stderr


def test_two_stations_identical_bags_stay_two_rows_and_migrate_elsewhere_names_the_station(
        tmp_path, pg_url, profiles):
    from workbench.ledger import record as ledger
    from workbench.station import Station
    a = Station(_settings(tmp_path / "a", "station-A", pg_url))
    b = Station(_settings(tmp_path / "b", "station-B", pg_url))
    try:
        done = a.migrate(MEDIA, profiles["usb"], "USB-1")
        assert done.bag is not None
        with pytest.raises(Refused) as refused:  # not a word about B's empty staging
            b.migrate(MEDIA, profiles["usb"], "USB-1")
        assert refused.value.key == "pgfix.bagged_elsewhere"
        assert "station-A" in str(refused.value)
        # the same content bagged at B (during an outage): its own row, A's kept
        seed(b.con, "USB-1", "success", "2026-01-01T00:00:00Z", station="station-B")
        oxum = str(b.con.execute("SELECT payload_oxum FROM bags WHERE item_id = 'USB-1'"
                                 ).fetchone()[0])  # A's: the same content
        path = Path("/b/bags/USB-1")
        first = ledger.record_bag(b.con, "station-B-USB-1-2026-01-01T00:00:00Z", "USB-1",
                                  "station-B", path, oxum)
        again = ledger.record_bag(b.con, "station-B-USB-1-2026-01-01T00:00:00Z", "USB-1",
                                  "station-B", path, oxum)
        assert first == again  # recorded twice: one row
        rows = b.con.execute("SELECT station_id FROM bags WHERE item_id = 'USB-1' "
                             "ORDER BY station_id").fetchall()
        assert [r[0] for r in rows] == ["station-A", "station-B"]
    finally:
        a.close()
        b.close()


def test_a_resync_lets_other_stations_write_between_its_chunks(
        tmp_path, pg_server, pg_url, monkeypatch):
    from workbench.ledger import link as link_module
    from workbench.ledger.link import LinkedLedger
    monkeypatch.setattr(link_module, "RESYNC_CHUNK", 10)
    net, real, url = _cut_url(tmp_path, pg_server, pg_url)
    linked = LinkedLedger(url, tmp_path / "journal.sqlite", "S1", retry_seconds=0)
    for n in range(30):  # the outage: 30 attempts (and their carriers) in the journal
        seed(linked, f"J-{n}", "success", f"2026-01-01T00:00:{n:02d}Z")
    commits: list[int] = []
    real_execute = pg.PgConnection.execute

    def counting(self, sql, parameters=(), /):
        if sql.strip().upper() == "COMMIT":
            commits.append(1)
        return real_execute(self, sql, parameters)
    monkeypatch.setattr(pg.PgConnection, "execute", counting)
    net.symlink_to(real)
    assert linked.reconnect()
    assert linked.last_resync is not None and linked.last_resync.added["attempts"] == 30
    assert len(commits) >= 6  # 60 rows in chunks of 10, not one transaction
    server = connect(pg_url)
    assert server.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 30
    assert server.execute("SELECT COUNT(*) FROM heads").fetchone()[0] == 30
    linked.close()


def test_move_to_finishes_with_an_item_id_another_station_holds_listed(tmp_path, pg_url):
    other = connect(pg_url, "S2")  # the server already knows K-1, another station's
    seed(other, "K-1", "success", "2026-01-01T00:00:00Z", station="S2",
         profile="fd525-dd", sha256="theirs")
    mine = connect(tmp_path / "logs" / "ledger.sqlite")
    seed(mine, "K-1", "partial", "2026-02-01T00:00:00Z", station="S1", sha256="ours")
    seed(mine, "K-2", "success", "2026-02-01T00:01:00Z", station="S1", sha256="k2")
    mine.close()
    for _ in range(2):  # and again: the same answer, nothing copied twice
        out = workbench_run("ledger", "move-to", pg_url, cwd=tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "K-1" in out.stdout and "another station" in out.stdout
    assert other.execute("SELECT COUNT(*) FROM attempts WHERE station_id = 'S1'"
                         ).fetchone()[0] == 2  # both of ours, K-1's attempt too
