"""Tryout 16c on tape: an LTFS process that ends mid-write (N1), mid-retrieve (N2) and
mid-verify (N9) is said as a dead mount and records nothing, even while FUSE's attribute
cache still answers stat() of the mount (the real tools do for about a second); a Ctrl-C
during a tar-layout write stops it and the next bag is not started (N5); the unmount of a
dead mount says what happened (N10); `tape label` refuses a lower-case barcode (N12) and
another pool for a cartridge the ledger knows (N13).

The unit tests inject the errno (ENOTCONN) into the write, read and close calls while
every stat() keeps answering, which is what the real dead mount looks like at first.
The real-tools tests run against LTFS 2.4.8.4's file simulator at /tmp/ltfs-inst/bin
(or on PATH) and are skipped without it."""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import shutil
import signal
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from tests.test_stagefix import tape_files_as
from tests.test_station import GOOD, mount_tapes, settings_in
from tests.test_tape_retrieve import cli
from tests.test_tapefix import fd1_on_two_tapes
from workbench import PROJECT_ROOT
from workbench.errors import Aborted, BadInput, Refused
from workbench.station import State, Station
from workbench.tape import held, readback, stage
from workbench.tape import retrieve as tape_retrieve
from workbench.tape.tapes import LABEL, label_tape, load_generations

GENERATIONS = load_generations(PROJECT_ROOT / "profiles")
ENOTCONN = "Transport endpoint is not connected"


def dead_error() -> OSError:
    return OSError(errno.ENOTCONN, ENOTCONN)  # no file name: a read/write/close's error


@pytest.fixture
def station_root(tmp_path: Path) -> Path:
    """FD-1 bagged and verified on a primary and a secondary tape."""
    return fd1_on_two_tapes(tmp_path)


def bagged(root: Path, items: tuple[str, ...], tar: bool) -> Station:
    """A station with items bagged and waiting for tape (tar: the tar layout)."""
    mount_tapes(root)
    settings = settings_in(root)
    if tar:
        settings = replace(settings, tar_threshold=1)
    st = Station(settings)
    for item in items:
        st.migrate(GOOD, st.profiles["fd35-2hd"], item, review=True)
        st.accept(item, stage=False)
    return st


class _DyingFile:
    """A file on a tape whose ltfs process ends after `room` bytes: every write, flush
    and close from then on says ENOTCONN with no file name. stat() is not touched: the
    mount still looks alive, as FUSE's cache makes it look."""

    def __init__(self, fd: int, room: int) -> None:
        self.inner = builtins.open(fd, "wb")  # noqa: SIM115 - closed by close()
        self.room, self.dead = room, False

    def write(self, data: bytes) -> int:
        if self.dead or len(data) > self.room:
            self.dead = True
            raise dead_error()
        self.room -= len(data)
        return self.inner.write(data)

    def flush(self) -> None:
        if self.dead:
            raise dead_error()
        self.inner.flush()

    def fileno(self) -> int:
        return self.inner.fileno()

    def close(self) -> None:
        self.inner.close()
        if self.dead:
            raise dead_error()

    def __enter__(self) -> _DyingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def dies_after(monkeypatch, mount: Path, room: int) -> None:
    tape_files_as(monkeypatch, mount, lambda fd: _DyingFile(fd, room))


# -- N1: the write's own ENOTCONN is a dead tape, not a failed copy ---------------------------

@pytest.mark.parametrize("tar", [False, True], ids=["folder", "tar"])
def test_enotconn_in_a_write_is_a_dead_tape_not_a_failed_copy(tmp_path: Path, monkeypatch,
                                                               tar: bool):
    with bagged(tmp_path, ("FD-1",), tar) as st:
        mount = tmp_path / "tape" / "P00001L8"
        dies_after(monkeypatch, mount, 4096)
        with pytest.raises(Aborted) as gone:
            st.tapes.write()
        assert gone.value.key == "stagefix.tape_dead_write"  # not "went away", not failed
        words = gone.value.message("en")
        assert "ltfsck" in words and "FD-1" in words and "P00001L8" in words
        assert gone.value.exit_code == 5
        assert [e for e in st.tapes.book.history("FD-1") if e.barcode == "P00001L8"] == []
        assert st.state("FD-1").state is State.BAGGED
        assert not [p for p in mount.iterdir() if p.name.startswith(".FD-1")]


def test_enotconn_while_the_index_is_written_is_a_dead_tape(tmp_path: Path, monkeypatch):
    def sync(self) -> bool:
        raise OSError(errno.ENOTCONN, ENOTCONN)

    monkeypatch.setattr(held.HeldMount, "sync_index", sync)
    with bagged(tmp_path, ("FD-1",), False) as st:
        with pytest.raises(Aborted) as gone:
            st.tapes.write()
        assert gone.value.key == "stagefix.tape_dead_write"
        assert st.tapes.book.history("FD-1") == []


def test_enotconn_in_the_read_back_records_nothing(station_root: Path, monkeypatch):
    def check(*args: object) -> list[str]:
        raise dead_error()

    monkeypatch.setattr(readback, "check_copy", check)
    with Station(settings_in(station_root)) as st:
        before = list(st.tapes.book.history("FD-1"))
        with pytest.raises(Refused) as gone:
            st.tapes.verify(older_than=0)
        assert gone.value.key == "deadfix.verify_stopped"
        assert st.tapes.book.history("FD-1") == before  # nothing recorded failed


def test_is_dead_follows_the_chain():
    try:
        try:
            raise dead_error()
        except OSError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as outer:
        assert held.is_dead(outer)
    assert not held.is_dead(OSError(errno.EIO, "I/O error"))
    assert not held.is_dead(None)


# -- N2: a dead mount mid-retrieve: the next mounted copy is read -----------------------------

class _DyingRead:
    def __init__(self, inner) -> None:
        self.inner = inner

    def read(self, n: int = -1) -> bytes:
        raise dead_error()

    def __enter__(self) -> _DyingRead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.close()
        raise dead_error()  # the close fails too, as on the real mount


def test_enotconn_mid_retrieve_reads_the_next_copy(station_root: Path, tmp_path: Path,
                                                   monkeypatch):
    from workbench.station.retrieve import Retrieval, retrieval_lines
    real = builtins.open
    primary = str(station_root / "tape" / "P00001L8")

    def fake(file, mode="r", *args, **kwargs):
        fh = real(file, mode, *args, **kwargs)
        return _DyingRead(fh) if mode == "rb" and str(file).startswith(primary) else fh

    monkeypatch.setattr(tape_retrieve, "open", fake, raising=False)
    with Station(settings_in(station_root)) as st:
        rows = st.con.execute("SELECT COUNT(*) FROM tape_copies").fetchone()[0]
        done = Retrieval(st).retrieve("FD-1", tmp_path / "out")
        assert done.source is not None and done.source.barcode == "S00001L8"
        assert done.failed == []
        assert [(e.barcode, key) for e, key in done.gone] == [("P00001L8",
                                                               "stagefix.tape_dead")]
        words = " ".join(retrieval_lines(done))
        assert "LTFS process of tape P00001L8" in words and "ltfsck" in words
        assert st.con.execute("SELECT COUNT(*) FROM tape_copies").fetchone()[0] == rows + 1
        primary_rows = [e for e in st.tapes.book.history("FD-1") if e.barcode == "P00001L8"]
        assert "failed" not in [e.result for e in primary_rows]
    assert (tmp_path / "out" / "FD-1" / "bagit.txt").is_file()


# -- N5: Ctrl-C during a tar-layout write ---------------------------------------------------

def test_ctrl_c_in_a_tar_write_stops_it_and_the_next_bag_is_not_started(tmp_path: Path):
    with bagged(tmp_path, ("FD-1", "FD-2"), True) as st:
        cancel = threading.Event()
        seen: list[tuple[str, str]] = []

        def progress(p) -> None:
            seen.append((p.bag, p.phase))
            if p.phase == "write" and p.done > 0:
                cancel.set()  # after the tar's first member: the second is not written

        bags = st.tapes.current_bags(None)
        with pytest.raises(KeyboardInterrupt):
            stage.run_plan(st.settings, st.tapes.book, bags, progress, cancel)
        started = {b for b, _ in seen}
        assert len(started) == 1  # the next bag was never started
        for bag in bags:  # the one cut short: nothing recorded
            assert st.tapes.book.history(bag.name) == []
        mount = tmp_path / "tape" / "P00001L8"
        assert [p.name for p in mount.iterdir() if p.name.startswith(".FD")] == []


def test_ctrl_c_between_two_bags_starts_no_next_bag(tmp_path: Path):
    with bagged(tmp_path, ("FD-1", "FD-2"), True) as st:
        cancel = threading.Event()
        seen: list[str] = []

        def progress(p) -> None:
            seen.append(p.bag)
            if p.phase == "verify":
                cancel.set()  # while the first copy is read back

        bags = st.tapes.current_bags(None)
        with pytest.raises(KeyboardInterrupt):
            stage.run_plan(st.settings, st.tapes.book, bags, progress, cancel)
        assert len(set(seen)) == 1  # the next bag was never started
        first = seen[0]
        assert [e.result for e in st.tapes.book.history(first)] == \
            ["written", "verified"]  # the copy read back in full is kept and true
        assert [st.tapes.book.history(b.name) for b in bags if b.name != first] == [[]]


# -- N9: a dead mount mid-verify: the dead-mount words and the copies not read --------------

def test_a_dead_mount_mid_verify_says_ltfsck_and_the_copies_not_read(station_root: Path,
                                                                      monkeypatch):
    real = readback.check_copy

    def check(copy: Path, *args: object) -> list[str]:
        if "S00001L8" in str(copy):
            raise dead_error()  # stat still fine: only the read says it
        return real(copy, *args)

    monkeypatch.setattr(readback, "check_copy", check)
    with Station(settings_in(station_root)) as st:
        with pytest.raises(Refused) as gone:
            st.tapes.verify(older_than=0)
        words = gone.value.message("en")
        assert "LTFS process of tape S00001L8" in words and "ltfsck" in words
        assert "not read (S00001L8: 1)" in words
        assert "failed" not in [e.result for e in st.tapes.book.history("FD-1")]


# -- N10: unmount of a dead mount -------------------------------------------------------------

def test_unmount_of_a_dead_mount_says_the_process_ended(tmp_path: Path, monkeypatch):
    from tests.test_ltfs import Drive
    from workbench.station import cartridge
    from workbench.tape.ltfs import Ltfs
    playing = Drive(tmp_path / "shelf")
    monkeypatch.setattr(cartridge, "drive", lambda station: Ltfs(
        "/dev/nst0", "/dev/sg3", playing, which=lambda tool: f"/usr/bin/{tool}",
        ismount=lambda p: p in playing.mounted, running=lambda p: False))
    with Station(settings_in(tmp_path / "station")) as st:
        cartridge.format_cartridge(st, "primary", "LTO-8")
        monkeypatch.setattr(cartridge, "_mount_state", lambda ltfs, path: "dead")
        monkeypatch.setattr(cartridge, "newest_index", lambda *args: None)
        done = cartridge.unmount(st, "A00001L8")
        assert done.dead and done.index is None


def test_format_refuses_a_lower_case_barcode(tmp_path: Path, monkeypatch):
    from tests.test_ltfs import Drive
    from workbench.station import cartridge
    from workbench.tape.ltfs import Ltfs
    playing = Drive(tmp_path / "shelf")
    monkeypatch.setattr(cartridge, "drive", lambda station: Ltfs(
        "/dev/nst0", "/dev/sg3", playing, which=lambda tool: f"/usr/bin/{tool}",
        ismount=lambda p: p in playing.mounted, running=lambda p: False))
    with Station(settings_in(tmp_path / "station")) as st:
        with pytest.raises(BadInput) as refused:
            cartridge.format_cartridge(st, "primary", "LTO-8", "a00001l8")
        assert refused.value.key == "deadfix.barcode_case"
        assert "mkltfs" not in playing.ran


# -- N12, N13: labels -----------------------------------------------------------------------

def test_a_lower_case_barcode_is_refused(station_root: Path, tmp_path: Path):
    blank = tmp_path / "blank"
    blank.mkdir()
    with Station(settings_in(station_root)) as st:
        with pytest.raises(BadInput) as refused:
            st.tapes.label(blank, "p00001l8", "primary", "LTO-8", 50_000_000)
        assert refused.value.key == "deadfix.barcode_case"
        assert "P00001L8" in refused.value.message("en")
        assert not (blank / LABEL).exists()
        with pytest.raises(BadInput):  # a new one too: one sticker is one barcode
            st.tapes.label(blank, "p00009l8", "primary", "LTO-8", 50_000_000)
        assert not (blank / LABEL).exists()


def test_a_relabelled_cartridge_keeps_its_pool(station_root: Path):
    mount = station_root / "tape" / "P00001L8"
    (mount / LABEL).unlink()  # the label was lost; its own catalogue is still on it
    with Station(settings_in(station_root)) as st:
        with pytest.raises(Refused) as refused:
            st.tapes.label(mount, "P00001L8", "secondary", "LTO-8", 50_000_000)
        assert refused.value.key == "deadfix.pool_known"
        assert "--pool primary" in refused.value.message("en")
        assert not (mount / LABEL).exists()
        assert st.tapes.label(mount, "P00001L8", "primary", "LTO-8", 50_000_000).pool \
            == "primary"


def test_the_cli_refuses_a_lower_case_barcode(tmp_path: Path):
    root = tmp_path / "station"
    (root / "tape" / "X").mkdir(parents=True)
    run = cli(root, "tape", "label", str(root / "tape" / "X"), "--barcode", "pri001l8",
              "--pool", "primary")
    assert run.returncode == 2 and "PRI001L8" in run.stderr, run.stdout + run.stderr


# -- the real LTFS tools (file simulator) -----------------------------------------------------

LTFS_BIN = Path("/tmp/ltfs-inst/bin")


def _tools() -> str | None:
    """PATH with the LTFS tools, or None when they (or FUSE) are not here."""
    path = f"{LTFS_BIN}:{os.environ.get('PATH', '')}" if LTFS_BIN.is_dir() \
        else os.environ.get("PATH", "")
    found = all(shutil.which(t, path=path) for t in ("mkltfs", "ltfs", "ltfsck",
                                                       "fusermount"))
    return path if found and os.access("/dev/fuse", os.R_OK | os.W_OK) else None


REAL = _tools()
real_tools = pytest.mark.skipif(
    REAL is None, reason="needs LTFS 2.4 (file backend) at /tmp/ltfs-inst/bin or on PATH, "
    "and FUSE: CI does not build LTFS (tests/ltfs_outputs/README.md)")


def _kill_ltfs(mountpoint: Path) -> None:
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmd = (p / "cmdline").read_bytes()
            if str(mountpoint).encode() in cmd and cmd.split(b"\0")[0].endswith(b"ltfs"):
                os.kill(int(p.name), signal.SIGKILL)
                return
    raise AssertionError(f"no ltfs process for {mountpoint}")


@pytest.fixture
def ltfs_station(tmp_path: Path, monkeypatch):
    assert REAL is not None
    monkeypatch.setenv("PATH", REAL)
    root, shelf = tmp_path / "station", tmp_path / "shelf" / "A00001L8"
    root.mkdir()
    shelf.mkdir(parents=True)
    (root / "workbench.toml").write_text(
        f'[tape]\nheadroom_percent = 0\ndevice = "{shelf}"\nltfs_backend = "file"\n')
    mountpoint = root / "tape" / "A00001L8"
    try:
        assert cli(root, "tape", "format", "--pool", "primary", "--barcode",
                   "A00001L8").returncode == 0
        label_tape(root / "tape" / "S00001L8", "S00001L8", "secondary", "LTO-8",
                   50_000_000, GENERATIONS)
        settings = replace(settings_in(root), tape_device=str(shelf), tape_backend="file")
        yield root, settings, mountpoint
    finally:
        with contextlib.suppress(OSError):
            if os.path.ismount(mountpoint) or not mountpoint.exists():
                subprocess.run(["fusermount", "-u", str(mountpoint)], check=False,
                               timeout=60, capture_output=True)


@real_tools
def test_real_ltfs_killed_mid_write_records_nothing_and_says_ltfsck(ltfs_station):
    root, settings, mountpoint = ltfs_station
    with Station(settings) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1", review=True)
        st.accept("FD-1", stage=False)
        killed: list[bool] = []

        def progress(p) -> None:
            if p.barcode == "A00001L8" and p.phase == "write" and p.done > 0 and not killed:
                _kill_ltfs(mountpoint)
                killed.append(True)

        with pytest.raises(Aborted) as gone:
            st.tapes.write(progress=progress)
        assert killed and gone.value.key == "stagefix.tape_dead_write", gone.value.message()
        assert [e for e in st.tapes.book.history("FD-1") if e.barcode == "A00001L8"] == []
    run = cli(root, "tape", "unmount", "A00001L8")
    assert run.returncode == 3, run.stdout + run.stderr
    assert "had ended" in run.stdout and "ltfsck" in run.stdout


@real_tools
def test_real_ltfs_killed_mid_retrieve_reads_the_next_copy(ltfs_station, tmp_path: Path):
    _root, settings, mountpoint = ltfs_station
    with Station(settings) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1")
        assert st.state("FD-1").state is State.ON_TAPE
        from workbench.station.retrieve import Retrieval
        killed: list[bool] = []

        def progress(p) -> None:
            if p.barcode == "A00001L8" and p.done > 0 and not killed:
                _kill_ltfs(mountpoint)
                killed.append(True)

        rows = st.con.execute("SELECT COUNT(*) FROM tape_copies").fetchone()[0]
        done = Retrieval(st).retrieve("FD-1", tmp_path / "out", progress=progress)
        assert killed and done.source is not None and done.source.barcode == "S00001L8"
        assert [(e.barcode, key) for e, key in done.gone] == [("A00001L8",
                                                               "stagefix.tape_dead")]
        assert st.con.execute("SELECT COUNT(*) FROM tape_copies").fetchone()[0] == rows + 1
    assert (tmp_path / "out" / "FD-1" / "bagit.txt").is_file()


@real_tools
def test_real_ltfs_killed_mid_verify_says_ltfsck_and_records_nothing(ltfs_station):
    _root, settings, mountpoint = ltfs_station
    with Station(settings) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1")
        assert st.state("FD-1").state is State.ON_TAPE
        before = list(st.tapes.book.history("FD-1"))
        killed: list[bool] = []

        def progress(p) -> None:
            if p.barcode == "A00001L8" and not killed:
                _kill_ltfs(mountpoint)
                killed.append(True)

        with pytest.raises(Refused) as gone:
            st.tapes.verify(older_than=0, progress=progress)
        words = gone.value.message("en")
        assert killed and "LTFS process of tape A00001L8" in words and "ltfsck" in words
        assert st.tapes.book.history("FD-1") == before  # nothing recorded


def test_ctrl_c_in_an_ingests_tar_write_stops_it(tmp_path: Path):
    """The same writer in ingest's tape step: the tar copy is cut short and removed, the
    secondary is never started, and ingest says "staging" (its words: the copy being
    written was removed; `tape write` writes what is missing)."""
    from tests.test_ingest import master_folder
    from workbench.station.ingest import ingest
    root = tmp_path / "station"
    mount_tapes(root)
    source = tmp_path / "disc"
    master_folder(source)
    with Station(replace(settings_in(root), tar_threshold=1)) as st:
        def progress(step: str, p: object) -> None:
            if step == "tape" and getattr(p, "phase", "") == "write" and \
                    getattr(p, "done", 0) > 0:
                st.cancel.set()

        st.progress = progress
        done = ingest(st, source, "C-9")
        assert done.cancelled == "staging" and done.bag is not None
        assert done.copies == [] and st.tapes.book.history(done.bag.name) == []
        assert st.state("C-9").state is State.BAGGED
    assert not [p for p in (root / "tape").rglob("*C-9*")]  # no partial, no copy
