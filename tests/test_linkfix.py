"""The shared ledger's link and item locks (tryout 15b N3, N4, N9, N10, N13): a drop
while imaging does not free an item (keeper and lease), an item taken meanwhile stops
the work and is never recorded over; a drop noticed at a release or a COMMIT reconnects
at once; an interrupted resync says what the server kept; URL typos and a missing
schema are typed; "same image" pairs are grouped behind the real conflicts."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.conftest import workbench_run
from tests.pg_fixtures import *  # noqa: F403 (the fixtures pg_server, pg_url)
from tests.test_ledger_pg import _kill_backend_of, _settings, _socket_dir, seed
from workbench import PROJECT_ROOT
from workbench.errors import BadInput, ExitCode, Refused
from workbench.ledger import item_locks, keeper, pg
from workbench.ledger.conflicts import Conflict, Side
from workbench.ledger.db import connect

MEDIA = str(PROJECT_ROOT / "media" / "usb-sample.drive.toml")


def _advisory_holder(server: str, con: pg.PgConnection) -> bool:
    """Whether con's current session holds an advisory lock (asked from outside)."""
    import psycopg
    with psycopg.connect(server, autocommit=True) as admin:
        return bool(admin.execute(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND pid = %s", (con.raw.info.backend_pid,)).fetchone()[0])


def _drop(server: str, con: pg.PgConnection) -> None:
    """End con's session on the server, and wait (10 s at most) until it is gone with
    its locks (pg_terminate_backend only asks)."""
    import psycopg
    pid = con.raw.info.backend_pid
    _kill_backend_of(server, con)
    deadline = time.monotonic() + 10
    with psycopg.connect(server, autocommit=True) as admin:
        while time.monotonic() < deadline and admin.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]:
            time.sleep(0.02)


def _stations(tmp_path: Path, url: str):
    from workbench.station import Station
    return (Station(_settings(tmp_path / "a", "station-A", url)),
            Station(_settings(tmp_path / "b", "station-B", url)))


def test_the_keeper_takes_the_lock_back_during_a_long_imaging(tmp_path, pg_server, pg_url,
                                                              monkeypatch):
    from workbench.station.states import Action
    monkeypatch.setattr(keeper, "TICK", 0.1)
    a, b = _stations(tmp_path, pg_url)
    try:
        lock = a.lock("K-1", Action.IMAGE).acquire()
        old = a.con.server
        _drop(pg_server, old)  # a blip while the drive reads: no statement
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
                a.con.server is old or a.con.server is None
                or not _advisory_holder(pg_server, a.con.server)):
            time.sleep(0.05)
        assert a.con.server is not old and _advisory_holder(pg_server, a.con.server)
        with pytest.raises(Refused) as refused:
            b.lock("K-1", Action.IMAGE).acquire()
        assert "station-A" in str(refused.value)
        lock.release()
        b.lock("K-1", Action.IMAGE).acquire().release()  # given back: free at once
    finally:
        a.close()
        b.close()


def test_a_drop_of_seconds_does_not_free_the_item(tmp_path, pg_server, pg_url, monkeypatch):
    from workbench.station.states import Action
    monkeypatch.setattr(keeper, "TICK", 3600.0)  # no keeper: the lease alone
    a, b = _stations(tmp_path, pg_url)
    try:
        a.lock("G-1", Action.IMAGE).acquire()
        _drop(pg_server, a.con.server)
        with pytest.raises(Refused) as kept:
            b.lock("G-1", Action.IMAGE).acquire()
        assert kept.value.key == "linkfix.item_kept" and "station-A" in str(kept.value)
        assert kept.value.params["left"] > 100
        b.lock("G-2", Action.IMAGE).acquire().release()  # B's own work goes on
        monkeypatch.setattr(item_locks, "GRACE_SECONDS", 0.0)  # past the lease: free
        b.lock("G-1", Action.IMAGE).acquire().release()
    finally:
        a.close()
        b.close()


def test_an_item_taken_meanwhile_stops_the_imaging_and_is_never_reported_as_ours(
        tmp_path, pg_server, pg_url, monkeypatch, profiles):
    from workbench.station import Station
    from workbench.station.states import Action
    monkeypatch.setenv("WORKBENCH_TRAINING_SPEED", "fast")
    monkeypatch.setattr(keeper, "TICK", 3600.0)  # its ticks are called by hand here
    monkeypatch.setattr(item_locks, "GRACE_SECONDS", 0.0)  # the drop outlasted the lease
    b = Station(_settings(tmp_path / "b", "station-B", pg_url))
    taken: list[object] = []

    def progress(step: str, _: object) -> None:
        if taken or step != "image":
            return
        _drop(pg_server, a.con.server)  # the link drops while A images
        taken.append(b.lock("T-1", Action.IMAGE).acquire())  # and B takes the carrier
        a.con.keep()  # A's keeper: back online, the item is B's

    a = Station(_settings(tmp_path / "a", "station-A", pg_url), progress)
    try:
        with pytest.raises(Refused) as refused:
            a.migrate(MEDIA, profiles.get("usb"), "T-1")
        assert refused.value.key == "linkfix.item_taken" and "station-B" in str(refused.value)
        assert refused.value.params["detail"]  # why the link was down, said
        assert a.cancel.is_set()  # the imaging was stopped, not run to its end
        assert not (tmp_path / "a" / "bags" / "T-1").exists()
        server = connect(pg_url)
        assert server.execute("SELECT COUNT(*) FROM attempts WHERE item_id = 'T-1'"
                              ).fetchone()[0] == 0  # nothing of A's recorded over B's work
        with pytest.raises(Refused) as still:  # A's release did not give B's lock away
            Station(_settings(tmp_path / "c", "station-C", pg_url)).lock(
                "T-1", Action.IMAGE).acquire()
        assert "station-B" in str(still.value)
        server.close()
    finally:
        a.close()
        b.close()


def test_a_drop_found_at_release_or_commit_reconnects_at_once(tmp_path, pg_server, pg_url,
                                                              monkeypatch):
    from workbench.ledger.link import LinkState
    from workbench.station.states import Action
    monkeypatch.setattr(keeper, "TICK", 3600.0)
    a, b = _stations(tmp_path, pg_url)
    try:
        assert a.con.retry_seconds == 30
        lock = a.lock("REL-1", Action.IMAGE).acquire()
        _drop(pg_server, a.con.server)
        lock.release()
        assert a.con.status().state is LinkState.ONLINE  # not 30 s on the journal
        b.lock("REL-1", Action.IMAGE).acquire().release()  # no lease left behind
        second = a.lock("REL-2", Action.IMAGE).acquire()
        assert _advisory_holder(pg_server, a.con.server)  # on the server, not local only
        with pytest.raises(Refused):
            b.lock("REL-2", Action.IMAGE).acquire()
        second.release()
        # a lost COMMIT: typed, and the next statement is on the server again
        a.con.execute("BEGIN IMMEDIATE")
        seed(a.con, "C-1", "success", "2026-01-01T00:00:00Z", station="station-A")
        _drop(pg_server, a.con.server)
        with pytest.raises(pg.LedgerDropped):
            a.con.execute("COMMIT")
        a.con.execute("ROLLBACK")
        seed(a.con, "C-2", "success", "2026-01-01T00:00:01Z", station="station-A")
        assert a.con.status().state is LinkState.ONLINE
        assert not (tmp_path / "a" / "logs" / "ledger-journal.sqlite").exists()
    finally:
        a.close()
        b.close()


def test_an_interrupted_resync_says_what_the_server_kept(tmp_path, pg_server, pg_url,
                                                         monkeypatch):
    from workbench.ledger import link as link_module
    from workbench.ledger.link import LinkedLedger
    net, real = tmp_path / "net", _socket_dir(pg_server)
    url = pg_url.replace(f"host={real}", f"host={net}")
    journal = tmp_path / "journal.sqlite"
    offline = LinkedLedger(url, journal, "S1")
    assert offline.server is None
    for i in range(40):
        seed(offline, f"J-{i}", "success", f"2026-01-01T00:00:{i:02d}Z")
    offline.close()
    net.symlink_to(real)
    monkeypatch.setattr(link_module, "RESYNC_CHUNK", 10)

    class CutAfterOneChunk(link_module.Counted):
        def execute(self, sql, parameters=(), /):
            done = super().execute(sql, parameters)
            if sql.strip().upper().startswith("COMMIT") and self.kept:
                _kill_backend_of(pg_server, self.server)
            return done

    monkeypatch.setattr(link_module, "Counted", CutAfterOneChunk)
    with pytest.raises(pg.LedgerDropped) as cut:
        LinkedLedger(url, journal, "S1")
    kept = cut.value.params["kept"]
    assert cut.value.key == "linkfix.resync_cut" and cut.value.exit_code == 5
    assert 0 < kept < cut.value.params["total"] and "again" in str(cut.value)
    assert "kept nothing" not in str(cut.value)
    server = connect(pg_url)
    on_server = server.execute("SELECT COUNT(*) FROM carriers").fetchone()[0] + \
        server.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
    assert on_server == kept
    monkeypatch.setattr(link_module, "Counted", CutAfterOneChunk.__mro__[1])
    LinkedLedger(url, journal, "S1").close()  # the rerun sends the rest
    assert server.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 40
    server.close()


def test_url_typos_are_bad_input_and_a_missing_schema_is_refused(tmp_path, pg_server):
    base = pg_server + ("&" if "?" in pg_server else "?")
    with pytest.raises(BadInput) as ssl:
        pg.connect(base + "sslmode=bogus")
    assert ssl.value.key == "ledger_pg.bad_url" and "sslmode" in str(ssl.value)
    spaced = pg_server.replace("/postgres?", "/post gres?")
    assert spaced != pg_server
    with pytest.raises(BadInput) as space:
        pg.connect(spaced)
    assert space.value.key == "ledger_pg.bad_url" and "spaces" in str(space.value)
    with pytest.raises(Refused) as schema:
        pg.connect(base + "options=-c%20search_path%3Dno_such_schema")
    assert schema.value.key == "linkfix.schema_refused" and schema.value.exit_code == 6
    assert "no_such_schema" in str(schema.value)
    out = workbench_run("ledger", "status", cwd=tmp_path,
                        env={"WORKBENCH_LEDGER_URL": base + "sslmode=bogus"})
    assert out.returncode == ExitCode.BAD_INPUT and "OFFLINE" not in out.stdout + out.stderr
    assert not (tmp_path / "logs" / "ledger-journal.sqlite").exists()


def _side(item: str, station: str, digest: str) -> Side:
    return Side(f"{station}-{item}", item, station, "fd35-2hd", digest, "success", "2026")


def test_same_image_pairs_are_one_line_per_image_after_the_real_conflicts():
    from itertools import combinations

    from workbench.station.conflict_list import conflict_report
    many = [_side(f"P-{n}", f"station-{n % 3}", "ab" * 32) for n in range(15)]
    pairs = [Conflict("image", x, y) for x, y in combinations(many, 2)]
    two = [Conflict("image", _side("Q-1", "station-0", "cd" * 32),
                    _side("Q-2", "station-1", "cd" * 32))]
    real = Conflict("item", _side("R-1", "station-0", "ef" * 32),
                    _side("R-1", "station-1", "01" * 32))
    lines, images = conflict_report([*two, *pairs, real])
    assert len(pairs) == 105 and images == 2 and len(lines) == 3
    assert lines[0].startswith("CONFLICT R-1")
    assert "under 15 item IDs" in lines[1] and "P-0 (station-0)" in lines[1]
    assert "and 3 more" in lines[1]  # 12 named, the rest counted
    assert "under 2 item IDs" in lines[2] and "Q-1" in lines[2] and "Q-2" in lines[2]
    # one item ID at two stations, sharing an image with another: named once (T6)
    both = [_side("S-1", "station-0", "99" * 32), _side("S-1", "station-1", "99" * 32),
            _side("S-2", "station-0", "99" * 32)]
    lines, _ = conflict_report([Conflict("image", x, y) for x, y in combinations(both, 2)])
    assert "under 2 item IDs" in lines[-1] and lines[-1].count("S-1") == 1, lines
    assert "S-1 (station-0, station-1)" in lines[-1]


def test_ledger_conflicts_prints_grouped_images(tmp_path):
    ledger = tmp_path / "logs" / "ledger.sqlite"
    con = connect(ledger)
    for n in range(5):
        seed(con, f"S-{n}", "success", f"2026-01-0{n + 1}T00:00:00Z", station=f"st-{n}",
             sha256="same")
    con.close()
    out = workbench_run("ledger", "conflicts", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    images = [line for line in out.stdout.splitlines() if "same image" in line]
    assert len(images) == 1 and "under 5 item IDs" in images[0]
    assert "1 image(s)" in out.stdout


def test_the_keeper_stops_with_the_ledger(tmp_path, pg_url, monkeypatch):
    from workbench.station.states import Action
    monkeypatch.setattr(keeper, "TICK", 0.05)
    a, b = _stations(tmp_path, pg_url)
    a.lock("S-1", Action.IMAGE).acquire()
    running = a.con.keeper
    assert running is not None and running.is_alive()
    a.close()
    running.join(5)
    assert not running.is_alive() and threading.active_count() >= 1
    b.lock("S-1", Action.IMAGE).acquire().release()  # an orderly end leaves no lease
    b.close()


def test_a_take_refused_after_the_server_lock_leaves_no_lease(tmp_path, pg_url, monkeypatch):
    from workbench.station import ledger_link
    from workbench.station.states import Action
    a, b = _stations(tmp_path, pg_url)

    def bagged_elsewhere(*_: object) -> None:
        raise Refused("pgfix.bagged_elsewhere", item="E-1", station="station-A")

    try:
        with monkeypatch.context() as patch:
            patch.setattr(ledger_link, "check_elsewhere", bagged_elsewhere)
            with pytest.raises(Refused):
                b.lock("E-1", Action.IMAGE).acquire()
        assert b.con.server is not None and not b.con.server.execute(
            "SELECT item_id FROM item_locks").fetchall()
        a.lock("E-1", Action.IMAGE).acquire().release()  # free at once, for anyone
    finally:
        a.close()
        b.close()


def test_an_item_another_station_finished_while_the_lease_lapsed_is_refused_at_relock(
        tmp_path, pg_server, pg_url, monkeypatch, profiles):
    """Tryout 15c T1: A's link is down past the lease; B migrates and bags the carrier
    and lets it go. A's keeper takes the free lock back: the rows B wrote meanwhile say
    the carrier is B's; A's imaging is stopped and refused, never "success" with B's bag."""
    from workbench.station import Station
    monkeypatch.setenv("WORKBENCH_TRAINING_SPEED", "fast")
    monkeypatch.setattr(keeper, "TICK", 3600.0)  # its ticks are called by hand here
    monkeypatch.setattr(item_locks, "GRACE_SECONDS", 0.0)  # the drop outlasted the lease
    b = Station(_settings(tmp_path / "b", "station-B", pg_url))
    done: list[object] = []

    def progress(step: str, _: object) -> None:
        if done or step != "image":
            return
        _drop(pg_server, a.con.server)  # the link drops while A images
        done.append(b.migrate(MEDIA, profiles.get("usb"), "T-3"))  # B does it all
        a.con.keep()  # A's keeper: online again, the lock is free, the carrier is B's

    a = Station(_settings(tmp_path / "a", "station-A", pg_url), progress)
    try:
        with pytest.raises(Refused) as refused:
            a.migrate(MEDIA, profiles.get("usb"), "T-3")
        assert refused.value.key == "linkfix.item_taken" and "station-B" in str(refused.value)
        assert not (tmp_path / "a" / "bags" / "T-3").exists()
        server = connect(pg_url)
        assert [r[0] for r in server.execute(
            "SELECT station_id FROM attempts WHERE item_id = 'T-3'")] == ["station-B"]
        server.close()
    finally:
        a.close()
        b.close()


def test_a_bag_another_station_made_is_never_this_imagings_result():
    """The last guard of T1: after imaging, a current bag of another station is refused
    (lead.overtaken), naming it; this station's own bag goes on."""
    from types import SimpleNamespace

    from workbench.station.elsewhere import refuse_overtaken
    from workbench.station.states import State
    station = SimpleNamespace(settings=SimpleNamespace(station_id="station-A",
                                                       paths=SimpleNamespace(
                                                           staging=Path("/st"))))
    theirs = SimpleNamespace(item_id="O-1", state=State.BAGGED, bag=SimpleNamespace(
        station_id="station-B", path="/b/bags/O-1"))
    with pytest.raises(Refused) as refused:
        refuse_overtaken(station, theirs)
    assert refused.value.key == "lead.overtaken"
    assert "station-B" in str(refused.value) and "/b/bags/O-1" in str(refused.value)
    ours = SimpleNamespace(item_id="O-1", state=State.BAGGED, bag=SimpleNamespace(
        station_id="station-A", path="/a/bags/O-1"))
    refuse_overtaken(station, ours)


def test_ledger_conflicts_offline_says_it_cannot_know(tmp_path):
    """Tryout 15c T2: offline, "no conflicts" (exit 0, an empty --out) was false: the
    conflicts are among the server's rows; the journal cannot say."""
    from workbench.errors import Aborted
    from workbench.station import Station
    nowhere = f"postgresql://postgres@/postgres?host={tmp_path / 'nowhere'}&port=5432"
    with Station(_settings(tmp_path / "a", "station-A", nowhere)) as a, \
            pytest.raises(Aborted) as offline:
        a.records.conflicts()
    assert offline.value.key == "lead.conflicts_offline"
    assert "offline" in str(offline.value) and "ledger status" in str(offline.value)


def test_an_item_let_go_offline_is_free_for_others_once_the_link_is_back(
        tmp_path, pg_server, pg_url, monkeypatch):
    """Tryout 15c T4: a station that finished a carrier offline kept it from every other
    station for 120 s after it was back (its lease row stayed)."""
    from workbench.station.states import Action
    monkeypatch.setattr(keeper, "TICK", 3600.0)  # no keeper: the reconnect by hand
    a, b = _stations(tmp_path, pg_url)
    try:
        lock = a.lock("L-1", Action.IMAGE).acquire()
        _drop(pg_server, a.con.server)
        a.con._go_offline(pg.LedgerDropped("ledger_pg.dropped", detail="test"))
        lock.release()  # offline: only this station's file lock goes
        with pytest.raises(Refused) as kept:
            b.lock("L-1", Action.IMAGE).acquire()
        assert kept.value.key == "linkfix.item_kept"
        assert a.con.reconnect()  # back: the lease of what it let go ends
        b.lock("L-1", Action.IMAGE).acquire().release()
    finally:
        a.close()
        b.close()
