"""The shared ledger's seams left after tryout 15 (issue 15, ledgerfix): a drop in the
middle of a carrier's work leaves a true state (the server's rows of the carrier and the
journal's, never "new"); another station's abandoned attempt and bag are said as such;
`ledger conflicts` names one item bagged at two stations."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    con = connect(backend.target(tmp_path / "l.sqlite"))
    seed(con, "R-6", "running", "2026-01-01T10:00:00Z", station="S1")
    seed(con, "R-7", "running", "2026-01-01T10:00:00Z", station="S1")
    seed(con, "R-6", "success", "2026-01-01T10:05:00Z", station="S2")
    seed(con, "R-7", "success", "2026-01-01T09:55:00Z", station="S2")  # earlier: not it
    r6 = "\n".join(history_lines(carrier_history(con, "R-6")))
    assert "abandoned" in r6 and "S2" in r6 and "(resumable)" not in r6, r6
    r7 = "\n".join(history_lines(carrier_history(con, "R-7")))
    assert "abandoned" not in r7 and "resumable" in r7, r7
