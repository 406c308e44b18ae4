"""Real LTFS cartridges: outputs of mkltfs, ltfs and fusermount recorded from LTFS 2.4.8.4
on its file-backed tape simulator, parsed (tests/ltfs_outputs/, see its README; the
sg_read_attr outputs are the real tool decoding built responses: ltfs_outputs/mam), and
the station's format / mount / unmount against a drive played from them; a mount that
vanishes mid-run; the capacity forecast."""

from __future__ import annotations

import math
import shlex
import shutil
from pathlib import Path

import pytest

from tests.test_station import settings_in
from tests.test_tape_retrieve import cli
from workbench.errors import BadInput, Refused
from workbench.station import Station, cartridge
from workbench.station.forecast import forecast
from workbench.station.ingest import ingest
from workbench.tape.ltfs import (
    Completed,
    Ltfs,
    captured,
    errors_of,
    messages,
    newest_index,
    parse_mam,
    tape_serial,
)
from workbench.tape.tapes import LABEL, load_generations, read_tape

OUT = Path(__file__).parent / "ltfs_outputs"
RUN = "/tmp/ltfs-rec2/run"  # where record.sh ran: the recorded command lines name it
SHELF = f"{RUN}/shelf"


def recorded(name: str) -> str:
    return (OUT / name).read_text()


def played(name: str) -> Completed:
    """A recorded run as run_tool returns it: exit code, stdout then stderr."""
    return Completed(int(recorded(f"{name}.rc")),
                     recorded(f"{name}.stdout") + recorded(f"{name}.stderr"))


class Recorded:
    """Answers each command with one recorded run, keeping the argv it was given."""

    def __init__(self, *names: str) -> None:
        self.names: list[str] = list(names)
        self.ran: list[list[str]] = []

    def __call__(self, argv: list[str], timeout: float) -> Completed:
        self.ran.append(argv)
        return played(self.names.pop(0))


def as_recorded(argv: list[str], tmp_path: Path) -> list[str]:
    return [a.replace(str(tmp_path), RUN) for a in argv]


def test_mkltfs_recorded_formats_and_refuses_a_formatted_cartridge(tmp_path):
    run = Recorded("mkltfs_ok", "mkltfs_formatted", "mkltfs_write_protected")
    ltfs = Ltfs(f"{SHELF}/A00001L8", runner=run, backend="file")
    ok = ltfs.format("A00001L8", "A00001L8")
    assert ok.ok and ok.uuid == "b1c2b50e-41de-4182-a724-8e7f575ea955"
    assert f"<volumeuuid>{ok.uuid}<" in recorded("A00001.schema")  # the same cartridge
    assert run.ran[0] == shlex.split(recorded("mkltfs_ok.cmd"))  # the argv recorded
    assert not any(a in ("-f", "--force") for a in run.ran[0])  # never forced
    refused = ltfs.format("A00001L8", "A00001L8")
    assert not refused.ok and refused.detail == "already_formatted"
    assert played("mkltfs_formatted").returncode == 16
    assert [m.number for m in messages(recorded("mkltfs_formatted.stderr"))][-3:] == [
        15047, 15048, 15023]
    protected = ltfs.format("A00001L8", "A00001L8")  # recorded with --force: refused too
    assert not protected.ok and "LTFS11095E" in protected.detail
    assert "LTFS30061E" not in protected.detail  # said on every load: not the cause
    assert "mkltfs version 2.4.8.4" in recorded("mkltfs_version.stderr") + recorded(
        "mkltfs_version.stdout")
    assert tape_serial("a-1") == "A10000"


def test_ltfs_mount_recorded_read_only_causes_and_failures(tmp_path):
    mountpoint, capture = tmp_path / "tape" / "A00001L8", tmp_path / "cap" / \
        ".capture-A00001L8"
    run = Recorded("ltfs_mount_ok", "ltfs_mount_write_protected", "ltfs_mount_index_full",
                   "ltfs_mount_unformatted", "ltfs_mount_no_cartridge",
                   "ltfs_mount_capture_index_dir")
    mounted: set[Path] = {mountpoint}
    ltfs = Ltfs(f"{SHELF}/A00001L8", runner=run, backend="file",
                ismount=lambda p: p in mounted)
    ok = ltfs.mount(mountpoint, capture)
    assert ok.ok and ok.read_only == "" and ok.barcode == "A00001"
    assert as_recorded(run.ran[0], tmp_path) == shlex.split(recorded("ltfs_mount_ok.cmd"))
    protected = ltfs.mount(mountpoint, capture)
    assert protected.ok and protected.read_only == "write_protected"
    assert "Read-only file system" in recorded("write_protected_mkdir.txt")
    full = ltfs.mount(mountpoint, capture)
    assert full.ok and full.read_only == "index_full"
    unformatted = ltfs.mount(mountpoint, capture)
    assert not unformatted.ok
    assert unformatted.detail == ("LTFS17168E Cannot read volume: medium is not "
                                  "partitioned.; LTFS14013E Cannot mount the volume.")
    missing = ltfs.mount(mountpoint, capture)
    assert not missing.ok and "LTFS10004E" in missing.detail
    # capture_index=DIR (how this wrapper called ltfs before): 14111I, exit 0, yet FUSE
    # refused the option and nothing is mounted
    assert played("ltfs_mount_capture_index_dir").returncode == 0
    mounted.clear()
    wrong = ltfs.mount(mountpoint, capture)
    assert not wrong.ok and "unknown option" in wrong.detail
    assert "30061E" not in errors_of(recorded("ltfs_mount_ok.stderr"))  # before the load


def test_unmount_recorded_waits_for_ltfs_and_keeps_the_captured_index(tmp_path):
    mountpoint = tmp_path / "tape" / "A00001L8"
    capture = tmp_path / "cap"
    capture.mkdir()
    polls: list[Path] = []

    def running(p: Path) -> bool:  # ltfs writes its index after fusermount returned
        polls.append(p)
        if len(polls) < 3:
            return True
        shutil.copy(OUT / "A00001.schema", capture / "A00001.schema")
        return False

    run = Recorded("fusermount_ok", "fusermount_not_mounted")
    ltfs = Ltfs(f"{SHELF}/A00001L8", runner=run, which=lambda t: None, running=running)
    assert ltfs.unmount(mountpoint).ok and len(polls) == 3
    assert as_recorded(run.ran[0], tmp_path) == shlex.split(recorded("fusermount_ok.cmd"))
    index = newest_index(capture)
    assert index is not None and index.name == "A00001.schema"
    assert "<name>a.txt</name>" in index.read_text()  # the file written while mounted
    assert newest_index(capture, captured(capture)) is None  # none since: an old one
    before = captured(capture)
    (capture / "A00001.schema").write_text("<ltfsindex/>")  # ltfs rewrites the same file
    assert newest_index(capture, before) == index
    gone = ltfs.unmount(mountpoint)
    assert not gone.ok and "failed to unmount" in gone.detail


def test_mam_reads_are_parsed():
    mam = parse_mam(recorded("sg_read_attr_lto8.txt"))
    assert (mam.barcode, mam.serial, mam.generation, mam.medium_type) == (
        "A00001L8", "2CX123A456", "LTO-8", "data")
    assert parse_mam(recorded("sg_read_attr_cleaning.txt")).medium_type == "cleaning"
    assert parse_mam(recorded("sg_read_attr_lto7.txt")).generation == "LTO-7"


class Drive:
    """A tape drive played from the recorded outputs: a cartridge is a folder that the
    mount moves under the tape folder and the unmount moves back (capturing the index
    recorded)."""

    def __init__(self, shelf: Path, mam: str = "sg_read_attr_lto8.txt",
                 mkltfs: str = "mkltfs_ok", mount: str = "ltfs_mount_ok") -> None:
        self.shelf, self.mam, self.mkltfs, self.mount = shelf, mam, mkltfs, mount
        self.ran: list[str] = []
        self.capture: Path | None = None
        self.mounted: set[Path] = set()

    def cartridge(self) -> Path:
        return self.shelf / parse_mam(recorded(self.mam)).barcode

    def __call__(self, argv: list[str], timeout: float) -> Completed:
        self.ran.append(argv[0])
        if argv[0] == "sg_read_attr":
            return Completed(0, recorded(self.mam))
        if argv[0] == "mkltfs":
            out = played(self.mkltfs)
            if out.returncode == 0:
                self.cartridge().mkdir(parents=True, exist_ok=True)
            return out
        if argv[0] == "ltfs":
            out = played(self.mount)
            mountpoint = Path(argv[-1])
            self.capture = Path(next(a for a in argv if a.startswith("work_directory="))
                                .split("=", 1)[1])
            assert "capture_index" in argv
            if out.returncode == 0:
                mountpoint.rmdir()
                shutil.move(self.cartridge(), mountpoint)
                self.mounted.add(mountpoint)
            return out
        if argv[0].startswith("fusermount"):
            mountpoint = Path(argv[-1])
            assert self.capture is not None
            shutil.copy(OUT / "A00001.schema", self.capture / "A00001.schema")
            shutil.move(mountpoint, self.cartridge())
            self.mounted.discard(mountpoint)
            return played("fusermount_ok")
        raise AssertionError(argv)


@pytest.fixture
def drive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Drive:
    playing = Drive(tmp_path / "shelf")
    monkeypatch.setattr(cartridge, "drive", lambda station: Ltfs(
        "/dev/nst0", "/dev/sg3", playing, which=lambda tool: f"/usr/bin/{tool}",
        ismount=lambda p: p in playing.mounted, running=lambda p: False))
    return playing


def test_format_mount_unmount_with_the_index_kept(tmp_path, drive):
    settings = settings_in(tmp_path / "station")
    with Station(settings) as st:
        done = cartridge.format_cartridge(st, "primary", "LTO-8")
        assert done.tape.barcode == "A00001L8"  # from the cartridge memory
        assert read_tape(done.tape.mount, load_generations(settings.paths.profiles)
                         ).pool == "primary"
        assert [t.barcode for t in st.tapes.mounted()] == ["A00001L8"]
        kept = cartridge.unmount_cartridge(st, "A00001L8")
        assert kept is not None and kept.parent == settings.paths.logs / "ltfs-index"
        assert kept.name.startswith("A00001L8-") and "ltfsindex" in kept.read_text()
        assert st.tapes.mounted() == []
        again = cartridge.mount_cartridge(st)
        assert again.tape.pool == "primary" and again.read_only == ""
        with pytest.raises(Refused, match="barcode A00001L8, not B9"):
            cartridge.mount_cartridge(st, "B9")
        source = tmp_path / "disc"
        source.mkdir()
        (source / "a.txt").write_text("a")
        assert [c.barcode for c in ingest(st, source, "C-1").copies] == ["A00001L8"]
        cartridge.unmount_cartridge(st, "A00001L8")
        with pytest.raises(Refused, match="holds 1 copies"):  # the ledger knows it
            cartridge.format_cartridge(st, "primary", "LTO-8")
    assert drive.ran.count("mkltfs") == 1


def test_format_writes_the_index_once_the_label_is_on_the_cartridge(tmp_path, drive,
                                                                    monkeypatch):
    """Stations mount with sync_type=unmount: without an index sync after the label, an
    ltfs that dies before the first copy leaves a cartridge with no workbench label."""
    from workbench.tape import held
    from workbench.tape.tapes import LABEL
    synced: list[bool] = []
    monkeypatch.setattr(held.HeldMount, "sync_index",
                        lambda self: synced.append((self.tape.mount / LABEL).is_file()) or True)
    with Station(settings_in(tmp_path / "station")) as st:
        cartridge.format_cartridge(st, "primary", "LTO-8")
    assert synced == [True]

def test_format_refuses_a_cartridge_holding_data(tmp_path, drive):
    drive.mkltfs = "mkltfs_formatted"
    with Station(settings_in(tmp_path / "station")) as st, \
            pytest.raises(Refused, match="formatted already") as refused:
        cartridge.format_cartridge(st, "primary", "LTO-8")
    assert refused.value.exit_code == 6
    assert not (tmp_path / "station" / "tape" / "A00001L8").exists()


def test_a_cleaning_or_wrong_generation_cartridge_is_never_formatted(tmp_path, drive):
    with Station(settings_in(tmp_path / "station")) as st:
        drive.mam = "sg_read_attr_cleaning.txt"
        with pytest.raises(Refused, match="cleaning cartridge"):
            cartridge.format_cartridge(st, "primary", "LTO-8")
        drive.mam = "sg_read_attr_lto7.txt"
        with pytest.raises(Refused, match="LTO-7 cartridge, but LTO-8"):
            cartridge.format_cartridge(st, "primary", "LTO-8")
        with pytest.raises(BadInput):
            cartridge.format_cartridge(st, "tertiary", "LTO-7")
    assert "mkltfs" not in drive.ran


def test_a_cartridge_of_another_pool_is_unmounted_again(tmp_path, drive):
    cart = drive.cartridge()
    cart.mkdir(parents=True)
    (cart / LABEL).write_text('barcode = "A00001L8"\npool = "offsite"\ngeneration = "LTO-8"\n'
                              "capacity = 0\nfull = false\n")
    with Station(settings_in(tmp_path / "station")) as st:
        with pytest.raises(Refused, match="pool offsite"):
            cartridge.mount_cartridge(st)
        assert st.tapes.mounted() == []
    assert (cart / LABEL).is_file()  # back on the shelf, untouched


def test_an_index_partition_that_is_full_mounts_read_only_and_is_said(tmp_path, drive):
    with Station(settings_in(tmp_path / "station")) as st:
        cartridge.format_cartridge(st, "primary", "LTO-8")
        cartridge.unmount_cartridge(st, "A00001L8")
        drive.mount = "ltfs_mount_index_full"
        done = cartridge.mount_cartridge(st)
        assert done.read_only == "index_full" and done.tape.full
        assert done.tape.room(0.0) == 0


def test_without_the_tools_folders_stand_in(tmp_path):
    run = cli(tmp_path, "tape", "format", "--pool", "primary")
    assert run.returncode == 6 and "tape label" in run.stderr


def test_a_tape_that_vanishes_mid_verify_records_nothing_against_its_copies(tmp_path):
    root = tmp_path / "station"
    from tests.test_station import mount_tapes
    mount_tapes(root)
    source = tmp_path / "disc"
    source.mkdir()
    (source / "a.txt").write_text("a")
    with Station(settings_in(root)) as st:
        ingest(st, source, "V-1")
        before = st.con.execute("SELECT COUNT(*) FROM tape_copies").fetchone()[0]
        def pulled(progress: object) -> None:  # while P00001L8 is read, S00001L8 goes
            (root / "tape" / "S00001L8" / LABEL).unlink(missing_ok=True)

        with pytest.raises(Refused, match="S00001L8 is no longer mounted"):
            st.tapes.verify(older_than=0, progress=pulled)
        # P00001L8's copy was checked (one row); nothing was said of S00001L8's
        assert st.con.execute("SELECT COUNT(*) FROM tape_copies").fetchone()[0] == before + 1
        assert st.state("V-1").missing_pools == ()


def test_forecast_counts_cartridges_per_pool(tmp_path):
    root = tmp_path / "station"
    root.mkdir()
    source = tmp_path / "disc"
    source.mkdir()
    (source / "master.tif").write_bytes(b"x" * 300_000)
    with Station(settings_in(root)) as st:
        ingest(st, source, "DONE-1")  # bagged here: the average of its media type
        queue = [("DONE-1", "ingest-folder"), ("Q-1", "ingest-folder"),
                 ("Q-2", "fd35-2hd"), ("Q-2", "fd35-2hd"), ("Q-3", "no-such-type")]
        f = forecast(st, queue, ["15000:cd"], "LTO-8")
    media = {m.media: m for m in f.media}
    assert media["ingest-folder"].carriers == 1  # DONE-1 is bagged: not backlog
    assert media["ingest-folder"].average == 300_000
    assert media["fd35-2hd"].carriers == 1 and media["fd35-2hd"].basis == "profile"
    assert media["cd"].carriers == 15000 and media["cd"].average == 900_000_000
    assert f.unknown == ["no-such-type"] and f.waiting_bags == 1
    for pool in f.pools:
        assert pool.room == 0
        assert pool.cartridges == math.ceil(pool.needed / pool.per_cartridge) == 2
    assert [p.pool for p in f.pools] == ["primary", "secondary"]
    run = cli(root, "report", "--plan", "15000:cd")
    assert run.returncode == 0 and "Tape forecast" in run.stdout
    assert "15000 carriers to do" in run.stdout


def test_an_ltfs_index_partition_nearly_full_leaves_no_room(tmp_path, monkeypatch):
    import os

    from workbench.tape.tapes import label_tape
    tape = label_tape(tmp_path / "T1", "T1", "primary", "LTO-8", 0,
                      load_generations(Path(__file__).parent.parent / "profiles"))
    space = {"Index": b"30", "Data": b"2000"}

    def getxattr(path: object, name: str) -> bytes:
        for part, value in space.items():
            if name == f"user.ltfs.media{part}PartitionAvailableSpace":
                return value
        raise OSError(61, "no such attribute")

    monkeypatch.setattr(os, "getxattr", getxattr)
    assert tape.room(0.0) == 0  # 30 MiB of index left: the index would not fit
    space["Index"] = b"5000"
    assert tape.room(0.0) == 2000 << 20  # the data partition's own free space
