"""The station layer: states and transitions, one worker per item, bags that never change,
the ledger as the one record of tape copies, withdrawals, and the work list."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import MEDIA, workbench_cmd, workbench_run
from workbench import PROJECT_ROOT
from workbench.config import Settings
from workbench.errors import ExitCode, Refused
from workbench.ledger.db import connect
from workbench.package.bags import check_bag, read_manifest
from workbench.station import TRANSITIONS, Action, NotAllowed, State, Station
from workbench.station.locks import item_lock
from workbench.tape.catalogue import Catalogue
from workbench.tape.tapes import label_tape, load_generations

GOOD = MEDIA / "fd35-2hd-good.drive.toml"
DAMAGED = MEDIA / "fd35-2hd-damaged.drive.toml"
TRUNCATING = MEDIA / "fd35-2hd-truncating.drive.toml"
POOLS = (("P00001L8", "primary"), ("S00001L8", "secondary"))


def settings_in(root: Path) -> Settings:
    base = Settings()
    return replace(base, free_space_margin=0, tape_headroom=0.0, map_save_seconds=0.5,
                   paths=replace(base.paths, staging=root / "staging", bags=root / "bags",
                                 tape=root / "tape", ledger=root / "logs" / "ledger.sqlite",
                                 logs=root / "logs"))


def mount_tapes(root: Path) -> None:
    generations = load_generations(PROJECT_ROOT / "profiles")
    for barcode, pool in POOLS:
        label_tape(root / "tape" / barcode, barcode, pool, "LTO-8", 50_000_000, generations)


def cancel_early(station: Station) -> None:
    """Cancel imaging at its first progress report: an interrupted attempt."""
    def progress(step: str, p: object) -> None:
        if step == "image":
            station.cancel.set()
    station.progress = progress


def make_state(root: Path, state: State, item: str = "FD-1") -> None:
    """A station folder holding one carrier in `state`, made by real station actions."""
    root.mkdir(parents=True, exist_ok=True)
    with Station(settings_in(root)) as st:
        fd = st.profiles["fd35-2hd"]
        if state is State.INTERRUPTED:
            cancel_early(st)
            st.image(GOOD, fd, item)
        elif state in (State.FAILED, State.ROUTED):
            st.image(TRUNCATING, fd, item)
            if state is State.ROUTED:
                st.route(item, "needs_flux", "weak signal")
        elif state is not State.NEW:
            st.image(GOOD, fd, item)
            if state in (State.ON_TAPE, State.RELEASED, State.WITHDRAWN):
                mount_tapes(root)
            if state is not State.IMAGED:
                st.accept(item)
            if state is State.RELEASED:
                st.release(item)
            if state is State.WITHDRAWN:
                st.withdraw(item, "wrong carrier scanned")
        assert st.state(item).state is state
    if not (root / "tape").exists():
        mount_tapes(root)  # tape actions can then run in every state


def act(st: Station, action: Action, item: str = "FD-1") -> None:
    fd = st.profiles["fd35-2hd"]
    {Action.IMAGE: lambda: st.image(GOOD, fd, item),
     Action.RETRY: lambda: st.retry(item, drive=str(GOOD), review=True),
     Action.ACCEPT: lambda: st.accept(item),
     Action.ROUTE: lambda: st.route(item, "audio_disc"),
     Action.NOTE: lambda: st.note(item, "label faded"),
     Action.WITHDRAW: lambda: st.withdraw(item, "re-image"),
     Action.TAPE_WRITE: lambda: st.tapes.write([item]),
     Action.TAPE_VERIFY: lambda: st.tapes.verify(items=[item]),
     Action.RELEASE: lambda: st.release(item)}[action]()


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[State, Path]:
    base = tmp_path_factory.mktemp("states")
    out = {}
    for state in State:
        make_state(base / state.value, state)
        out[state] = base / state.value
    return out


@pytest.mark.parametrize("state", list(State))
def test_every_state_and_action_reaches_its_documented_state_or_is_refused(
        state: State, templates: dict[State, Path], tmp_path: Path) -> None:
    """Table-driven: every (state, action) pair, done by the station on a real carrier."""
    for action in Action:
        root = tmp_path / action.value
        shutil.copytree(templates[state], root, symlinks=True)
        # the copy has new paths: the ledger names the template's bag folders
        with Station(settings_in(root)) as st:
            bags = [Path(r["path"]) for r in st.con.execute("SELECT path FROM bags")]
        for bag in bags:
            if bag.exists():
                shutil.copytree(bag, root / "bags" / bag.name, dirs_exist_ok=True)
        with Station(replace(settings_in(root), paths=replace(
                settings_in(root).paths, bags=templates[state] / "bags"))) as st:
            allowed = TRANSITIONS[state].get(action)
            if allowed is None:
                with pytest.raises(NotAllowed) as refused:
                    act(st, action)
                text = refused.value.message()
                assert "FD-1" in text and f"state.{state.value}" not in text, text
                assert st.state("FD-1").state is state, (state, action)  # nothing changed
            else:
                act(st, action)
                reached = st.state("FD-1").state
                assert reached in allowed, (state, action, reached)
        shutil.rmtree(root)


def test_refusals_say_the_state_and_the_way_forward(templates, tmp_path):
    root = tmp_path / "s"
    shutil.copytree(templates[State.ON_TAPE], root)
    with Station(replace(settings_in(root), paths=replace(
            settings_in(root).paths, bags=templates[State.ON_TAPE] / "bags"))) as st:
        with pytest.raises(NotAllowed) as err:
            st.retry("FD-1")
        assert "on tape in every pool" in err.value.message()
        assert "workbench withdraw FD-1" in err.value.message()
        assert "全プール" in err.value.message("ja")


# -- one worker per item -------------------------------------------------------------------

def test_a_second_worker_on_the_same_item_is_refused_naming_the_holder(tmp_path):
    settings = settings_in(tmp_path)
    lock = item_lock(settings.paths.logs / "locks", "FD-1", "station-7", "image").acquire()
    try:
        out = workbench_cmd("migrate", str(GOOD), "--profile", "fd35-2hd", "--item", "FD-1",
                            cwd=tmp_path)
        assert out.returncode == ExitCode.REFUSED
        assert "station-7" in out.stderr and f"process {os.getpid()}" in out.stderr
        assert not (tmp_path / "staging" / "FD-1").exists()  # nothing read or written
    finally:
        lock.release()


def test_the_same_item_migrated_twice_at_once_is_refused(tmp_path):
    slow = tmp_path / "slow.drive.toml"  # the first read takes 3 s: the lock is held
    slow.write_text(f'image = "{MEDIA / "fd35-2hd-good.img"}"\n'
                    '[[slow]]\nstart = 0\nsize = 512\nseconds = 3\n')
    command = [sys.executable, "-m", "workbench", "migrate", str(slow), "--profile",
               "fd35-2hd", "--item", "FD-1"]
    first = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "logs" / "locks" / "FD-1.lock"
    deadline = time.monotonic() + 60
    while f'"pid": {first.pid}' not in (lock.read_text() if lock.exists() else ""):
        assert time.monotonic() < deadline and first.poll() is None, "no lock taken"
        time.sleep(0.05)
    second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""
    assert second.returncode == ExitCode.REFUSED
    assert f"process {first.pid}" in second.stderr and "station-1" in second.stderr
    con = connect(tmp_path / "logs" / "ledger.sqlite")
    assert con.execute("SELECT COUNT(*) FROM events WHERE step = 'imaging'"
                       ).fetchone()[0] == 1
    assert con.execute("SELECT COUNT(*) FROM bags").fetchone()[0] == 1
    con.close()
    assert check_bag(tmp_path / "bags" / "FD-1") == []


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    script = ("import os, signal, sys\nfrom pathlib import Path\n"
              "from workbench.station.locks import item_lock\n"
              "item_lock(Path(sys.argv[1]), 'FD-1', 'station-9', 'image').acquire()\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "logs" / "locks")],
                          cwd=PROJECT_ROOT)
    assert done.returncode == -signal.SIGKILL
    assert "station-9" in (tmp_path / "logs" / "locks" / "FD-1.lock").read_text()
    out = workbench_cmd("migrate", str(GOOD), "--profile", "fd35-2hd", "--item", "FD-1",
                        cwd=tmp_path)
    assert out.returncode == 0, out.stderr


def test_two_threads_of_one_process_exclude_each_other(tmp_path):
    """The UI and its workers are threads of one process: flock is per open file."""
    locks = tmp_path / "locks"
    first = item_lock(locks, "FD-1", "s", "accept").acquire()
    errors: list[Exception] = []

    def second() -> None:
        try:
            item_lock(locks, "FD-1", "s", "route").acquire()
        except Refused as exc:
            errors.append(exc)
    worker = threading.Thread(target=second)
    worker.start()
    worker.join(timeout=30)
    first.release()
    assert len(errors) == 1
    item_lock(locks, "FD-1", "s", "route").acquire().release()  # free once released


# -- a bag never changes -------------------------------------------------------------------

def test_imaging_a_bagged_item_is_refused_and_the_bag_stays_valid(tmp_path):
    assert workbench_run("migrate", str(GOOD), "--profile", "fd35-2hd", "--item", "FD-1",
                         cwd=tmp_path).returncode == 0
    bag = tmp_path / "bags" / "FD-1"
    before = read_manifest(bag / "manifest-sha256.txt")
    out = workbench_run("image", str(DAMAGED), "--profile", "fd35-2hd", "--item", "FD-1",
                        cwd=tmp_path)
    assert out.returncode == ExitCode.REFUSED and "withdraw" in out.stderr, out.stderr
    # migrate again continues the pipeline (after a crash, the same command): no reading
    out = workbench_run("migrate", str(DAMAGED), "--profile", "fd35-2hd", "--item", "FD-1",
                        cwd=tmp_path)
    assert out.returncode == 0 and "state: bagged" in out.stdout, out.stderr
    assert "imaging:" not in out.stdout
    assert workbench_run("retry", "FD-1", cwd=tmp_path).returncode == ExitCode.REFUSED
    assert workbench_run("mark", "FD-1", "needs-flux", cwd=tmp_path).returncode == \
        ExitCode.REFUSED
    assert check_bag(bag) == [] and read_manifest(bag / "manifest-sha256.txt") == before
    # nothing in staging is a name of a file in the bag
    bagged = {(p.stat().st_dev, p.stat().st_ino) for p in bag.rglob("*") if p.is_file()}
    assert not any((p.stat().st_dev, p.stat().st_ino) in bagged
                   for p in (tmp_path / "staging").rglob("*") if p.is_file())
    out = workbench_run("image", str(DAMAGED), "--profile", "fd35-2hd", "--item", "FD-1",
                        "--out", str(tmp_path / "staging" / "FD-1"), cwd=tmp_path)
    assert out.returncode == ExitCode.BAD_INPUT and "staging" in out.stderr


def test_withdraw_retry_makes_a_new_version_and_release_waits_for_it(tmp_path):
    mount_tapes(tmp_path)
    out = workbench_run("migrate", str(DAMAGED), "--profile", "fd35-2hd", "--item", "FD-2",
                        cwd=tmp_path)
    assert out.returncode == ExitCode.PARTIAL, out.stderr
    v1 = tmp_path / "bags" / "FD-2"
    assert check_bag(v1) == []
    assert workbench_run("withdraw", "FD-2", cwd=tmp_path).returncode == 2  # --reason needed
    out = workbench_run("withdraw", "FD-2", "--reason", "a better drive arrived",
                        cwd=tmp_path)
    assert out.returncode == 0 and "version 2" in out.stdout, out.stderr
    clean = tmp_path / "clean.drive.toml"  # the same disk in a better drive
    clean.write_text(f'image = "{MEDIA / "fd35-2hd-damaged.img"}"\nmodel = "Better drive"\n')
    out = workbench_run("retry", "FD-2", "--drive", str(clean), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    v2 = tmp_path / "bags" / "FD-2+v2"
    assert check_bag(v2) == [] and check_bag(v1) == []  # v1 unchanged, still there
    assert read_manifest(v1 / "manifest-sha256.txt") != read_manifest(v2 / "manifest-sha256.txt")
    shown = workbench_run("show", "FD-2", cwd=tmp_path).stdout
    assert "withdrawal" in shown and "on tape in every pool" in shown
    with Station(settings_in(tmp_path)) as st:
        state = st.state("FD-2")
        assert [b.version for b in state.bags] == [1, 2]
        assert state.bags[0].withdrawn == "a better drive arrived"
        assert {c.pool for c in state.copies["FD-2"]} == {"primary", "secondary"}
    assert workbench_run("tape", "release", "FD-2", cwd=tmp_path).returncode == 0
    assert not v1.exists() and not v2.exists()  # v1 only once v2 was verified everywhere
    for barcode, _ in POOLS:  # both versions stay on tape
        assert (tmp_path / "tape" / barcode / "FD-2" / "bagit.txt").is_file()
        assert (tmp_path / "tape" / barcode / "FD-2+v2" / "bagit.txt").is_file()


def test_a_retry_that_recovers_everything_leaves_no_stale_report(tmp_path):
    """Damaged floppy (reviewed: identified with 6 bad sectors) -> retry recovers it ->
    the bag lists no damaged file and each file's true SHA-256."""
    from workbench.identify.engine import identify_image
    settings = settings_in(tmp_path)
    with Station(settings) as st:
        first = st.migrate(DAMAGED, st.profiles["fd35-2hd"], "FD-2", review=True)
        assert first.report and first.report["summary"]["damaged"]
        clean = tmp_path / "clean.drive.toml"
        clean.write_text(f'image = "{MEDIA / "fd35-2hd-damaged.img"}"\n')
        result = st.retry("FD-2", drive=str(clean))
        assert result.record.outcome == "success" and result.bag is not None
    report = json.loads((result.bag / "metadata" / "formats.json").read_text())
    assert report["summary"]["damaged"] == []
    truth = identify_image(MEDIA / "fd35-2hd-damaged.img", settings, digests=("sha256",))
    true_sha = {f.path: f.sha256 for f in truth.files}
    assert {f["path"]: f["sha256"] for f in report["files"]} == true_sha
    premis = (result.bag / "metadata" / "premis.xml").read_text()
    assert result.record.digests["sha256"] in premis


def test_review_partial_then_bag_records_the_bag(tmp_path):
    out = workbench_run("migrate", str(DAMAGED), "--profile", "fd35-2hd", "--item", "FD-2",
                        "--review-partial", cwd=tmp_path)
    assert out.returncode == ExitCode.PARTIAL
    assert workbench_run("bag", str(tmp_path / "staging" / "FD-2"), cwd=tmp_path
                         ).returncode == 0
    with Station(settings_in(tmp_path)) as st:
        state = st.state("FD-2")
        assert state.state is State.BAGGED and state.bag is not None
        assert state.bag.path == str(tmp_path / "bags" / "FD-2")


def test_routing_is_a_state(tmp_path):
    assert workbench_run("migrate", str(DAMAGED), "--profile", "fd35-2hd", "--item", "FD-2",
                         "--review-partial", cwd=tmp_path).returncode == ExitCode.PARTIAL
    assert workbench_run("mark", "FD-2", "needs-flux", cwd=tmp_path).returncode == 0
    out = workbench_run("accept", "FD-2", cwd=tmp_path)
    assert out.returncode == ExitCode.REFUSED and "retry" in out.stderr
    assert workbench_run("retry", "FD-2", "--review-partial", cwd=tmp_path
                         ).returncode == ExitCode.PARTIAL  # imaged again
    assert workbench_run("accept", "FD-2", cwd=tmp_path).returncode == ExitCode.PARTIAL
    again = workbench_run("accept", "FD-2", cwd=tmp_path)  # bagged: nothing to accept
    assert again.returncode == ExitCode.REFUSED and "write to tape" in again.stderr


# -- the ledger is the one record of tapes ---------------------------------------------------

def test_tape_commands_reach_the_ledger_and_the_catalogue_is_an_export(tmp_path):
    assert workbench_run("migrate", str(GOOD), "--profile", "fd35-2hd", "--item", "FD-1",
                         cwd=tmp_path).returncode == 0
    mount_tapes(tmp_path)
    assert workbench_run("tape", "write", cwd=tmp_path).returncode == 0
    con = connect(tmp_path / "logs" / "ledger.sqlite")
    copies = con.execute("SELECT bag, pool, result FROM tape_copies ORDER BY rowid").fetchall()
    assert [tuple(r) for r in copies] == [("FD-1", "primary", "written"),
                                          ("FD-1", "primary", "verified"),
                                          ("FD-1", "secondary", "written"),
                                          ("FD-1", "secondary", "verified")]
    exported = Catalogue(tmp_path / "logs" / "tape-catalogue.json")
    assert exported.verified_pools("FD-1") == {"primary", "secondary"}
    for barcode, _ in POOLS:  # each tape says what it holds
        on_tape = json.loads((tmp_path / "tape" / barcode / "workbench-catalogue.json"
                              ).read_text())
        assert [(e["bag"], e["barcode"], e["result"]) for e in on_tape] == \
            [("FD-1", barcode, "verified")]
    assert workbench_run("tape", "verify", cwd=tmp_path).returncode == 0
    assert workbench_run("tape", "release", "FD-1", cwd=tmp_path).returncode == 0
    shown = workbench_run("show", "FD-1", cwd=tmp_path).stdout
    assert "on tape, staging released" in shown
    assert "P00001L8" in shown and "S00001L8" in shown
    assert con.execute("SELECT COUNT(*) FROM releases").fetchone()[0] == 1
    con.close()


def test_four_writers_and_a_merge_lose_and_duplicate_nothing(tmp_path):
    mount_tapes(tmp_path)
    other = tmp_path / "other"  # another station, merged while these four write
    other.mkdir()
    (other / "workbench.toml").write_text('[station]\nid = "station-2"\n')
    assert workbench_run("migrate", str(GOOD), "--profile", "fd35-2hd", "--item", "OTHER-1",
                         cwd=other).returncode == 0
    jobs = [("fd35-2hd-good", "fd35-2hd", f"FD-{n}") for n in range(1, 5)] + \
        [("usb-sample", "usb", f"USB-{n}") for n in range(1, 5)]
    procs = []
    for n in range(4):  # four processes, two carriers each, tapes mounted
        script = "; ".join(
            f"{sys.executable} -m workbench migrate {MEDIA / (d + '.drive.toml')} "
            f"--profile {p} --item {i}" for d, p, i in jobs[n::4])
        procs.append(subprocess.Popen(["bash", "-c", script], cwd=tmp_path,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True))
    merge = subprocess.run([sys.executable, "-m", "workbench", "ledger", "merge",
                            str(other / "logs" / "ledger.sqlite")], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    codes = [p.wait(timeout=600) for p in procs]
    assert codes == [0] * 4 and merge.returncode == 0, [p.stderr.read() for p in procs]
    # bags that found the tape busy wait for `tape write`; nothing is lost either way
    assert workbench_run("tape", "write", cwd=tmp_path).returncode == 0
    con = connect(tmp_path / "logs" / "ledger.sqlite")
    with Station(settings_in(tmp_path)) as st:
        for _, _, item in jobs:
            assert st.state(item).state is State.ON_TAPE, item
    rows = con.execute("SELECT bag, barcode, result, written, verified FROM tape_copies"
                       ).fetchall()
    assert len(rows) == len({tuple(r) for r in rows}) == 8 * 2 * 2, [tuple(r) for r in rows]
    steps = con.execute("SELECT item_id, step, detail FROM events WHERE step != 'tape'"
                        ).fetchall()
    assert len(steps) == len({tuple(r) for r in steps})
    assert con.execute("SELECT COUNT(*) FROM carriers").fetchone()[0] == 9
    exported = Catalogue(tmp_path / "logs" / "tape-catalogue.json")
    assert all(exported.verified_pools(i) == {"primary", "secondary"} for _, _, i in jobs)
    con.close()


# -- unfinished work is visible ------------------------------------------------------------------

def test_pending_lists_unfinished_work_with_the_action_that_continues_it(tmp_path):
    settings = settings_in(tmp_path)
    with Station(settings) as st:
        fd = st.profiles["fd35-2hd"]
        cancel_early(st)
        st.image(GOOD, fd, "ABORTED-1")
        st.cancel.clear()
        st.progress = lambda step, p: None
        st.image(GOOD, fd, "IMAGED-1")
        st.image(GOOD, fd, "BAGGED-1")
        st.accept("BAGGED-1")
        st.image(GOOD, fd, "DONE-1")
        st.image(TRUNCATING, fd, "FAILED-1")
    generations = load_generations(PROJECT_ROOT / "profiles")
    label_tape(tmp_path / "tape" / "P1", "P1", "primary", "LTO-8", 50_000_000, generations)
    with Station(settings) as st:
        st.accept("DONE-1")  # written to the primary pool only
    out = workbench_run("pending", "--json", cwd=tmp_path)
    listed = {p["item"]: (p["state"], p["next"], p["missing_pools"])
              for p in json.loads(out.stdout)}
    assert listed == {"ABORTED-1": ("interrupted", "image", []),
                      "IMAGED-1": ("imaged", "accept", []),
                      "BAGGED-1": ("bagged", "tape_write", ["primary", "secondary"]),
                      "DONE-1": ("bagged", "tape_write", ["secondary"])}
    log = workbench_run("log", "--outcome", "aborted", cwd=tmp_path).stdout
    assert "ABORTED-1" in log and "IMAGED-1" not in log
    # aborted means not tried: no bad sectors counted for what was never read
    con = connect(tmp_path / "logs" / "ledger.sqlite")
    row = con.execute("SELECT bad_sectors FROM current_attempts WHERE item_id = 'ABORTED-1'"
                      ).fetchone()
    assert row["bad_sectors"] == 0
    con.close()


def test_a_crash_between_imaging_and_its_record_is_picked_up(tmp_path):
    """The job folder says 'partial' but the ledger never heard: the next command on the
    carrier records it first, and the state follows the job."""
    out = workbench_run("image", str(DAMAGED), "--profile", "fd35-2hd", "--item", "FD-2",
                        "--out", str(tmp_path / "elsewhere" / "FD-2"), cwd=tmp_path)
    assert out.returncode == ExitCode.PARTIAL
    shutil.copytree(tmp_path / "elsewhere" / "FD-2", tmp_path / "staging" / "FD-2")
    with Station(settings_in(tmp_path)) as st:
        assert st.state("FD-2").state is State.NEW  # only reads: nothing recorded yet
    out = workbench_run("migrate", str(DAMAGED), "--profile", "fd35-2hd", "--item", "FD-2",
                        cwd=tmp_path)
    assert out.returncode == ExitCode.PARTIAL and "packaging" in out.stdout
    con = connect(tmp_path / "logs" / "ledger.sqlite")
    assert con.execute("SELECT COUNT(DISTINCT attempt) FROM attempts").fetchone()[0] == 1
    con.close()


# -- a crash at any step, then the same command ----------------------------------------------

KILL_SCRIPT = """
import os, signal, sys
root, where, media = sys.argv[1:]
sys.path.insert(0, root)
import workbench.package.carrier as carrier
import workbench.station.book as book
import workbench.station.core as core
import workbench.tape.stage as stage
import workbench.tape.readback as readback


def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


def on_call(owner, name, n):
    real, calls = getattr(owner, name), []
    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            die()
        return real(*args, **kwargs)
    setattr(owner, name, wrapper)


if where == "image":
    real_image = core.image
    def image(*args, **kwargs):
        def progress(p):
            if p.rescued > 500_000:
                die()
        kwargs["progress"] = progress
        return real_image(*args, **kwargs)
    core.image = image
elif where == "record_job":
    core.ledger.record_job = die
elif where == "verify":
    core.verify_image = die
elif where == "identify":
    carrier.WRITERS = {"csv": die}
elif where == "bag":
    carrier.validate_bag = die
elif where == "hand_over":
    carrier.hand_over = die
elif where == "record_bag":
    core.ledger.record_bag = die
elif where == "event":
    on_call(core.ledger, "record_event", 3)
elif where == "tape_stream":
    stage._Writer.stream = die
elif where == "tape_entry":
    on_call(book.LedgerBook, "add", 1)
elif where == "tape_verify":
    readback.check_copy = die
elif where == "tape_second_copy":
    on_call(book.LedgerBook, "add", 3)

if __name__ == "__main__":
    from workbench.config import Settings
    from workbench.station import Station
    station = Station(Settings())
    station.migrate(media, station.profiles["fd35-2hd"], "FD-2", batch="B1")
"""


def final_state(cwd: Path) -> dict[str, object]:
    con = connect(cwd / "logs" / "ledger.sqlite")
    try:
        with Station(settings_in(cwd)) as st:
            state = st.state("FD-2")
        bag = Path(state.bag.path) if state.bag else None
        return {
            "state": state.state,
            "latest": [tuple(r) for r in con.execute(
                "SELECT outcome, bad_sectors, sha256 FROM current_attempts")],
            "rows": {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                     for t in ("carriers", "formats", "bags")},
            "steps": sorted(r[0] for r in con.execute("SELECT step FROM events")),
            "bagged_image": read_manifest(bag / "manifest-sha256.txt")["data/image.img"]
            if bag else "",
            "bag_valid": check_bag(bag) == [] if bag else False,
            "copies": sorted((c.barcode, c.result) for c in state.copies.get("FD-2", [])),
            "tape_files": sorted(str(p.relative_to(cwd / "tape")) for p in
                                 (cwd / "tape").rglob("*") if p.is_file()
                                 and p.name != "workbench-catalogue.json"),
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The final state of the damaged disk migrated without a kill: the same for every
    step below, so made once."""
    reference = tmp_path_factory.mktemp("reference")
    mount_tapes(reference)
    assert workbench_run("migrate", str(DAMAGED), "--profile", "fd35-2hd", "--item", "FD-2",
                         "--batch", "B1", cwd=reference).returncode == ExitCode.PARTIAL
    expected = final_state(reference)
    assert expected["state"] is State.ON_TAPE and expected["bag_valid"]
    return expected


@pytest.mark.parametrize("where", ["image", "record_job", "verify", "identify", "bag",
                                   "hand_over", "record_bag", "event", "tape_stream",
                                   "tape_entry", "tape_verify", "tape_second_copy"])
def test_sigkill_at_each_step_then_the_same_command_gives_the_same_final_state(
        where: str, tmp_path: Path, uninterrupted: dict[str, object]) -> None:
    expected = uninterrupted
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    cwd = tmp_path / where
    cwd.mkdir()
    mount_tapes(cwd)
    done = subprocess.run([sys.executable, str(script), str(PROJECT_ROOT), where,
                           str(DAMAGED)], cwd=cwd, timeout=300)
    assert done.returncode == -signal.SIGKILL, where
    again = workbench_run("migrate", str(DAMAGED), "--profile", "fd35-2hd", "--item", "FD-2",
                          "--batch", "B1", cwd=cwd)
    assert again.returncode == ExitCode.PARTIAL, (where, again.stdout, again.stderr)
    assert final_state(cwd) == expected, where
    # and once more: nothing left to do, nothing recorded twice
    assert workbench_run("migrate", str(DAMAGED), "--profile", "fd35-2hd", "--item", "FD-2",
                         "--batch", "B1", cwd=cwd).returncode == ExitCode.PARTIAL
    assert final_state(cwd) == expected, where


def test_identification_cut_short_is_recorded_incomplete_never_success(tmp_path):
    """The station's time limit stops the listing: the step, the ledger and PREMIS say
    "incomplete"; the image itself still migrates (it is whole)."""
    settings = replace(settings_in(tmp_path), identify_seconds=0.0)
    with Station(settings) as st:
        result = st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-9")
        steps = {step: (outcome, detail) for step, outcome, detail in result.steps}
        assert steps["identification"][0] == "incomplete"
        assert "volume 1" in steps["identification"][1]
        assert result.record.outcome == "success" and result.bag is not None
    con = connect(settings.paths.ledger)
    outcomes = [row[0] for row in con.execute(
        "SELECT outcome FROM events WHERE item_id = 'FD-9' AND step = 'identification'")]
    assert outcomes == ["incomplete"]
    report = json.loads((result.bag / "metadata" / "formats.json").read_text())
    assert report["complete"] is False
    premis = (result.bag / "metadata" / "premis.xml").read_text()
    assert "<premis:eventOutcome>incomplete</premis:eventOutcome>" in premis


def test_a_carrier_whose_image_is_another_carriers_is_said(tmp_path):
    """Issue 13: two carriers with the same image digest are flagged, never refused."""
    settings = settings_in(tmp_path)
    with Station(settings) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1", review=True)
        other = st.migrate(DAMAGED, st.profiles["fd35-2hd"], "FD-2", review=True)
        again = st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-3", review=True)
    detail = dict((step, d) for step, _, d in again.steps)["imaging"]
    assert "identical" in detail and "FD-1" in detail and "FD-2" not in detail
    assert "identical" not in dict((s, d) for s, _, d in other.steps)["imaging"]
    assert again.record.outcome == "success"


@pytest.mark.parametrize("state, way", [
    (State.NEW, "image"), (State.INTERRUPTED, "image"), (State.IMAGED, "review"),
    (State.FAILED, "none"), (State.ROUTED, "none"), (State.BAGGED, "stage"),
    (State.ON_TAPE, "release"), (State.RELEASED, "none"), (State.WITHDRAWN, "again")])
def test_the_station_says_which_way_a_carrier_goes_on(tmp_path, state, way):
    """One answer for the work list, the item scan and the queue (station/next_step)."""
    from workbench.station.next_step import continuation
    make_state(tmp_path, state)
    with Station(settings_in(tmp_path)) as st:
        if state is State.BAGGED:
            assert st.state("FD-1").missing_pools  # bagged, not yet on tape
        go = continuation(st, "FD-1")
        assert (go.state.state, go.way.value) == (state, way)
        assert go.profile_id == ("" if state is State.NEW else "fd35-2hd")


def test_show_names_the_station_of_every_attempt(tmp_path):
    """A shared ledger's history: each attempt says which station made it."""
    settings = settings_in(tmp_path)
    with Station(settings) as st:
        st.image(GOOD, st.profiles["fd35-2hd"], "SHOW-1")
        lines = st.records.history_lines("SHOW-1")
    attempts = [line for line in lines if "fd35" not in line and "@" in line]
    assert attempts and all(f"@{settings.station_id}" in line for line in attempts)
