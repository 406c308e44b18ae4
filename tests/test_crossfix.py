"""Cross-station rules of the station layer (issue 15, tryout 15b): a station withdraws
its own bag (N1); offline, a carrier this station released is refused, never a second
"bag v1" (N2); another station's imaged carrier is refused naming it, and no row of this
station names the other (N6, N7); the board says the ledger is offline (N8); offline
`show` says why it knows nothing (N12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import workbench_run
from tests.pg_fixtures import *  # noqa: F403 (the fixtures pg_server, pg_url, backend)
from tests.test_ledger_pg import _settings, _socket_dir, seed
from workbench import PROJECT_ROOT
from workbench.errors import ExitCode, Refused
from workbench.ledger import record as ledger
from workbench.ledger.db import connect

MEDIA = str(PROJECT_ROOT / "media" / "usb-sample.drive.toml")


def _station_dir(root: Path, station: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "workbench.toml").write_text(f'[station]\nid = "{station}"\n', encoding="utf-8")
    return root


def _cut_url(tmp_path: Path, pg_server: str, pg_url: str) -> tuple[Path, str, str]:
    """A URL through a link in tmp_path: removing the link is an outage."""
    link, real = tmp_path / "net", _socket_dir(pg_server)
    return link, real, pg_url.replace(f"host={real}", f"host={link}")


# -- N1: withdraw takes this station's own bag ------------------------------------------

def test_withdraw_takes_this_stations_bag_and_refuses_another_stations(
        tmp_path, backend, profiles):
    from workbench.station import Station
    from workbench.station.withdrawal import withdrawn_bag
    b = Station(_settings(tmp_path / "b", "station-B", backend.url))
    try:
        done = b.migrate(MEDIA, profiles["usb"], "B-1")
        assert done.bag is not None
        own = b.con.execute("SELECT id FROM bags WHERE item_id = 'B-1'").fetchone()[0]
        # station-A bagged the same item later (during an outage), resynced or merged in:
        # its attempt is now the carrier's latest, its bag the state's bag
        seed(b.con, "B-1", "success", "2099-01-01T00:00:00Z", station="station-A")
        theirs = ledger.record_bag(b.con, "station-A-B-1-2099-01-01T00:00:00Z", "B-1",
                                   "station-A", Path("/a/bags/B-1"), "1.1")
        assert b.state("B-1").bag.station_id == "station-A"  # what withdraw took before
        after = b.withdraw("B-1", "dup")
        rows = b.con.execute("SELECT bag_id, station_id FROM withdrawals "
                             "WHERE item_id = 'B-1'").fetchall()
        assert [(r[0], r[1]) for r in rows] == [(own, "station-B")]
        assert withdrawn_bag(after, "station-B").id == own  # the CLI's message names it
        from workbench.station.withdrawal import withdrawn_words
        said = withdrawn_words(after, "station-B", "dup")  # not "the next imaging" (T7)
        assert "station-A" in said and "/a/bags/B-1" in said and "version" not in said
        event = b.con.execute("SELECT attempt FROM events WHERE step = 'withdrawal'"
                              ).fetchone()[0]
        assert not str(event).startswith("station-A")  # the step is on B's own attempt
        # B has no current bag left: A's is refused, naming station-A, nothing written
        with pytest.raises(Refused) as refused:
            b.withdraw("B-1", "dup again")
        assert refused.value.key == "crossfix.withdraw_elsewhere"
        assert "station-A" in str(refused.value)
        assert b.con.execute("SELECT COUNT(*) FROM withdrawals WHERE bag_id = ?",
                             (theirs,)).fetchone()[0] == 0
    finally:
        b.close()


# -- N6, N7: another station's imaged carrier ---------------------------------------------

def test_another_stations_imaged_carrier_is_refused_naming_it(tmp_path, pg_url, profiles):
    from workbench.i18n import set_language
    from workbench.station import Station
    from workbench.station.elsewhere import ImagedElsewhere, check_imaged_elsewhere
    a = Station(_settings(tmp_path / "a", "station-A", pg_url))
    b = Station(_settings(tmp_path / "b", "station-B", pg_url))
    try:
        a.image(MEDIA, profiles["usb"], "IM-1")  # imaged, not accepted: image at A
        before = a.con.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
        for act in (lambda: b.route("IM-1", "needs_flux", "x"), lambda: b.accept("IM-1"),
                    lambda: b.retry("IM-1", drive=MEDIA),
                    lambda: b.migrate(MEDIA, profiles["usb"], "IM-1")):
            with pytest.raises(ImagedElsewhere) as refused:
                act()
            assert refused.value.exit_code == ExitCode.REFUSED
            text = str(refused.value)
            assert "station-A" in text and "imaged, not yet accepted" in text, text
            assert "job.json" not in text  # not a word about B's empty staging
        set_language("ja")
        try:
            assert "ステーション station-A" in str(refused.value)
            assert "イメージ取得済み・未承認" in str(refused.value)
        finally:
            set_language("en")
        rows = b.con.execute("SELECT station_id FROM attempts WHERE item_id = 'IM-1'"
                             ).fetchall()
        assert b.con.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == before
        assert {r[0] for r in rows} == {"station-A"}
        assert not (tmp_path / "b" / "bags" / "IM-1").exists()
        # B's refusals let go of the server's item lock (A takes it at once); A routes
        # its own carrier: its row names A; a route from B is refused, but a read on B's
        # equipment (retry) is what routing is for
        a.route("IM-1", "needs_flux", "weak tracks")
        with pytest.raises(ImagedElsewhere):
            b.route("IM-1", "audio_disc", "")
        check_imaged_elsewhere(b.con, b.settings, "IM-1", "retry")  # not refused
        assert {r[0] for r in b.con.execute(
            "SELECT station_id FROM attempts WHERE item_id = 'IM-1'")} == {"station-A"}
        check_imaged_elsewhere(a.con, a.settings, "IM-1", "route")  # A's own: never
    finally:
        a.close()
        b.close()


def test_an_imaging_another_station_left_unfinished_may_be_imaged_here(tmp_path, pg_url):
    """Interrupted at A (stopped, or A died with its lock): B may image it from the start
    (A's attempt is then shown abandoned), but a route from B is still refused."""
    from workbench.station import Station
    from workbench.station.elsewhere import ImagedElsewhere, check_imaged_elsewhere
    b = Station(_settings(tmp_path / "b", "station-B", pg_url))
    try:
        seed(b.con, "K-9", "aborted", "2026-01-01T00:00:00Z", station="station-A")
        for action in ("image", "retry"):
            check_imaged_elsewhere(b.con, b.settings, "K-9", action)
        with pytest.raises(ImagedElsewhere):
            check_imaged_elsewhere(b.con, b.settings, "K-9", "route")
    finally:
        b.close()


def test_accept_at_another_station_exits_refused_in_the_cli(tmp_path, pg_url):
    env = {"WORKBENCH_LEDGER_URL": pg_url}
    a, b = _station_dir(tmp_path / "a", "station-A"), _station_dir(tmp_path / "b", "station-B")
    done = workbench_run("image", MEDIA, "--profile", "usb", "--item", "IM-2", cwd=a, env=env)
    assert done.returncode in (0, 3), done.stderr
    for command in (["accept", "IM-2"], ["retry", "IM-2"], ["mark", "IM-2", "needs-flux"]):
        out = workbench_run(*command, cwd=b, env=env)
        assert out.returncode == ExitCode.REFUSED, (command, out.stdout, out.stderr)
        assert "station-A" in out.stderr and "job.json" not in out.stderr, out.stderr


# -- N2, N7 offline, N12: offline, a carrier released here before the outage ---------------

def _tapes(root: Path) -> None:
    for barcode, pool in (("P00001L8", "primary"), ("S00001L8", "secondary")):
        out = workbench_run("tape", "label", str(root / "tape" / barcode), "--barcode",
                            barcode, "--pool", pool, "--capacity", "500000000", cwd=root)
        assert out.returncode == 0, out.stderr


def test_offline_a_released_carrier_is_refused_not_bagged_again(tmp_path, pg_server, pg_url):
    link, real, url = _cut_url(tmp_path, pg_server, pg_url)
    env = {"WORKBENCH_LEDGER_URL": url}
    root = _station_dir(tmp_path / "c", "station-C")
    link.symlink_to(real)
    _tapes(root)
    done = workbench_run("migrate", MEDIA, "--profile", "usb", "--item", "P-C1",
                         cwd=root, env=env)
    assert done.returncode == 0, done.stderr
    for command in (["tape", "write"], ["tape", "release", "P-C1"]):
        out = workbench_run(*command, cwd=root, env=env)
        assert out.returncode == 0, (command, out.stdout, out.stderr)
    assert not (root / "bags" / "P-C1").exists() and not (root / "staging" / "P-C1").exists()
    link.unlink()  # the outage
    again = workbench_run("migrate", MEDIA, "--profile", "usb", "--item", "P-C1",
                          cwd=root, env=env)
    assert again.returncode == ExitCode.REFUSED, (again.stdout, again.stderr)
    assert "on tape" in again.stderr and "released" in again.stderr, again.stderr
    assert not (root / "bags" / "P-C1").exists()
    shown = workbench_run("show", "P-C1", cwd=root, env=env)
    assert "Check the item ID" not in shown.stderr, shown.stderr
    assert "offline" in shown.stderr and "bagged it before the outage" in shown.stderr
    unknown = workbench_run("show", "NEVER-1", cwd=root, env=env)
    assert "not in this station's journal" in unknown.stderr, unknown.stderr
    assert unknown.returncode == ExitCode.ABORTED
    link.symlink_to(real)  # back: one bag of P-C1, nothing sent twice
    assert workbench_run("ledger", "resync", cwd=root, env=env).returncode == 0
    server = connect(pg_url)
    assert server.execute("SELECT COUNT(*) FROM bags WHERE item_id = 'P-C1'"
                          ).fetchone()[0] == 1


def test_offline_a_bag_the_journal_holds_from_an_earlier_outage_is_refused(
        tmp_path, pg_server, pg_url):
    """The journal stays after a resync: its rows of an earlier outage were sent, and what
    happened to the carrier since (a release, a withdrawal) is on the server alone."""
    link, real, url = _cut_url(tmp_path, pg_server, pg_url)
    env = {"WORKBENCH_LEDGER_URL": url}
    root = _station_dir(tmp_path / "c", "station-C")
    done = workbench_run("migrate", MEDIA, "--profile", "usb", "--item", "OUT-1",
                         cwd=root, env=env)  # the first outage: bagged on the journal
    assert done.returncode == 0, done.stderr
    link.symlink_to(real)
    assert workbench_run("ledger", "resync", cwd=root, env=env).returncode == 0
    link.unlink()  # a second outage: the journal's OUT-1 rows are an old, sent record
    out = workbench_run("retry", "OUT-1", cwd=root, env=env)
    assert out.returncode == ExitCode.REFUSED, (out.stdout, out.stderr)
    assert "history is on the server" in out.stderr
    # a carrier first bagged during this outage still goes on (the journal holds it all)
    fresh = workbench_run("migrate", MEDIA, "--profile", "usb", "--item", "OUT-2",
                          cwd=root, env=env)
    assert fresh.returncode == 0, fresh.stderr
    note = workbench_run("note", "OUT-2", "fine", cwd=root, env=env)
    assert note.returncode == 0, note.stderr


# -- N8: the board says the ledger is offline ----------------------------------------------

def test_the_board_says_the_ledger_is_offline(tmp_path, monkeypatch):
    import asyncio

    from textual.widgets import Static

    from workbench.tui.app import WorkbenchApp
    monkeypatch.setenv("WORKBENCH_LEDGER_URL",
                       f"postgresql://u@/ledger?host={tmp_path}/nowhere&port=5432")

    requests: list[int] = []

    async def scenario(settings) -> tuple[bool, str, str]:
        app = WorkbenchApp(settings)
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            said = app.screen.query_one("#ledger-link", Static)
            board = app.screen
            reads = board._reads
            asked = reads.request
            monkeypatch.setattr(reads, "request", lambda: requests.append(1) or asked())
            board.tick()  # nothing moved, and not yet time: no read
            board._next_read = 0.0  # a while later, no carrier moved here
            board.tick()  # a shared ledger is read again (the link back, or gone)
            return said.display, str(said.render()), \
                str(app.screen.query_one("#today-heading", Static).render())

    shown, line, today = asyncio.run(scenario(_settings(tmp_path / "s", "station-S", "")))
    assert shown and "OFFLINE" in line, line
    assert "journal only" in today, today
    assert requests == [1]
    requests.clear()
    monkeypatch.delenv("WORKBENCH_LEDGER_URL")  # a station of its own: nothing said
    shown, line, today = asyncio.run(scenario(_settings(tmp_path / "t", "station-T", "")))
    assert not shown and "journal" not in today
    assert requests == []  # a station's own ledger: read when its carriers move
