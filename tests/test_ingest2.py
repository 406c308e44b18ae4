"""Tryout 16c (issue 16, item 5) ingest fixes: an interrupted ingest continued from
another source only with --again (N3); a withdrawn ingest ingested again as a new bag
version, and the words for waiting and withdrawn ingests (N4, E3); files no checksum
list names make the ingest partial, the lists themselves not counted (N6); a station
with no tape says the bag waits for tape (N11); the words without "1 files" (N14/E19)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_ingest import master_folder
from tests.test_ingestfix import rotted
from tests.test_station import mount_tapes, settings_in
from tests.test_tape_retrieve import cli
from workbench.errors import Aborted, Refused
from workbench.ingest.copy import IngestProgress
from workbench.station import State, Station
from workbench.station.ingest import ingest
from workbench.station.view import next_step


def _interrupt(st: Station, source: Path, item: str) -> None:
    """An ingest stopped while copying (as Ctrl-C): the item is interrupted."""
    def stop(p: IngestProgress) -> None:
        st.cancel.set()
    with pytest.raises(Aborted) as stopped:
        ingest(st, source, item, progress=stop)
    assert "not reused" in stopped.value.message("en")  # nothing left is used again
    st.cancel.clear()
    assert st.state(item).state is State.INTERRUPTED


# -- N3: an interrupted ingest and another source ---------------------------------------

def test_an_interrupted_ingest_is_not_finished_from_another_source(tmp_path: Path):
    first, other = tmp_path / "disc1", tmp_path / "disc2"
    master_folder(first)
    (other / "x").mkdir(parents=True)
    (other / "x" / "other.txt").write_text("another disc")
    with Station(settings_in(tmp_path / "station")) as st:
        _interrupt(st, first, "D-1")
        with pytest.raises(Refused) as refused:  # a mistyped item ID: nothing replaced
            ingest(st, other, "D-1")
        words = refused.value.message("en")
        assert refused.value.key == "ingest2.other_source"
        assert refused.value.exit_code == 6
        assert str(other) in words and str(first.resolve()) in words and "--again" in words
        assert st.state("D-1").state is State.INTERRUPTED
        done = ingest(st, first, "D-1")  # the same source continues it
        assert done.bag is not None and done.report.outcome == "success"


def test_again_finishes_an_interrupted_ingest_from_another_source(tmp_path: Path):
    first, other = tmp_path / "disc1", tmp_path / "disc2"
    master_folder(first)
    master_folder(other)
    (other / "page001.tif").unlink()
    (other / "SHA256SUMS").write_text("".join(
        line + "\n" for line in (first / "SHA256SUMS").read_text().splitlines()
        if "page001" not in line))
    with Station(settings_in(tmp_path / "station")) as st:
        _interrupt(st, first, "D-2")
        done = ingest(st, other, "D-2", again=True)
        assert done.bag is not None
        assert not (done.bag / "data" / "page001.tif").exists()


# -- N4: a withdrawn ingest -------------------------------------------------------------

def test_a_withdrawn_ingest_is_ingested_again_as_a_new_version(tmp_path: Path):
    root = tmp_path / "station"
    root.mkdir()
    source = tmp_path / "disc"
    master_folder(source)
    with Station(settings_in(root)) as st:
        first = ingest(st, source, "W-1")
        assert first.bag is not None and first.bag.name.endswith("W-1")
        after = st.withdraw("W-1", "wrong disc")
        assert after.state is State.WITHDRAWN
        key, fields = next_step(after)  # pending names the ingest command, not retry
        assert key == "ingest2.next_withdrawn" and fields["item"] == "W-1"
        assert after.next_actions == [next(iter(after.next_actions))]  # note only
        done = ingest(st, source, "W-1")  # no --again needed: a new attempt
        assert done.bag is not None and done.bag.name.endswith("+v2")
        assert st.state("W-1").state is not State.WITHDRAWN
        attempts = st.con.execute("SELECT DISTINCT attempt FROM attempts WHERE item_id = "
                                  "'W-1'").fetchall()
        assert len(attempts) == 2
    assert len(list((root / "staging" / "W-1").glob("ingest-*.json"))) == 1  # kept
    run = cli(root, "withdraw", "W-1", "--reason", "again")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "workbench ingest SOURCE --item W-1" in run.stdout
    assert "imaging" not in run.stdout


def test_a_waiting_ingest_names_again_and_accept_mismatch(tmp_path: Path):
    source = rotted(tmp_path / "disc")
    with Station(settings_in(tmp_path / "station")) as st:
        assert ingest(st, source, "M-1").waiting == "mismatch"
        key, fields = next_step(st.state("M-1"))
        from workbench.i18n import t
        words = t(key, lang="en", **fields)
        assert "--again" in words and "--accept-mismatch" in words
        with pytest.raises(Refused) as refused:  # not bagged: nothing to withdraw
            st.withdraw("M-1", "wrong")
        words = refused.value.message("en")
        assert refused.value.key == "ingest2.withdraw_unbagged"
        assert "--again" in words and "--accept-mismatch" in words
        assert "retry" not in words


def test_an_ingest_refusal_names_the_state_in_words(tmp_path: Path):
    source = tmp_path / "disc"
    master_folder(source)
    with Station(settings_in(tmp_path / "station")) as st:
        ingest(st, source, "B-1")
        with pytest.raises(Refused) as refused:
            ingest(st, source, "B-1")
    assert "(state: bagged)" not in refused.value.message("en")


# -- N6: files no list names ------------------------------------------------------------

def test_a_list_covering_some_files_is_partial_and_names_the_others(tmp_path: Path):
    root = tmp_path / "station"
    root.mkdir()
    source = tmp_path / "disc"
    master_folder(source)
    for n in range(3):
        (source / f"c{n}.txt").write_text(f"not listed {n}")
    run = cli(root, "ingest", str(source), "--item", "U-1")
    assert run.returncode == 3, run.stdout + run.stderr  # partial, not success
    assert "files in no list: 3" in run.stdout  # the list itself is not counted
    assert "c0.txt" in run.stdout and "NOT VERIFIED" in run.stdout
    with Station(settings_in(root)) as st:
        row = st.con.execute("SELECT outcome, reason_code FROM attempts WHERE item_id = 'U-1'"
                             " ORDER BY recorded DESC LIMIT 1").fetchone()
    assert (row["outcome"], row["reason_code"]) == ("partial", "ingest_unlisted")
    bag = next((root / "bags").glob("U-1*"))
    assert (bag / "data" / "SHA256SUMS").exists()  # the list is kept: part of the disc
    assert "Files-Unlisted: 3" in (bag / "bag-info.txt").read_text()


def test_a_fully_listed_disc_is_success_and_counts_no_list_as_unlisted(tmp_path: Path):
    root = tmp_path / "station"
    root.mkdir()
    source = tmp_path / "disc"
    master_folder(source)
    run = cli(root, "ingest", str(source), "--item", "F-1")
    assert "files in no list: 0" in run.stdout
    assert "1 files" not in run.stdout and "1 checksum lists" not in run.stdout


# -- N11: no tape ----------------------------------------------------------------------

def test_an_ingest_without_tape_says_the_bag_waits_for_tape(tmp_path: Path):
    root = tmp_path / "station"
    root.mkdir()
    source = tmp_path / "disc"
    master_folder(source)
    run = cli(root, "ingest", str(source), "--item", "T-1")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "waits for pool" in run.stdout and "workbench tape write" in run.stdout


def test_an_ingest_with_tape_says_no_waiting_line(tmp_path: Path):
    root = tmp_path / "station"
    root.mkdir()
    mount_tapes(root)
    source = tmp_path / "disc"
    master_folder(source)
    run = cli(root, "ingest", str(source), "--item", "T-2")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Tape: the bag waits" not in run.stdout


# -- N14: show of an ingest never interrupted ---------------------------------------

def test_show_of_an_ingest_has_one_attempt_line_and_no_imaging_step(tmp_path: Path):
    root = tmp_path / "station"
    root.mkdir()
    source = tmp_path / "disc"
    master_folder(source)
    assert cli(root, "ingest", str(source), "--item", "S-1").returncode == 0
    shown = cli(root, "show", "S-1").stdout
    assert "in progress" not in shown and "[superseded]" not in shown, shown
    assert "imaging:" not in shown and "ingest: success" in shown, shown
    with Station(settings_in(root)) as st:
        rows = st.con.execute("SELECT outcome FROM attempts WHERE item_id = 'S-1'").fetchall()
    assert [r[0] for r in rows] == ["success"]  # as an imaged carrier: one version


def test_a_killed_first_ingest_is_not_finished_from_another_source(tmp_path: Path):
    import subprocess
    import sys

    from tests.test_ingest_resume import KILL
    from workbench import PROJECT_ROOT
    root = tmp_path / "station"
    root.mkdir()
    source, other = tmp_path / "disc", tmp_path / "other"
    master_folder(source)
    master_folder(other)
    (root / "workbench.toml").write_text("[tape]\nheadroom_percent = 0\n")
    killed = subprocess.run([sys.executable, "-c", KILL, str(PROJECT_ROOT), str(source)],
                            cwd=root, timeout=120)
    assert killed.returncode == -9  # nothing in the ledger yet: the job record says it
    run = cli(root, "ingest", str(other), "--item", "I-K")
    assert run.returncode == 6, run.stdout + run.stderr
    assert "--again" in run.stderr and str(source.resolve()) in run.stderr
    assert cli(root, "ingest", str(other), "--item", "I-K", "--again").returncode == 0


# -- E19: report words, Japanese tape lines ----------------------------------------------

def test_the_report_calls_ingests_ingests(tmp_path: Path):
    root = tmp_path / "station"
    root.mkdir()
    source = tmp_path / "disc"
    master_folder(source)
    assert cli(root, "ingest", str(source), "--item", "R-1").returncode == 0
    text = cli(root, "report", "--format", "text", "--by", "media").stdout
    assert "ingests: 1" in text and "copied" in text, text
    assert "carrier" not in text.replace("counted apart from carriers", "")
    assert "routed" not in text and "rescued" not in text


def test_tape_lines_of_a_japanese_ingest_are_japanese(tmp_path: Path):
    root = tmp_path / "station"
    root.mkdir()
    mount_tapes(root)
    source = tmp_path / "disc"
    master_folder(source)
    run = cli(root, "--lang", "ja", "ingest", str(source), "--item", "J-1")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "tape copy" not in run.stdout and "verified" not in run.stdout, run.stdout


def test_pending_show_and_retry_of_a_withdrawn_or_waiting_ingest_name_the_ingest(
        tmp_path: Path):
    root = tmp_path / "station"
    root.mkdir()
    source = tmp_path / "disc"
    master_folder(source)
    rot = rotted(tmp_path / "rot")
    assert cli(root, "ingest", str(source), "--item", "W-2").returncode == 0
    assert cli(root, "withdraw", "W-2", "--reason", "test").returncode == 0
    assert cli(root, "ingest", str(rot), "--item", "M-2").returncode == 3
    pending = cli(root, "pending").stdout
    assert "workbench ingest SOURCE --item W-2" in pending, pending
    assert "workbench retry" not in pending, pending
    assert "--again" in pending and "--accept-mismatch" in pending, pending
    shown = cli(root, "show", "W-2").stdout
    assert "workbench ingest SOURCE --item W-2" in shown, shown
    shown = cli(root, "show", "M-2").stdout
    assert "--again" in shown and "--accept-mismatch" in shown, shown
    retry = cli(root, "retry", "W-2")
    assert retry.returncode == 6 and "workbench ingest" in retry.stdout + retry.stderr
    withdraw = cli(root, "withdraw", "M-2", "--reason", "x")
    assert withdraw.returncode == 6 and "--accept-mismatch" in withdraw.stderr
