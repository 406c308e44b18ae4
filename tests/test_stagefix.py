"""Tryout 16b on the tape stage, read-back and retrieval: a dead LTFS mount (E2), a tar
copy that fills its tape (E6), a tape gone mid-retrieve and a copy failed on the way
(E9), superseded failed copies in re-verification (E10), Ctrl-C in verify and retrieve
(E11), the recopy refusal (E18), the busy tape lock's words (E19)."""

from __future__ import annotations

import builtins
import errno
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.test_station import GOOD, mount_tapes, settings_in
from tests.test_tape_retrieve import cli
from tests.test_tapefix import fd1_on_two_tapes
from workbench import PROJECT_ROOT
from workbench.station import State, Station
from workbench.tape import stage
from workbench.tape.tapes import load_generations, read_tape

GENERATIONS = load_generations(PROJECT_ROOT / "profiles")


@pytest.fixture
def station_root(tmp_path: Path) -> Path:
    """FD-1 bagged and verified on a primary and a secondary tape."""
    return fd1_on_two_tapes(tmp_path)


def second_primary(root: Path, barcode: str = "P00002L8") -> Path:
    from workbench.tape.tapes import label_tape
    label_tape(root / "tape" / barcode, barcode, "primary", "LTO-8", 50_000_000, GENERATIONS)
    return root / "tape" / barcode


class _FullFile:
    """A file on a tape that fills after `room` bytes, the way a buffered file on a full
    tmpfs or LTFS volume behaves: the write that does not fit says ENOSPC, and so does
    the close that flushes what is still buffered."""

    def __init__(self, fd: int, room: int) -> None:
        self.inner = builtins.open(fd, "wb")  # noqa: SIM115 - closed by close()
        self.room, self.pending = room, False

    def write(self, data: bytes) -> int:
        if self.pending or len(data) > self.room:
            self.pending = True
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.inner.write(data)

    def flush(self) -> None:
        if self.pending:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.inner.flush()

    def fileno(self) -> int:
        return self.inner.fileno()

    def close(self) -> None:
        self.inner.close()
        if self.pending:
            raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self) -> _FullFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tape_files_as(monkeypatch, mount: Path, make) -> None:
    """Files stage.py opens for writing on the tape at mount are make(fd)."""
    real = builtins.open

    def fake(file, mode="r", *args, **kwargs):
        if mode == "wb" and isinstance(file, int) and \
                os.readlink(f"/proc/self/fd/{file}").startswith(str(mount)):
            return make(file)
        return real(file, mode, *args, **kwargs)

    monkeypatch.setattr(stage, "open", fake, raising=False)


def fills_after(monkeypatch, mount: Path, room: int) -> None:
    """Files opened for writing on the tape at mount fill it after `room` bytes."""
    tape_files_as(monkeypatch, mount, lambda fd: _FullFile(fd, room))


# -- E6: a tar copy that fills its tape ----------------------------------------------------

@pytest.mark.parametrize("tar", [True, False], ids=["tar", "folder"])
def test_a_copy_that_fills_its_tape_marks_it_full_and_goes_whole_to_the_next(
        tmp_path: Path, monkeypatch, tar: bool):
    mount_tapes(tmp_path)
    second_primary(tmp_path)
    settings = replace(settings_in(tmp_path), tar_threshold=2 if tar else 1000)
    with Station(settings) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1", review=True)
        st.accept("FD-1", stage=False)
    first = tmp_path / "tape" / "P00001L8"
    fills_after(monkeypatch, first, 100_000)
    (tmp_path / "workbench.toml").write_text(
        f"[tape]\nheadroom_percent = 0\ntar_threshold = {2 if tar else 1000}\n")
    done = cli(tmp_path, "tape", "write")
    assert done.returncode == 0, done.stdout + done.stderr  # every bag ended verified
    assert "filled during the write" in done.stdout
    assert "written whole to another tape of pool primary" in done.stdout
    assert read_tape(first, GENERATIONS).full  # marked full: plans keep off it
    assert sorted(p.name for p in first.iterdir()) == sorted(
        [".workbench-tape.toml", "workbench-catalogue.json"])  # the cut copy removed
    with Station(settings) as st:
        copies = {e.barcode: e.result for e in st.tapes.book.current().values()}
        assert copies == {"P00001L8": "failed", "P00002L8": "verified",
                          "S00001L8": "verified"}
        assert st.state("FD-1").state is State.ON_TAPE


def test_a_failed_copy_not_replaced_still_fails_the_run():
    from workbench.errors import ExitCode
    from workbench.station.tape_outcome import write_code
    from workbench.tape.catalogue import CopyEntry
    failed = CopyEntry("FD-1", "P1", "primary", 1, 1, "failed")
    good = replace(failed, barcode="P2", result="verified")
    other_pool = replace(good, pool="secondary", barcode="S1")
    assert write_code([failed, good], []) is ExitCode.SUCCESS
    assert write_code([failed, other_pool], []) is ExitCode.FAILED
    assert write_code([good, failed], []) is ExitCode.FAILED  # a later failure stands


# -- E10: a failed copy replaced in its pool is history --------------------------------------

def replaced_primary(root: Path) -> None:
    """FD-1's primary copy on P00001L8 failed a re-check; `tape recopy` made a verified
    one on P00002L8."""
    from tests.test_tape_retrieve import flip_a_byte, image_on
    from workbench.station.recopy import recopy
    with Station(settings_in(root)) as st:
        flip_a_byte(image_on(root, "P00001L8"))
        assert [e.barcode for e in st.tapes.verify(older_than=0)
                if e.result == "failed"] == ["P00001L8"]
        second_primary(root)
        copies, _ = recopy(st, "FD-1")
        assert [(e.barcode, e.result) for e in copies] == [("P00002L8", "verified")]


def test_a_failed_copy_replaced_in_its_pool_is_not_read_again_nor_due(
        station_root: Path, tmp_path: Path):
    from workbench.station.reverify import due_elsewhere
    replaced_primary(station_root)
    with Station(settings_in(station_root)) as st:
        before = st.con.execute("SELECT COUNT(*) FROM tape_copies").fetchone()[0]
    done = cli(station_root, "tape", "verify", "--barcode", "P00001L8", "--older-than", "0d")
    assert done.returncode == 0, done.stdout + done.stderr  # no alarm, no recopy asked
    assert "recopy" not in done.stdout and "FAILED" not in done.stdout
    done = cli(station_root, "tape", "verify", "--older-than", "0d")
    assert done.returncode == 0 and "FAILED" not in done.stdout, done.stdout
    with Station(settings_in(station_root)) as st:
        rows = st.con.execute("SELECT COUNT(*) FROM tape_copies").fetchone()[0]
        assert rows == before + 2  # P00002L8 and S00001L8 read; P00001L8 not again
        current = list(st.tapes.book.current().values())
        # its tape on the shelf: not a cartridge to fetch for a due run either
        assert "P00001L8" not in [d.barcode for d in due_elsewhere(current, set(), 0)]
        assert "P00001L8" not in [e.barcode for e in st.tapes.due(0)]
        assert st.state("FD-1").missing_pools == ()


def test_a_failed_copy_not_replaced_is_still_read_and_alarms(station_root: Path):
    from tests.test_tape_retrieve import flip_a_byte, image_on
    flip_a_byte(image_on(station_root, "P00001L8"))
    for _ in range(2):  # each run: the pool still lacks a good copy
        done = cli(station_root, "tape", "verify", "--older-than", "0d")
        assert done.returncode == 4 and "recopy" in done.stdout


# -- E11: Ctrl-C during verify and retrieve ----------------------------------------------------

def ctrl_c_at_first_read(monkeypatch, module, name: str) -> None:
    """Ctrl-C (SIGINT to this process) as the first copy is read."""
    import signal
    real = getattr(module, name)
    sent = []

    def reading(*args, **kwargs):
        if not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, reading)


def test_ctrl_c_in_verify_says_what_was_left_and_exits_cancelled(station_root: Path,
                                                                 monkeypatch):
    from workbench.tape import readback
    ctrl_c_at_first_read(monkeypatch, readback, "check_copy")
    done = cli(station_root, "tape", "verify", "--older-than", "0d")
    assert done.returncode == 5, done.stdout + done.stderr
    assert "map is saved" not in done.stderr and "Stopping after the copy" in done.stderr
    assert "1 of the copies chosen for this run were not read (S00001L8: 1)" in done.stdout
    assert "P00001L8" in done.stdout  # the copy under way was finished and recorded


def test_ctrl_c_in_retrieve_says_retrieval_words(station_root: Path, tmp_path: Path,
                                                 monkeypatch):
    from workbench.tape import retrieve
    ctrl_c_at_first_read(monkeypatch, retrieve, "tape_order")
    done = cli(station_root, "retrieve", "FD-1", "--to", str(tmp_path / "out"))
    assert done.returncode == 5, done.stdout + done.stderr
    assert "map is saved" not in done.stderr and "Stopping the retrieval" in done.stderr
    assert not (tmp_path / "out" / "FD-1").exists()


# -- E2: a dead LTFS mount (the ltfs process ended: ENOTCONN) ---------------------------------

class DeadMount:
    """Once `die()` is called, every look at a path under mount says what a FUSE mount
    whose ltfs process ended says: ENOTCONN, "Transport endpoint is not connected"
    (no real FUSE mount here: the os functions the tape code uses are wrapped)."""

    def __init__(self, monkeypatch, mount: Path) -> None:
        self.mount, self.dead = str(mount), False
        for module, name in ((os, "stat"), (os, "lstat"), (os, "open"), (os, "scandir"),
                             (os, "listdir"), (builtins, "open")):
            monkeypatch.setattr(module, name, self._wrap(getattr(module, name)))

    def die(self) -> None:
        self.dead = True

    def _wrap(self, real):
        def call(path, *args, **kwargs):
            if self.dead and isinstance(path, (str, os.PathLike)) and \
                    kwargs.get("dir_fd") is None and \
                    (os.fspath(path) + "/").startswith(self.mount + "/"):
                raise OSError(errno.ENOTCONN, "Transport endpoint is not connected",
                              os.fspath(path))
            return real(path, *args, **kwargs)
        return call


def test_a_mount_that_dies_mid_retrieve_costs_that_copy_only(station_root: Path,
                                                             tmp_path: Path, monkeypatch):
    from workbench.station.retrieve import Retrieval, retrieval_lines
    dead = DeadMount(monkeypatch, station_root / "tape" / "P00001L8")

    def progress(p) -> None:
        if p.barcode == "P00001L8" and p.done > 0:
            dead.die()

    with Station(settings_in(station_root)) as st:
        before = st.con.execute("SELECT COUNT(*) FROM tape_copies").fetchone()[0]
        done = Retrieval(st).retrieve("FD-1", tmp_path / "out", progress=progress)
        assert done.source is not None and done.source.barcode == "S00001L8"  # the next
        assert done.failed == [] and [e.barcode for e, _ in done.gone] == ["P00001L8"]
        words = " ".join(retrieval_lines(done))
        assert "LTFS process of tape P00001L8" in words and "ltfsck" in words
        # one row: the secondary's successful read; nothing against the primary
        assert st.con.execute("SELECT COUNT(*) FROM tape_copies").fetchone()[0] == before + 1
        assert st.state("FD-1").missing_pools == ()
    assert (tmp_path / "out" / "FD-1" / "bagit.txt").is_file()


def test_a_mount_that_dies_mid_verify_is_said_as_such_and_records_nothing(
        station_root: Path, monkeypatch):
    from workbench.errors import Refused
    dead = DeadMount(monkeypatch, station_root / "tape" / "S00001L8")

    def progress(p) -> None:
        if p.barcode == "P00001L8":  # while the primary is read, the secondary dies
            dead.die()

    with Station(settings_in(station_root)) as st:
        with pytest.raises(Refused) as gone:
            st.tapes.verify(older_than=0, progress=progress)
        assert gone.value.key == "deadfix.verify_stopped"  # the copies not read said
        assert gone.value.__cause__.key == "stagefix.tape_dead"
        words = gone.value.message("en")
        assert "fusermount -u" in words and "ltfsck" in words and "S00001L8" in words
        assert "failed" not in [e.result for e in st.tapes.book.history("FD-1")]


def test_a_mount_that_dies_mid_write_records_nothing_and_says_how_to_recover(
        tmp_path: Path, monkeypatch):
    from workbench.errors import Aborted
    mount_tapes(tmp_path)
    with Station(settings_in(tmp_path)) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1", review=True)
        st.accept("FD-1", stage=False)
        dead = DeadMount(monkeypatch, tmp_path / "tape" / "P00001L8")

        def progress(p) -> None:
            if p.barcode == "P00001L8" and p.phase == "write":
                dead.die()

        with pytest.raises(Aborted) as gone:
            st.tapes.write(progress=progress)
        assert gone.value.key == "stagefix.tape_dead_write"
        assert "ltfsck" in gone.value.message("en")
        assert [e.barcode for e in st.tapes.book.history("FD-1")
                if e.result == "failed"] == []
        assert st.state("FD-1").state is State.BAGGED


# -- E9: retrieve and a tape that goes mid-read; a copy failed on the way -----------------------

def test_a_tape_pulled_mid_retrieve_sends_it_to_the_next_mounted_copy(
        station_root: Path, tmp_path: Path):
    from workbench.station.retrieve import Retrieval
    mount = station_root / "tape" / "P00001L8"

    def progress(p) -> None:
        if p.barcode == "P00001L8" and not (tmp_path / "away").exists():
            mount.rename(tmp_path / "away")  # pulled: an empty mount point is left
            mount.mkdir()

    with Station(settings_in(station_root)) as st:
        done = Retrieval(st).retrieve("FD-1", tmp_path / "out", progress=progress)
        assert done.source is not None and done.source.barcode == "S00001L8"
        assert [e.barcode for e, key in done.gone] == ["P00001L8"]
        assert "failed" not in [e.result for e in st.tapes.book.history("FD-1")]
    assert list(mount.iterdir()) == []  # nothing written into the bare mount point


def test_a_copy_failed_on_the_way_is_said_with_the_refusal(station_root: Path,
                                                           tmp_path: Path):
    from tests.test_tape_retrieve import flip_a_byte, image_on
    flip_a_byte(image_on(station_root, "S00001L8"))
    (station_root / "tape" / "P00001L8").rename(tmp_path / "shelf")
    done = cli(station_root, "retrieve", "FD-1", "--to", str(tmp_path / "out"))
    assert done.returncode == 6, done.stdout + done.stderr
    assert "S00001L8 (secondary) just failed its read-back" in done.stderr
    assert "workbench tape recopy FD-1" in done.stderr
    assert "Mount one of: P00001L8 (primary)" in done.stderr


# -- E18: the recopy refusal when the pool's other tape is full ---------------------------------

def test_recopy_refuses_with_the_true_reason_when_the_other_tape_is_full(station_root: Path):
    from tests.test_tape_retrieve import flip_a_byte, image_on
    flip_a_byte(image_on(station_root, "P00001L8"))
    assert cli(station_root, "tape", "verify", "--older-than", "0d").returncode == 4
    other = second_primary(station_root)
    tape = read_tape(other, GENERATIONS)
    tape.full = True
    tape.save_label()
    done = cli(station_root, "tape", "recopy", "FD-1")
    assert done.returncode == 6, done.stdout + done.stderr  # a refusal: nothing done
    assert "not written onto P00001L8, whose copy of it failed" in done.stderr
    assert "other mounted tapes (P00002L8) have no room" in done.stderr


# -- E19: the busy tape lock says what the holder does; one wording for a copy's last check -----

def test_a_second_tape_user_is_told_what_the_first_is_doing(station_root: Path):
    from workbench.errors import Refused
    with Station(settings_in(station_root)) as st, st.tapes.lock("tape verify").acquire(), \
            pytest.raises(Refused) as busy:
        st.tapes.write()
    words = busy.value.message("en")
    assert "`workbench tape verify`" in words and "writing" not in words


def test_show_and_where_say_a_copys_last_check_in_the_same_words(station_root: Path):
    from tests.test_tape_retrieve import flip_a_byte, image_on
    flip_a_byte(image_on(station_root, "P00001L8"))
    cli(station_root, "tape", "verify", "--older-than", "0d")
    where = cli(station_root, "where", "FD-1").stdout
    show = cli(station_root, "show", "FD-1").stdout
    for text in (where, show):
        line = next(line for line in text.splitlines() if "copy 1: P00001L8" in line)
        assert "failed" in line and "last checked" in line and "verified 20" not in line


# -- a copy is on the tape for good (the LTFS index synced) before it is recorded ---------------

def test_the_ltfs_index_is_written_to_tape_before_a_copy_is_recorded(tmp_path: Path,
                                                                      monkeypatch):
    from workbench.tape import held
    mount_tapes(tmp_path)
    seen: list[tuple[str, bool, list[str]]] = []
    with Station(settings_in(tmp_path)) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1", review=True)
        st.accept("FD-1", stage=False)
        monkeypatch.setattr(held, "ltfs_space", lambda mount, part: 1000)  # "LTFS"
        real = os.setxattr

        def setxattr(target, name, value, *args):
            if name == "user.ltfs.sync":
                where = os.readlink(f"/proc/self/fd/{target}")
                seen.append((Path(where).name, (Path(where) / "FD-1").is_dir(),
                             [e.result for e in st.tapes.book.history("FD-1")
                              if e.barcode == Path(where).name]))
                return None
            return real(target, name, value, *args)

        monkeypatch.setattr(os, "setxattr", setxattr)
        st.tapes.write()
    # each tape's index synced once its copy was in place, and before any record of it
    assert seen == [("P00001L8", True, []), ("S00001L8", True, [])]


def test_a_copy_whose_index_cannot_be_written_is_not_left_nor_counted(tmp_path: Path,
                                                                     monkeypatch):
    from workbench.tape import held
    mount_tapes(tmp_path)
    with Station(settings_in(tmp_path)) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1", review=True)
        st.accept("FD-1", stage=False)
        monkeypatch.setattr(held, "ltfs_space", lambda mount, part: 1000)

        def setxattr(target, name, value, *args):
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(os, "setxattr", setxattr)
        st.tapes.write()
        results = {e.barcode: e.result for e in st.tapes.book.current().values()}
        assert results == {"P00001L8": "failed", "S00001L8": "failed"}
        assert "Input/output error" in st.tapes.book.current()[("FD-1", "P00001L8")].detail
    assert not (tmp_path / "tape" / "P00001L8" / "FD-1").exists()


LTFS_TOOLS = all(shutil.which(t) for t in ("mkltfs", "ltfs", "ltfsck", "fusermount")) \
    and os.access("/dev/fuse", os.R_OK | os.W_OK)


@pytest.mark.skipif(not LTFS_TOOLS, reason="needs the LTFS tools (file backend) and FUSE: "
                    "see tests/ltfs_outputs/README.md")
def test_a_copy_survives_a_killed_ltfs_on_the_real_tools(tmp_path: Path):
    """LTFS 2.4 on its file simulator: a bag is staged, the ltfs process is SIGKILLed,
    the mount is cleared (fusermount -u) and checked (ltfsck): the cartridge mounted
    again still holds the copy and it verifies (before the index sync: nothing written
    since mkltfs was on it, not even the workbench label)."""
    import signal
    import subprocess

    from workbench.tape.tapes import label_tape
    root, shelf = tmp_path / "station", tmp_path / "shelf" / "A00001L8"
    root.mkdir()
    shelf.mkdir(parents=True)
    (root / "workbench.toml").write_text(
        f'[tape]\nheadroom_percent = 0\ndevice = "{shelf}"\nltfs_backend = "file"\n')
    mountpoint = root / "tape" / "A00001L8"
    try:
        assert cli(root, "tape", "format", "--pool", "primary", "--barcode",
                   "A00001L8").returncode == 0
        label_tape(root / "tape" / "S00001L8", "S00001L8", "secondary", "LTO-8", 50_000_000,
                   GENERATIONS)
        settings = replace(settings_in(root), tape_device=str(shelf), tape_backend="file")
        with Station(settings) as st:
            st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1")
            assert st.state("FD-1").state is State.ON_TAPE
        pid = next(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                   and str(mountpoint).encode() in (p / "cmdline").read_bytes()
                   and (p / "cmdline").read_bytes().split(b"\0")[0].endswith(b"ltfs"))
        os.kill(pid, signal.SIGKILL)
        subprocess.run(["fusermount", "-u", str(mountpoint)], check=True, timeout=60)
        subprocess.run(["ltfsck", "--backend=file", str(shelf)], check=False, timeout=300,
                       capture_output=True)
        run = cli(root, "tape", "mount", "--barcode", "A00001L8")
        assert run.returncode in (0, 3), run.stderr  # 3: the generation is not checked
        assert (mountpoint / "FD-1" / "bagit.txt").is_file()
        done = cli(root, "tape", "verify", "--barcode", "A00001L8", "--older-than", "0d")
        assert done.returncode == 0 and "A00001L8 (primary): verified" in done.stdout
    finally:
        if os.path.ismount(mountpoint):
            subprocess.run(["fusermount", "-u", str(mountpoint)], check=False, timeout=60)
