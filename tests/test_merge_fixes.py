"""`ledger merge` after the issue 13 try-out: the station's own ledger is refused (by
path, symbolic or hard link), a locked ledger is a clear error, a second merge says the
conflicts that still stand, and `show` names an item's conflict."""

from __future__ import annotations

import os
import sqlite3

import pytest

from tests.conftest import workbench_run
from tests.test_merge_conflicts import GOOD, altered_floppy, image, station
from workbench.errors import BadInput, ExitCode
from workbench.station import Station


@pytest.fixture
def own(tmp_path):
    """A station in tmp_path/a (workbench.toml there) with its ledger made."""
    settings = station(tmp_path / "a", "station-a")
    with Station(settings):
        pass
    return tmp_path / "a", settings.paths.ledger


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_merging_the_own_ledger_is_refused_clearly(own, link):
    root, ledger = own
    given = {"same": ledger, "symlink": root / "link.sqlite",
             "hardlink": root / "hard.sqlite"}[link]
    if link == "symlink":
        given.symlink_to(ledger)
    elif link == "hardlink":
        os.link(ledger, given)
    done = workbench_run("ledger", "merge", str(given), cwd=root)
    assert done.returncode == ExitCode.BAD_INPUT, done.stdout + done.stderr
    assert "this station's own ledger" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "rollback" not in done.stderr


def test_a_copy_of_the_own_ledger_merges_to_nothing(own):
    root, ledger = own
    copy = root / "copy.sqlite"
    copy.write_bytes(ledger.read_bytes())
    done = workbench_run("ledger", "merge", str(copy), cwd=root)
    assert done.returncode == ExitCode.SUCCESS, done.stdout + done.stderr
    assert "attempts 0" in done.stdout


def test_a_locked_ledger_is_an_error_not_a_failed_rollback(tmp_path, own):
    root, ledger = own
    other = station(tmp_path / "b", "station-b")
    with Station(other):
        pass
    holder = sqlite3.connect(str(ledger), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process writing
        with Station(station(root, "station-a")) as st:
            st.con.execute("PRAGMA busy_timeout = 50")
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                st.records.merge(other.paths.ledger)
            # nothing left attached or open: the next merge works once the lock is gone
            holder.execute("ROLLBACK")
            assert st.records.merge(other.paths.ledger).conflicts == []
    finally:
        holder.close()


def test_the_own_ledger_is_refused_by_the_station_layer(own):
    root, ledger = own
    with Station(station(root, "station-a")) as st, \
            pytest.raises(BadInput, match="own ledger"):
        st.records.merge(ledger)


@pytest.fixture
def conflict(tmp_path):
    """A: ITEM-1 the good floppy; B: ITEM-1 an altered floppy, exported to b.sqlite."""
    a, b = station(tmp_path / "a", "station-a"), station(tmp_path / "b", "station-b")
    image(a, (GOOD, "fd35-2hd", "ITEM-1"))
    db = image(b, (altered_floppy(tmp_path), "fd35-2hd", "ITEM-1"))
    assert workbench_run("ledger", "export", str(tmp_path / "b.sqlite"),
                         cwd=tmp_path / "b").returncode == 0
    return tmp_path, db["ITEM-1"]


def test_a_second_merge_says_the_conflict_still_stands(conflict):
    root, _ = conflict
    first = workbench_run("ledger", "merge", str(root / "b.sqlite"), cwd=root / "a")
    assert first.returncode == ExitCode.CONFLICTS, first.stdout + first.stderr
    again = workbench_run("ledger", "merge", str(root / "b.sqlite"), cwd=root / "a")
    # exit: what this merge brought (nothing new: 0); the line says what stands
    assert again.returncode == ExitCode.SUCCESS, again.stdout + again.stderr
    assert "No conflicts between stations" not in again.stdout
    assert "No new conflict; 1 standing" in again.stdout, again.stdout
    assert "workbench ledger conflicts" in again.stdout


def test_show_names_the_conflict_of_an_item(conflict):
    root, digest = conflict
    workbench_run("ledger", "merge", str(root / "b.sqlite"), cwd=root / "a")
    shown = workbench_run("show", "ITEM-1", cwd=root / "a")
    assert shown.returncode == 0, shown.stderr
    line = next((ln for ln in shown.stdout.splitlines() if "CONFLICT ITEM-1" in ln), "")
    assert "station-b" in line and digest[:16] in line, shown.stdout


def test_merging_an_older_ledger_never_changes_that_file(tmp_path, monkeypatch):
    """The other station's ledger is only read: an older schema is brought up to date
    in a copy, never in place (its file, schema and bytes stay as they were)."""
    import hashlib
    import sqlite3

    from workbench.ledger import db
    from workbench.ledger.export import merge_ledger

    older = tmp_path / "older.sqlite"
    with monkeypatch.context() as m:
        m.setattr(db, "MIGRATIONS", db.MIGRATIONS[:5])  # before migration 6
        db.connect(older).close()
    before = hashlib.sha256(older.read_bytes()).hexdigest()
    con = db.connect(tmp_path / "mine.sqlite")
    try:
        assert sum(merge_ledger(con, older).values()) == 0
    finally:
        con.close()
    assert hashlib.sha256(older.read_bytes()).hexdigest() == before
    check = sqlite3.connect(older)
    try:
        assert check.execute("PRAGMA user_version").fetchone()[0] == 5
    finally:
        check.close()
