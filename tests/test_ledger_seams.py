"""The shared ledger's seams left after tryout 15 (issue 15, ledgerfix): a drop in the
middle of a carrier's work leaves a true state (the server's rows of the carrier and the
journal's, never "new"); another station's abandoned attempt and bag are said as such;
`ledger conflicts` names one item bagged at two stations."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import workbench_run
from tests.pg_fixtures import *  # noqa: F403 (the fixtures backend, pg_server, pg_url)
from tests.test_ledger_pg import _kill_backend_of, _settings, _socket_dir
from workbench import PROJECT_ROOT
from workbench.ledger.db import connect

MEDIA = str(PROJECT_ROOT / "media" / "usb-sample.drive.toml")


def _cut_url(tmp_path: Path, pg_server: str, pg_url: str) -> tuple[Path, str, str]:
    """A URL through a link in tmp_path: removing the link is an outage."""
    link, real = tmp_path / "net", _socket_dir(pg_server)
    return link, real, pg_url.replace(f"host={real}", f"host={link}")


@pytest.mark.parametrize("cut_at", ["identify", "after_bag"])
def test_a_drop_mid_migrate_leaves_the_true_state(tmp_path, pg_server, pg_url, profiles,
                                                  cut_at, monkeypatch):
    """The server goes away after imaging (the attempt and its first steps are there
    only): the result says bagged, as the ledger will once the journal is sent."""
    from workbench.station import Station
    from workbench.station.states import State
    net, real, url = _cut_url(tmp_path, pg_server, pg_url)
    net.symlink_to(real)
    station = Station(_settings(tmp_path / "a", "station-A", url))
    cut: list[bool] = []

    def drop() -> None:
        if not cut:
            cut.append(True)
            net.unlink()  # the next statement finds the server gone, and no way back
            _kill_backend_of(pg_server, station.con.server)
    station.progress = lambda step, _p: drop() if step == cut_at else None
    from workbench.ledger import record
    record_bag = record.record_bag

    def bag_then_drop(*args, **kwargs):  # the bag's row is the server's alone
        row = record_bag(*args, **kwargs)
        drop()
        return row
    if cut_at == "after_bag":
        monkeypatch.setattr(record, "record_bag", bag_then_drop)
    try:
        done = station.migrate(MEDIA, profiles["usb"], "USB-1")
        assert cut and station.con.server is None  # it did go offline mid-way
        assert done.bag is not None and done.state is State.BAGGED, done.state
        assert station.state("USB-1").state is State.BAGGED
        status = station.records.link_status()
        assert status.pending == 0  # the attempt is the server's: nothing new to send
        net.symlink_to(real)
        station.con.retry_seconds = 0
        assert station.con.reconnect()
    finally:
        station.close()
    server = connect(pg_url)
    for table, rows in (("attempts", 1), ("bags", 1), ("carriers", 1)):
        assert server.execute(f"SELECT COUNT(*) FROM {table} WHERE item_id = 'USB-1'"
                              ).fetchone()[0] == rows, table
    steps = [r[0] for r in server.execute(
        "SELECT step FROM events WHERE item_id = 'USB-1' ORDER BY started")]
    assert steps == ["imaging", "verification", "identification", "packaging"], steps


def test_an_attempt_another_station_overtook_is_shown_abandoned(tmp_path, pg_url, profiles):
    """Station A stops imaging R-5 mid-way (killed: its lock dies with it), station B
    images and bags R-5: A's attempt is said abandoned, A's rerun is refused naming B,
    and the next steps name B, whose disk holds the bag."""
    from workbench.errors import Refused
    from workbench.station import Station
    from workbench.station.ledger_link import next_line
    from workbench.station.states import State
    a = Station(_settings(tmp_path / "a", "station-A", pg_url))
    b = Station(_settings(tmp_path / "b", "station-B", pg_url))
    try:
        a.progress = lambda step, _p: a.cancel.set() if step == "image" else None
        a.migrate(MEDIA, profiles["usb"], "R-5")  # stopped mid-way: resumable
        assert a.state("R-5").state is State.INTERRUPTED
        assert "resumable" in "\n".join(a.records.history_lines("R-5"))
        done = b.migrate(MEDIA, profiles["usb"], "R-5")
        assert done.bag is not None
        a.cancel.clear()
        a.progress = lambda step, _p: None
        with pytest.raises(Refused) as refused:  # not "in progress" with B's bag
            a.migrate(MEDIA, profiles["usb"], "R-5")
        assert refused.value.key == "pgfix.bagged_elsewhere"
        assert "station-B" in str(refused.value)
        history = "\n".join(a.records.history_lines("R-5"))
        assert "(resumable)" not in history and "abandoned" in history, history
        assert "station-B" in history
        st = a.state("R-5")
        assert st.state is State.BAGGED
        line = next_line(a, st, ["write to tape"])
        assert "station-B" in line and str(done.bag) in line, line
        mine = next_line(b, b.state("R-5"), ["write to tape"])
        assert mine == "next: write to tape"
    finally:
        a.close()
        b.close()


def test_history_says_abandoned_on_either_backend(tmp_path, backend):
    """The same view over a merged SQLite ledger and the server."""
    from tests.test_ledger_pg import seed
    from workbench.ledger.query import carrier_history, history_lines
    con = connect(backend.station_ledger(tmp_path))
    seed(con, "R-6", "running", "2026-01-01T10:00:00Z", station="S1")
    seed(con, "R-7", "running", "2026-01-01T10:00:00Z", station="S1")
    seed(con, "R-6", "success", "2026-01-01T10:05:00Z", station="S2")
    seed(con, "R-7", "success", "2026-01-01T09:55:00Z", station="S2")  # earlier: not it
    r6 = "\n".join(history_lines(carrier_history(con, "R-6")))
    assert "abandoned" in r6 and "S2" in r6 and "(resumable)" not in r6, r6
    r7 = "\n".join(history_lines(carrier_history(con, "R-7")))
    assert "abandoned" not in r7 and "resumable" in r7, r7
    con.close()
    log = workbench_run("log", cwd=tmp_path).stdout  # the log says it as show does
    lines = {line.split()[2]: line for line in log.splitlines() if " S1 " in line}
    assert "abandoned: S2" in lines["R-6"] and "resumable" not in lines["R-6"], log
    assert "resumable" in lines["R-7"], log


def test_one_item_bagged_at_two_stations_is_a_conflict_naming_both(tmp_path, backend, profiles,
                                                                   request, monkeypatch):
    """The same carrier (identical content) bagged at A and at B: at B during an outage
    of the server (its resync says it), or at two SQLite stations merged; `ledger
    conflicts` names both stations and both bags, exit 7."""
    from workbench.errors import ExitCode
    from workbench.station import Station
    from workbench.station.ledger_link import resync
    a_root, b_root = tmp_path / "a", tmp_path / "b"
    a = Station(_settings(a_root, "station-A", backend.url))
    try:
        assert a.migrate(MEDIA, profiles["usb"], "USB-1").bag is not None
    finally:
        a.close()
    if backend.name == "postgresql":
        pg_server = request.getfixturevalue("pg_server")
        net, real, url = _cut_url(tmp_path, pg_server, backend.url)
        monkeypatch.setenv("WORKBENCH_LEDGER_URL", url)
        b = Station(_settings(b_root, "station-B", url))  # the server is out of reach
        try:
            assert b.con.server is None
            assert b.migrate(MEDIA, profiles["usb"], "USB-1").bag is not None
            net.symlink_to(real)
            b.con.retry_seconds = 0
            done = resync(b)
            assert done is not None
            assert [c.kind for c in done.conflicts] == ["bag"], done.conflicts
        finally:
            b.close()
        monkeypatch.setenv("WORKBENCH_LEDGER_URL", backend.url)
    else:
        b = Station(_settings(b_root, "station-B", ""))
        try:
            assert b.migrate(MEDIA, profiles["usb"], "USB-1").bag is not None
        finally:
            b.close()
        with Station(_settings(a_root, "station-A", "")) as again:
            merged = again.records.merge(b_root / "logs" / "ledger.sqlite")
        assert [c.kind for c in merged.conflicts] == ["bag"], merged.conflicts
    listed = workbench_run("ledger", "conflicts", cwd=a_root)
    assert listed.returncode == ExitCode.CONFLICTS, listed.stdout + listed.stderr
    out = listed.stdout
    assert "CONFLICT USB-1: bagged at two stations" in out and "identical content" in out
    for station, root in (("station-A", a_root), ("station-B", b_root)):
        assert station in out and str(root / "bags" / "USB-1") in out, out
    shown = workbench_run("show", "USB-1", cwd=a_root)
    assert "bagged at two stations" in shown.stdout


def test_a_drop_in_a_batch_write_prints_no_second_error(pg_server, pg_url, caplog):
    """The lost connection is the typed fault alone: psycopg's "error ignored terminating
    <psycopg.Pipeline>" warning (closing the batch's pipeline on the dead connection,
    which happens or not by timing) is not shown; its other warnings are."""
    import logging

    from tests.test_ledger_pg import _kill_backend_of as kill
    from workbench.ledger import pg
    psycopg_log = logging.getLogger("psycopg")
    with caplog.at_level("WARNING"):
        for _ in range(3):  # the batch's pipeline meets the drop (by timing, often)
            con = connect(pg_url, "S1")
            kill(pg_server, con)
            with pytest.raises(pg.LedgerDropped):
                con.executemany("INSERT INTO events (id, attempt, item_id, station_id, "
                                "step, started, outcome, recorded) VALUES (?, 'a', 'i', "
                                "'s', 'x', 'n', 'o', 'r')", [(str(n),) for n in range(5)])
        # what psycopg logs then, word for word (as _pipeline.py and _copy.py do)
        psycopg_log.warning("error ignored terminating %r: %s", "<psycopg.Pipeline [BAD]>",
                            "the connection is lost")
        psycopg_log.warning("another warning")
    said = [r.getMessage() for r in caplog.records if r.name == "psycopg"]
    assert said == ["another warning"], said


def test_stable_ids_are_the_uuid5_they_always_were():
    """Stable ids are computed without a UUID object (faster batch insertion): every id
    stays what uuid5 gave, or rows recorded again would be doubled."""
    import random
    import uuid

    from workbench.ledger.db import NAMESPACE, stable_id
    rng = random.Random(5)
    for n in range(2000):
        parts = (rng.random(), "é" * rng.randrange(40), n, None, "job", "2026-01-01T00:00Z")
        assert stable_id(*parts) == str(uuid.uuid5(NAMESPACE, "|".join(map(str, parts))))


def test_batch_insertion_keeps_order_and_adds_nothing_twice(tmp_path, backend):
    """add_attempts (COPY on the server): rows in the order given (rowid), a repeated or
    overlapping batch adds only what is new, carriers too."""
    from tests.test_same_second import _attempt, _carrier
    from workbench.ledger.record import add_attempts
    con = connect(backend.target(tmp_path / "l.sqlite"), "S1")
    rows = [_attempt("S1", f"B-{n}", f"2026-01-01T00:00:{n:02d}Z") for n in (3, 1, 2)]
    carriers = [_carrier("S1", f"B-{n}") for n in (3, 1, 2)]
    assert add_attempts(con, rows, carriers) == 3
    more = [_attempt("S1", "B-4", "2026-01-01T00:00:04Z")]
    assert add_attempts(con, [*rows, *more], [*carriers, _carrier("S1", "B-4")]) == 1
    order = [r[0] for r in con.execute("SELECT item_id FROM attempts ORDER BY rowid")]
    assert order == ["B-3", "B-1", "B-2", "B-4"]
    assert con.execute("SELECT COUNT(*) FROM carriers").fetchone()[0] == 4
    assert con.execute("SELECT COUNT(*) FROM heads").fetchone()[0] == 4
    assert con.execute("SELECT COUNT(*) FROM carrier_heads").fetchone()[0] == 4


def test_a_merged_ledger_refuses_a_carrier_another_station_bagged(tmp_path, profiles):
    """SQLite: B's ledger merged into A's; A's own interrupted attempt of R-5 was
    overtaken by B's bag: A's migrate is refused naming B (as on the server), not
    "in progress (resumable)" with B's bag path."""
    from workbench.errors import Refused
    from workbench.station import Station
    from workbench.station.ledger_link import next_line
    a_settings = _settings(tmp_path / "a", "station-A", "")
    with Station(a_settings) as a:
        a.progress = lambda step, _p: a.cancel.set() if step == "image" else None
        a.migrate(MEDIA, profiles["usb"], "R-5")
    with Station(_settings(tmp_path / "b", "station-B", "")) as b:
        bag = b.migrate(MEDIA, profiles["usb"], "R-5").bag
    with Station(a_settings) as a:
        a.records.merge(tmp_path / "b" / "logs" / "ledger.sqlite")
        with pytest.raises(Refused) as refused:
            a.migrate(MEDIA, profiles["usb"], "R-5")
        assert refused.value.key == "pgfix.bagged_elsewhere" and "station-B" in str(
            refused.value)
        assert "abandoned" in "\n".join(a.records.history_lines("R-5"))
        assert "station-B" in next_line(a, a.state("R-5"), ["write to tape"])
        a.migrate(MEDIA, profiles["usb"], "R-9")  # one of its own: as before
    assert str(bag) and (tmp_path / "a" / "bags" / "R-9").is_dir()
