"""Steps within one second: which attempt is a carrier's latest, and the log's pages.

The clock is replaced (workbench.imaging.record's datetime, behind every utc_now()):
`frozen` gives one instant for everything (the worst case: times say nothing), `ticking`
one second in which every reading is a microsecond later (quick steps, several drives).
"""

from __future__ import annotations

import itertools
import re
import shutil
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import workbench_cmd
from tests.test_station import DAMAGED, GOOD, mount_tapes, settings_in
from workbench.errors import Refused
from workbench.imaging.record import JobRecord, Run, utc_now
from workbench.ledger import db
from workbench.ledger.export import export_ledger, merge_ledger
from workbench.ledger.query import attempts_page, page_cursor
from workbench.ledger.record import ATTEMPT_COLUMNS, add_attempts, add_version, record_job
from workbench.station import State, Station

INSTANT = datetime(2026, 11, 26, 3, 0, 5, tzinfo=UTC)


class _Frozen(datetime):
    @classmethod
    def now(cls, tz: object = None) -> datetime:
        return INSTANT


class _Ticking(datetime):
    ticks = itertools.count()

    @classmethod
    def now(cls, tz: object = None) -> datetime:
        return INSTANT + timedelta(microseconds=next(cls.ticks))


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench.imaging.record as record
    monkeypatch.setattr(record, "datetime", _Frozen)


@pytest.fixture
def ticking(monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench.imaging.record as record
    _Ticking.ticks = itertools.count()
    monkeypatch.setattr(record, "datetime", _Ticking)


def station(root: Path, station_id: str = "station-1") -> Station:
    root.mkdir(parents=True, exist_ok=True)
    return Station(replace(settings_in(root), station_id=station_id))


# -- the clock ------------------------------------------------------------------------

def test_times_are_to_the_microsecond_and_sort_after_older_whole_seconds():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", utc_now())
    old, new = "2026-11-26T03:00:05Z", "2026-11-26T03:00:05.000001Z"
    assert old > new  # as text the older record would sort last ...
    assert db.sort_time(old) < db.sort_time(new) < db.sort_time("2026-11-26T03:00:06Z")
    assert db.sort_time("2026-11-26T03:00:05.5Z") == "2026-11-26T03:00:05.500000Z"
    assert db.sort_time("2026-11-26") == "2026-11-26"  # a date (a filter) as it is
    con = db.connect(":memory:")
    for stamp in (old, new, "2026-11-26T03:00:05.5Z", "2026-11-26", ""):
        assert con.execute(f"SELECT {db.sort_sql(':s')}", {"s": stamp}).fetchone()[0] \
            == db.sort_time(stamp)


def test_a_job_record_names_its_attempts_by_its_own_id_older_ones_keep_theirs():
    def record(job_id: str) -> JobRecord:
        return JobRecord("FD-1", "fd35-2hd", "FD", "station-1", "", "", "1", job_id=job_id,
                         runs=[Run(started="2026-11-26T03:00:05Z", ended="2026-11-26T03:00:05Z",
                                   outcome="success")], outcome="success")
    ids = []
    for job_id in ("", "a" * 32, "b" * 32):
        con = db.connect(":memory:")
        ids.append(record_job(con, record(job_id), Path("/staging/FD-1")))
    assert ids[0] == db.stable_id("station-1", "FD-1", "2026-11-26T03:00:05Z", 0)  # as before
    assert len(set(ids)) == 3


# -- a carrier's latest attempt, on one station ------------------------------------------

def test_no_carrier_gets_stuck_when_every_step_falls_in_one_instant(tmp_path, frozen):
    """tests/test_station_seams.py's test_no_carrier_gets_stuck (its two cases that
    begin a fresh job), with the clock stopped:
    a fresh job (the earlier one set aside) used to take the earlier attempt's id, so the
    retry was recorded as a new version of the withdrawn attempt and ended 'withdrawn'."""
    mount_tapes(tmp_path)
    with station(tmp_path) as st:
        fd = st.profiles["fd35-2hd"]
        assert st.migrate(GOOD, fd, "REL-1").state is State.ON_TAPE
        st.release("REL-1")
        st.withdraw("REL-1", "x")
        assert st.retry("REL-1", drive=str(GOOD)).state is State.ON_TAPE
        attempts = st.con.execute("SELECT DISTINCT attempt FROM attempts WHERE item_id = "
                                  "'REL-1'").fetchall()
        assert len(attempts) == 2
        state = st.state("REL-1")
        assert state.bag is not None and state.bag.version == 2 and not state.bag.withdrawn
        assert state.attempt is not None and state.bag.attempt == state.attempt["attempt"]
        steps = [r[0] for r in st.con.execute(
            "SELECT step FROM events WHERE attempt = ?", (state.bag.attempt,))]
        assert {"imaging", "verification", "packaging"} <= set(steps)  # its own steps
        # a bag deleted by hand, then withdrawn: a fresh job
        assert st.migrate(GOOD, fd, "DEL-1").state is State.ON_TAPE
        shutil.rmtree(tmp_path / "bags" / "DEL-1")
        st.withdraw("DEL-1", "bag lost")
        assert st.retry("DEL-1").state is State.ON_TAPE
        for item in ("REL-1", "DEL-1"):
            assert st.state(item).state is State.ON_TAPE, item


# -- across stations ------------------------------------------------------------------------

def station_2_on_tape(tmp_path: Path) -> None:
    """Station-2's FD-1 (the good floppy) on its tapes, its ledger exported to s2.sqlite."""
    s2_root = tmp_path / "s2"
    mount_tapes(s2_root)
    with station(s2_root, "station-2") as s2:
        assert s2.migrate(GOOD, s2.profiles["fd35-2hd"], "FD-1").state is State.ON_TAPE
        export_ledger(s2.con, tmp_path / "s2.sqlite")


def test_another_stations_attempt_a_moment_earlier_is_not_the_latest(tmp_path, ticking):
    """tests/test_station_seams.py's first test with every step in one second:
    station-2's FD-1 (imaged first, on its tapes), merged into station-1's ledger, used to
    be taken for station-1's latest (same second, merged row last)."""
    s1_root = tmp_path / "s1"
    station_2_on_tape(tmp_path)
    with station(s1_root, "station-1") as s1:
        assert s1.migrate(DAMAGED, s1.profiles["fd35-2hd"], "FD-1").state is State.BAGGED
        export_ledger(s1.con, tmp_path / "s1.sqlite")
        # other content, and both stations' bags current (ledger/conflicts.py)
        assert sorted(c.kind for c in s1.records.merge(tmp_path / "s2.sqlite").conflicts
                      ) == ["bag", "item"]
        state = s1.state("FD-1")
        assert state.state is State.BAGGED and state.attempt is not None
        assert state.attempt["station_id"] == "station-1"
        assert state.bag is not None and state.bag.station_id == "station-1"
        assert state.missing_pools  # station-2's copies count for nothing here
        ours = s1.con.execute("SELECT attempt FROM carrier_heads").fetchone()[0]
    with station(tmp_path / "s2", "station-2") as s2:  # and station-2 says the same, merged
        s2.records.merge(tmp_path / "s1.sqlite")
        assert s2.con.execute("SELECT attempt FROM carrier_heads").fetchone()[0] == ours
        latest = s2.state("FD-1").attempt
        assert latest is not None and latest["attempt"] == ours


def _attempt(station_id: str, item: str, started: str, n: int = 0, outcome: str = "success"
             ) -> dict[str, object]:
    row: dict[str, object] = {c: "" for c in ATTEMPT_COLUMNS}
    row.update(attempt=db.stable_id(station_id, item, started, n), item_id=item,
               station_id=station_id, profile_id="fd35-2hd", family="FD", started=started,
               ended=started, outcome=outcome, bytes=0, bytes_rescued=0, bad_sectors=0,
               read_errors=0, rate=0.0)
    return row


def _carrier(station_id: str, item: str) -> dict[str, object]:
    return {"item_id": item, "profile_id": "fd35-2hd", "family": "FD",
            "station_id": station_id, "created": "2026-11-26T03:00:05Z"}


def _latest(con: sqlite3.Connection, item: str = "FD-1") -> tuple[str, str]:
    head = con.execute("SELECT attempt FROM carrier_heads WHERE item_id = ?",
                       (item,)).fetchone()[0]
    row = db.latest_attempt(con, item)
    assert row is not None
    return head, row["attempt"]


def test_an_exact_tie_between_stations_is_decided_alike_in_every_ledger(tmp_path, frozen):
    """Two stations' attempts at one carrier started at the same microsecond: whichever
    ledger merges which, in any order, every ledger names the same latest attempt."""
    stamp = utc_now()
    paths = {}
    for sid in ("station-1", "station-2", "station-3"):
        paths[sid] = tmp_path / f"{sid}.sqlite"
        con = db.connect(paths[sid])
        add_attempts(con, [_attempt(sid, "FD-1", stamp)], [_carrier(sid, "FD-1")])
        con.close()
    answers = set()
    for order in itertools.permutations(paths):
        target = tmp_path / ("-".join(order) + ".sqlite")
        shutil.copy(paths[order[0]], target)
        con = db.connect(target)
        for other in order[1:]:
            merge_ledger(con, paths[other])
        head, latest = _latest(con)
        assert head == latest
        answers.add(head)
        con.close()
    assert answers == {db.stable_id("station-3", "FD-1", stamp, 0)}


def test_one_stations_attempts_at_one_instant_keep_its_order_through_merges(tmp_path,
                                                                            frozen):
    """Attempts A then B of one carrier at one station, at one instant (a stopped or
    stepped-back clock), A with more versions: B is the latest there and, merged, in
    another ledger (the merge copies rows in the order the station recorded them)."""
    stamp = utc_now()
    con = db.connect(tmp_path / "s1.sqlite")
    a = _attempt("station-1", "FD-1", stamp, 0, "running")
    add_attempts(con, [a], [_carrier("station-1", "FD-1")])
    for outcome in ("aborted", "partial"):
        con.execute("BEGIN IMMEDIATE")
        add_version(con, {**a, "outcome": outcome})
        con.execute("COMMIT")
    b = _attempt("station-1", "FD-1", stamp, 3, "success")
    con.execute("BEGIN IMMEDIATE")
    add_version(con, b)
    con.execute("COMMIT")
    assert _latest(con) == (b["attempt"], b["attempt"])
    con.close()
    other = db.connect(tmp_path / "s2.sqlite")
    add_attempts(other, [_attempt("station-2", "FD-2", stamp)], [_carrier("station-2", "FD-2")])
    merge_ledger(other, tmp_path / "s1.sqlite")
    assert _latest(other) == (b["attempt"], b["attempt"])


def test_a_merged_stations_release_never_removes_this_stations_job(tmp_path, frozen):
    """At an exact tie station-2's attempt is the carrier's latest on station-1 too
    (the rule above): releasing it there is refused, and station-1's job folder stays."""
    s1_root = tmp_path / "s1"
    station_2_on_tape(tmp_path)
    with station(s1_root, "station-1") as s1:
        assert s1.migrate(DAMAGED, s1.profiles["fd35-2hd"], "FD-1").state is State.BAGGED
        s1.records.merge(tmp_path / "s2.sqlite")
        assert s1.state("FD-1").state is State.ON_TAPE  # station-2's, on its tapes
        with pytest.raises(Refused) as refused:
            s1.release("FD-1")
        assert refused.value.key == "clock.release_not_ours"
        assert (s1_root / "staging" / "FD-1" / "job.json").is_file()
        assert (s1_root / "bags" / "FD-1").is_dir()


# -- older ledgers ----------------------------------------------------------------------------

def test_an_older_ledgers_whole_seconds_sort_before_new_times_in_that_second(tmp_path,
                                                                              monkeypatch):
    """A ledger of schema 5 (times to the second) is brought to 6: its rows sort as
    ".000000", so an attempt recorded after the upgrade in the same second is later."""
    path = tmp_path / "old.sqlite"
    monkeypatch.setattr(db, "MIGRATIONS", db.MIGRATIONS[:5])
    con = db.connect(path)
    # rows as release 5 recorded them: heads keep the time as it was written
    old = _attempt("station-1", "FD-1", "2026-11-26T03:00:05Z", 0, "failed")
    con.execute("INSERT INTO carriers (item_id, profile_id, family, station_id, created) "
                "VALUES ('FD-1', 'fd35-2hd', 'FD', 'station-1', '2026-11-26T03:00:05Z')")
    con.execute(f"INSERT INTO attempts (id, {', '.join(ATTEMPT_COLUMNS)}, recorded) VALUES "
                f"('v1', {', '.join('?' * len(ATTEMPT_COLUMNS))}, '2026-11-26T03:00:05Z')",
                [old[c] for c in ATTEMPT_COLUMNS])
    con.execute("INSERT INTO heads SELECT attempt, rowid, item_id, profile_id, family, batch, "
                "station_id, operator, drive, started, ended, outcome, reason_code, "
                "bytes_rescued, rate, '', '', '' FROM attempts")
    con.execute("INSERT INTO carrier_heads SELECT item_id, attempt, row, profile_id, family, "
                "batch, station_id, operator, drive, started, ended, outcome, reason_code, "
                "bytes_rescued, rate, '', '', '' FROM heads")
    con.close()
    monkeypatch.undo()
    con = db.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == len(db.MIGRATIONS) == 6
    assert con.execute("SELECT started FROM heads").fetchone()[0] == \
        "2026-11-26T03:00:05.000000Z"
    new = _attempt("station-1", "FD-1", "2026-11-26T03:00:05.250000Z", 1, "success")
    add_attempts(con, [new])
    assert _latest(con) == (new["attempt"], new["attempt"])
    assert [r["attempt"] for r in attempts_page(con)] == [new["attempt"], old["attempt"]]
    # and a time typed to the second pages as that second's start
    assert [r["attempt"] for r in attempts_page(con, before="2026-11-26T03:00:05.1Z")] == \
        [old["attempt"]]
    assert attempts_page(con, before="2026-11-26T03:00:05Z") == []


# -- the log's pages ---------------------------------------------------------------------------

def test_log_pages_lose_no_attempt_started_at_the_same_time(tmp_path, frozen):
    stamp = utc_now()
    con = db.connect(tmp_path / "ledger.sqlite")
    rows = [_attempt("station-1", f"FD-{n}", stamp) for n in range(5)]
    add_attempts(con, rows, [_carrier("station-1", f"FD-{n}") for n in range(5)])
    seen, before = [], ""
    for _ in range(10):  # a deadline: 5 rows in pages of 2 take 3
        page = attempts_page(con, limit=2, before=before)
        seen += [r["item_id"] for r in page]
        if len(page) < 2:
            break
        before = page_cursor(page[-1])
    assert sorted(seen) == [f"FD-{n}" for n in range(5)]  # each once
    assert attempts_page(con, before=stamp) == []  # a time: started before it


def test_the_log_command_prints_a_cursor_that_loses_nothing(tmp_path, frozen):
    (tmp_path / "logs").mkdir()
    con = db.connect(tmp_path / "logs" / "ledger.sqlite")
    stamp = utc_now()
    add_attempts(con, [_attempt("station-1", f"FD-{n}", stamp) for n in range(2)],
                 [_carrier("station-1", f"FD-{n}") for n in range(2)])
    con.close()
    first = workbench_cmd("log", "--limit", "1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    cursor = re.search(r"--before (\S+@\d+) --limit 1$", first.stdout.strip())
    assert cursor is not None, first.stdout
    second = workbench_cmd("log", "--limit", "1", "--before", cursor.group(1), cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    shown = [item for out in (first.stdout, second.stdout)
             for item in re.findall(r"FD-\d", out)]
    assert sorted(shown) == ["FD-0", "FD-1"]
