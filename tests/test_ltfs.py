"""Real LTFS cartridges: recorded outputs of mkltfs, ltfs and sg_read_attr parsed
(tests/ltfs_outputs/, reconstructed from the tools' message catalogues: see its README),
and the station's format / mount / unmount against a drive played from them; a mount
that vanishes mid-run; the capacity forecast."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from tests.test_station import settings_in
from tests.test_tape_retrieve import cli
from workbench.errors import BadInput, Refused
from workbench.station import Station, cartridge
from workbench.station.forecast import forecast
from workbench.station.ingest import ingest
from workbench.tape.ltfs import Completed, Ltfs, messages, parse_mam, tape_serial
from workbench.tape.tapes import LABEL, load_generations, read_tape

OUT = Path(__file__).parent / "ltfs_outputs"


def recorded(name: str) -> str:
    return (OUT / name).read_text()


def test_recorded_outputs_are_read_by_their_message_ids(tmp_path):
    ran: list[list[str]] = []

    def play(name: str, rc: int = 0):
        def runner(argv: list[str], timeout: float) -> Completed:
            ran.append(argv)
            return Completed(rc, recorded(name))
        return runner

    ok = Ltfs("/dev/sg3", runner=play("mkltfs_ok.txt")).format("A00001L8", "A00001L8")
    assert ok.ok and ok.uuid == "8e3b0f52-1c6d-4a8e-9f10-2d5c7b9e4a01"
    assert not any(a in ("-f", "--force") for a in ran[-1])  # never forced
    assert "--tape-serial=A00001" in ran[-1]
    refused = Ltfs("/dev/sg3", runner=play("mkltfs_formatted.txt", 1)).format("A00002L8", "x")
    assert not refused.ok and refused.detail == "already_formatted"
    mounted = Ltfs("/dev/sg3", runner=play("ltfs_mount_ok.txt")).mount(tmp_path / "m",
                                                                       tmp_path / "c")
    assert mounted.ok and mounted.read_only == ""
    full = Ltfs("/dev/sg3", runner=play("ltfs_mount_index_full.txt")).mount(tmp_path / "m",
                                                                           tmp_path / "c")
    assert full.ok and full.read_only == "index_full"
    failed = Ltfs("/dev/sg3", runner=play("ltfs_mount_failed.txt", 1)).mount(tmp_path / "m",
                                                                            tmp_path / "c")
    assert not failed.ok and "LTFS11006E" in failed.detail and "LTFS14013E" in failed.detail
    assert [m.number for m in messages(recorded("mkltfs_formatted.txt"))][-3:] == [
        15047, 15048, 15023]
    mam = parse_mam(recorded("sg_read_attr_lto8.txt"))
    assert (mam.barcode, mam.serial, mam.generation, mam.medium_type) == (
        "A00001L8", "2CX123A456", "LTO-8", "data")
    assert parse_mam(recorded("sg_read_attr_cleaning.txt")).medium_type == "cleaning"
    assert parse_mam(recorded("sg_read_attr_lto7.txt")).generation == "LTO-7"
    assert tape_serial("a-1") == "A10000"


class Drive:
    """A tape drive played from the recorded outputs: a cartridge is a folder that the
    mount moves under the tape folder and the unmount moves back (capturing an index)."""

    def __init__(self, shelf: Path, mam: str = "sg_read_attr_lto8.txt",
                 mkltfs: str = "mkltfs_ok.txt", mount: str = "ltfs_mount_ok.txt") -> None:
        self.shelf, self.mam, self.mkltfs, self.mount = shelf, mam, mkltfs, mount
        self.ran: list[str] = []
        self.capture: Path | None = None

    def cartridge(self) -> Path:
        return self.shelf / parse_mam(recorded(self.mam)).barcode

    def __call__(self, argv: list[str], timeout: float) -> Completed:
        self.ran.append(argv[0])
        if argv[0] == "sg_read_attr":
            return Completed(0, recorded(self.mam))
        if argv[0] == "mkltfs":
            out = recorded(self.mkltfs)
            ok = "LTFS15024I" in out
            if ok:
                self.cartridge().mkdir(parents=True, exist_ok=True)
            return Completed(0 if ok else 1, out)
        if argv[0] == "ltfs":
            out = recorded(self.mount)
            mountpoint = Path(argv[-1])
            self.capture = Path(next(a for a in argv if a.startswith("capture_index="))
                                .split("=", 1)[1])
            if "LTFS14111I" in out:
                mountpoint.rmdir()
                shutil.move(self.cartridge(), mountpoint)
            return Completed(0 if "LTFS14111I" in out else 1, out)
        if argv[0].startswith("fusermount"):
            mountpoint = Path(argv[-1])
            assert self.capture is not None
            (self.capture / "8e3b0f52-1c6d-4a8e-9f10-2d5c7b9e4a01-3-b.xml").write_text(
                "<ltfsindex version='2.4.0'/>")
            shutil.move(mountpoint, self.cartridge())
            return Completed(0, "")
        raise AssertionError(argv)


@pytest.fixture
def drive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Drive:
    played = Drive(tmp_path / "shelf")
    monkeypatch.setattr(cartridge, "drive", lambda station: Ltfs(
        "/dev/nst0", "/dev/sg3", played, which=lambda tool: f"/usr/bin/{tool}"))
    return played


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


def test_format_refuses_a_cartridge_holding_data(tmp_path, drive):
    drive.mkltfs = "mkltfs_formatted.txt"
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
        drive.mount = "ltfs_mount_index_full.txt"
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
