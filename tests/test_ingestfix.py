"""Tryout 16b (issue 16) ingest fixes: reading again after a mismatch (--again), a cancel
while bagging or staging, BLKROSET noted as held (a killed ingest's flag taken back), an
empty source refused, common checksum-list names and Windows drive-letter paths, no list
never read as verified, payload names from an ISO read with cp932, the virus-scan
records and `validate --profile` of an ingest bag."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.test_ingest import master_folder
from tests.test_station import mount_tapes, settings_in
from tests.test_tape_retrieve import cli
from workbench.errors import Refused
from workbench.package.bags import check_bag, read_manifest
from workbench.station import State, Station
from workbench.station.ingest import ingest

PROJECT = Path(__file__).resolve().parents[1]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rotted(source: Path) -> Path:
    master_folder(source)
    (source / "page002.tif").write_bytes(b"II*\0" * 2999 + b"II*\1")  # one bit rotted
    return source


# -- E3: the other copy of the disc ----------------------------------------------------

def test_again_reads_the_other_copy_and_keeps_the_earlier_report(tmp_path: Path):
    root = tmp_path / "station"
    first = rotted(tmp_path / "copy1")
    second = tmp_path / "copy2"
    master_folder(second)  # the other copy of the disc: every file as listed
    with Station(settings_in(root)) as st:
        assert ingest(st, first, "D-1").waiting == "mismatch"
        with pytest.raises(Refused) as refused:  # another path: said how, nothing done
            ingest(st, second, "D-1")
        assert refused.value.key == "ingestfix.other_source"
        assert "--again" in refused.value.message("en")
        done = ingest(st, second, "D-1", again=True)
        assert done.waiting == "" and done.report.outcome == "success"
        assert done.bag is not None and check_bag(done.bag) == []
        assert read_manifest(done.bag / "manifest-sha256.txt")["data/page002.tif"] == \
            sha256((second / "page002.tif").read_bytes())
        attempts = st.con.execute("SELECT DISTINCT attempt FROM attempts WHERE item_id = "
                                  "'D-1'").fetchall()
        assert len(attempts) == 2  # a new attempt; the first is kept
    job = root / "staging" / "D-1"
    kept = list(job.glob("ingest-*.json"))
    assert len(kept) == 1
    old = json.loads(kept[0].read_text())
    assert [f["path"] for f in old["files"] if f["status"] == "mismatch"] == ["page002.tif"]


def test_again_on_the_same_path_reads_the_source_again(tmp_path: Path):
    source = rotted(tmp_path / "drive")
    with Station(settings_in(tmp_path / "station")) as st:
        assert ingest(st, source, "D-2").waiting == "mismatch"
        master_folder(source)  # the other copy is now in the same drive
        assert ingest(st, source, "D-2").waiting == "mismatch"  # without --again: waits
        done = ingest(st, source, "D-2", again=True)
    assert done.report.outcome == "success" and done.bag is not None


def test_the_mismatch_message_names_the_way_to_read_again(tmp_path: Path):
    root = tmp_path / "station"
    root.mkdir()
    source = rotted(tmp_path / "disc")
    run = cli(root, "ingest", str(source), "--item", "D-3")
    assert run.returncode == 3, run.stderr
    assert "--again" in run.stderr and "--accept-mismatch" in run.stderr
    master_folder(source)
    run = cli(root, "ingest", str(source), "--item", "D-3", "--again")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "DIFFERS" not in run.stdout and (root / "bags" / "D-3").is_dir()


# -- E4: a cancel reaches bagging and staging -------------------------------------------

def test_a_cancel_after_the_copy_bags_nothing_and_the_rerun_bags_without_reading(
        tmp_path: Path, monkeypatch):
    import workbench.station.ingest as station_ingest
    source = tmp_path / "disc"
    master_folder(source)
    real = station_ingest.provenance
    with Station(settings_in(tmp_path / "station")) as st:
        def stop(*args: Any) -> Any:
            st.cancel.set()  # as Ctrl-C just after the last file was copied
            return real(*args)
        monkeypatch.setattr(station_ingest, "provenance", stop)
        done = ingest(st, source, "C-1")
        assert done.cancelled == "copied" and done.bag is None
        assert st.state("C-1").state is State.IMAGED
        assert not list((tmp_path / "station" / "bags").glob("*C-1*"))
        monkeypatch.setattr(station_ingest, "provenance", real)
        st.cancel.clear()
        shutil.rmtree(source)  # the rerun bags the checked copies: no read
        done = ingest(st, source, "C-1")
    assert done.bag is not None and check_bag(done.bag) == []


def test_a_cancel_while_bagging_removes_the_partial_bag(tmp_path: Path, monkeypatch):
    import workbench.station.ingest as station_ingest
    source = tmp_path / "disc"
    master_folder(source)
    real = station_ingest.bag_ingest
    with Station(settings_in(tmp_path / "station")) as st:
        def stop(*args: Any) -> Any:
            st.cancel.set()
            return real(*args)
        monkeypatch.setattr(station_ingest, "bag_ingest", stop)
        done = ingest(st, source, "C-2")
        assert done.cancelled == "copied" and done.bag is None
        assert list((tmp_path / "station" / "bags").iterdir()) == []  # no partial
        assert st.state("C-2").state is State.IMAGED


def test_a_cancel_after_bagging_writes_nothing_to_tape(tmp_path: Path, monkeypatch):
    import workbench.station.ingest as station_ingest
    root = tmp_path / "station"
    mount_tapes(root)
    source = tmp_path / "disc"
    master_folder(source)
    real = station_ingest.bag_ingest
    with Station(settings_in(root)) as st:
        def stop(*args: Any) -> Any:
            bag = real(*args)
            st.cancel.set()
            return bag
        monkeypatch.setattr(station_ingest, "bag_ingest", stop)
        done = ingest(st, source, "C-3")
        assert done.cancelled == "bagged" and done.bag is not None
        assert done.copies == [] and st.state("C-3").state is State.BAGGED
    assert not [p for p in (root / "tape").rglob("*C-3*")]


def test_a_cancel_during_the_tape_write_stops_it(tmp_path: Path, monkeypatch):
    from workbench.tape import stage
    root = tmp_path / "station"
    mount_tapes(root)
    source = tmp_path / "disc"
    master_folder(source)
    real = stage.write_copy
    with Station(settings_in(root)) as st:
        def stop(*args: Any, **kw: Any) -> Any:
            st.cancel.set()  # the writer meets it at its first block
            return real(*args, **kw)
        monkeypatch.setattr(stage, "write_copy", stop)
        done = ingest(st, source, "C-4")
        assert done.cancelled == "staging" and done.bag is not None
        assert st.state("C-4").state is State.BAGGED
    assert not [p for p in (root / "tape").rglob("*C-4*")]  # the partial copy went


def test_the_cli_says_what_a_cancel_stopped_and_exits_cancelled(tmp_path: Path, monkeypatch,
                                                                 capsys):
    import signal

    import workbench.station.ingest as station_ingest
    from workbench import cli_ingest
    from workbench.cli import build_parser
    root = tmp_path / "station"
    mount_tapes(root)
    source = tmp_path / "disc"
    master_folder(source)
    real = station_ingest.bag_ingest

    def ctrl_c(*args: Any) -> Any:
        bag = real(*args)
        os.kill(os.getpid(), signal.SIGINT)  # the station's handler: a cancel
        return bag
    monkeypatch.setattr(station_ingest, "bag_ingest", ctrl_c)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        args = build_parser().parse_args(["ingest", str(source), "--item", "C-5"])
        code = cli_ingest.cmd_ingest(args, settings_in(root))
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
    err = capsys.readouterr().err
    assert code == 5
    assert "nothing is bagged" not in err and "Stopped after bagging C-5" in err
    assert "nothing was written to tape" in err


# -- E5: BLKROSET noted as held ---------------------------------------------------------

KILLED = """
import os, sys
from pathlib import Path
from tests.test_station import settings_in
from workbench.imaging import readonly
from workbench.ingest import guard
import workbench.station.ingest as si
from workbench.station import Station

def guard_fd(fd, path, rdev, policy, left=False, before_set=None):
    before_set()
    return readonly.Protection(policy, True, False, True, True)

readonly.guard_fd = guard_fd
guard.is_block = lambda mode: True
si.copy_files = lambda *a, **k: os._exit(9)  # SIGKILL while the files are read
with Station(settings_in(Path(sys.argv[1]))) as st:
    si.ingest(st, Path(sys.argv[2]), "RO-1")
"""


def test_a_killed_ingest_leaves_its_flag_noted_and_the_rerun_takes_it_back(
        tmp_path: Path, monkeypatch):
    """A file stands in for the device (BLKROSET needs a block device and root); the
    killed run is a real process ended without cleanup."""
    from tests.test_virus_scan import fat_floppy
    from workbench.imaging import readonly, readonly_left
    from workbench.ingest import guard
    root = tmp_path / "station"
    img = fat_floppy(tmp_path)
    run = subprocess.run([sys.executable, "-c", KILLED, str(root), str(img)], cwd=PROJECT,
                         env={**os.environ, "PYTHONPATH": str(PROJECT)}, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 9, run.stderr
    held = json.loads((root / "logs" / "readonly-held.json").read_text())
    assert [e["item"] for e in held] == ["RO-1"]
    assert held[0]["device"] == str(img.resolve())
    killed = json.loads((root / "staging" / "RO-1" / "job.json").read_text())
    assert killed["runs"][-1]["protection"]["set_by_workbench"] is True
    seen: list[bool] = []

    def guard_fd(fd: int, path: str, rdev: int, policy: str, left: bool = False,
                 before_set: object = None) -> readonly.Protection:
        seen.append(left)  # the flag found set is the killed run's
        return readonly.Protection(policy, True, True, left, True, taken_back=left)

    def release_fd(fd: int, prot: readonly.Protection) -> None:
        prot.after = "restored"

    monkeypatch.setattr(readonly, "guard_fd", guard_fd)
    monkeypatch.setattr(readonly, "release_fd", release_fd)
    monkeypatch.setattr(guard, "is_block", lambda mode: True)
    with Station(settings_in(root)) as st:
        done = ingest(st, img, "RO-1")
    assert seen == [True] and done.bag is not None
    job = json.loads((root / "staging" / "RO-1" / "job.json").read_text())
    assert len(job["runs"]) == 2  # the killed run's record is kept
    assert job["runs"][0]["protection"]["set_by_workbench"] is True
    assert job["runs"][-1]["protection"]["taken_back"] is True
    assert job["runs"][-1]["protection"]["after"] == "restored"
    assert readonly_left._read(readonly_left.held_path(settings_in(root))) == []


# -- E12: an empty source ---------------------------------------------------------------

@pytest.mark.parametrize("kind", ["folder", "iso"])
def test_an_empty_source_is_refused_never_success(tmp_path: Path, kind: str):
    source = tmp_path / "empty"
    source.mkdir()
    if kind == "iso":
        tool = shutil.which("genisoimage")  # xorriso writes no image of an empty tree
        if tool is None:
            pytest.skip("needs genisoimage")
        iso = tmp_path / "empty.iso"
        subprocess.run([tool, "-quiet", "-R", "-o", str(iso), str(source)], check=True,
                       capture_output=True)
        source = iso
    root = tmp_path / "station"
    with Station(settings_in(root)) as st:
        with pytest.raises(Refused) as refused:
            ingest(st, source, "E-1")
        assert refused.value.key == "ingestfix.empty_source"
        assert st.state("E-1").state is State.NEW
    assert not (root / "bags" / "E-1").exists()
    (root / "workbench.toml").write_text("[tape]\nheadroom_percent = 0\n")
    assert not (root / "staging" / "E-1").exists()
    run = cli(root, "ingest", str(source), "--item", "E-2")
    assert run.returncode == 6 and "holds no files" in run.stderr, run.stderr


# -- E15: list names, drive letters, no list --------------------------------------------

def test_common_list_names_are_read_and_agree_with_sha256sum(tmp_path: Path):
    source = tmp_path / "disc"
    files = master_folder(source)
    (source / "SHA256SUMS").rename(source / "SHA256SUMS.txt")
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS.txt"], cwd=source,
                           capture_output=True)
    assert check.returncode == 0  # the independent tool agrees the list is right
    (source / "md5").mkdir()
    (source / "md5" / "a.bin").write_bytes(b"a")
    (source / "md5" / "MD5SUMS.txt").write_text(
        f"{hashlib.md5(b'a').hexdigest()}  a.bin\n")
    with Station(settings_in(tmp_path / "station")) as st:
        done = ingest(st, source, "L-1")
    r = done.report
    assert {lst["path"] for lst in r.lists} == {"SHA256SUMS.txt", "md5/MD5SUMS.txt"}
    assert sorted(f.path for f in r.of("verified")) == sorted([*files, "md5/a.bin"])
    assert r.outcome == "success"


def test_drive_letter_paths_are_read_from_the_source_root(tmp_path: Path):
    from workbench.ingest.checksums import parse
    source = tmp_path / "disc"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_bytes(b"a")
    (source / "sub" / "b.txt").write_bytes(b"b")
    (source / "sub" / "list.sha256").write_bytes(
        f"{sha256(b'a')} *E:\\a.txt\r\n{sha256(b'b')} *e:/sub/b.txt\r\n".encode())
    assert [e.name for e in parse("sub/list.sha256", (source / "sub" /
                                                      "list.sha256").read_bytes()).entries] \
        == ["a.txt", "sub/b.txt"]
    with Station(settings_in(tmp_path / "station")) as st:
        done = ingest(st, source, "L-2")
    assert done.report.missing == []
    assert sorted(f.path for f in done.report.of("verified")) == ["a.txt", "sub/b.txt"]


def test_no_list_found_is_said_and_never_success(tmp_path: Path):
    root = tmp_path / "station"
    root.mkdir()
    source = tmp_path / "disc"
    source.mkdir()
    (source / "a.txt").write_bytes(b"a")
    run = cli(root, "ingest", str(source), "--item", "L-3")
    assert "no checksum list found: digests computed, nothing verified" in run.stdout
    assert "(success)" not in run.stdout and run.returncode == 3, run.stdout
    with Station(settings_in(root)) as st:
        row = st.con.execute("SELECT outcome, reason_code FROM attempts WHERE item_id = "
                             "'L-3' ORDER BY rowid DESC").fetchone()
    assert tuple(row) == ("partial", "ingest_no_lists")


def test_a_file_holding_checksum_lines_is_read_as_a_list_and_said(tmp_path: Path):
    source = tmp_path / "disc"
    source.mkdir()
    (source / "a.txt").write_bytes(b"a")
    (source / "fixity-2019.log").write_text(f"{sha256(b'a')}  a.txt\n")
    (source / "notes-on-checks.txt").write_text("checked by hand\n")  # not a list
    with Station(settings_in(tmp_path / "station")) as st:
        done = ingest(st, source, "L-4")
    assert done.report.look_like_lists == ["fixity-2019.log"]
    assert [f.path for f in done.report.of("verified")] == ["a.txt"]


# -- E13: payload names from an ISO read with cp932 ------------------------------------

def test_undecodable_bytes_get_the_same_escape_from_an_iso_as_from_a_folder(tmp_path: Path):
    tool = shutil.which("xorriso")
    if tool is None:
        pytest.skip("needs xorriso")
    src = tmp_path / "src"
    src.mkdir()
    with open(os.path.join(os.fsencode(src), b"bad\xff\xfebytes.txt"), "wb") as fh:
        fh.write(b"c")
    os.mkdir(os.path.join(os.fsencode(src), b"dir\xfd"))  # a folder's name too
    with open(os.path.join(os.fsencode(src), b"dir\xfd", b"in.txt"), "wb") as fh:
        fh.write(b"d")
    iso = tmp_path / "hostile.iso"
    subprocess.run([tool, "-as", "mkisofs", "-quiet", "-R", "-J", "-o", str(iso), str(src)],
                   check=True, capture_output=True)
    settings = replace(settings_in(tmp_path / "station"), legacy_codepage="cp932")
    with Station(settings) as st:
        from_folder = sorted(f.name for f in ingest(st, src, "N-1").report.files)
        from_iso = sorted(f.name for f in ingest(st, iso, "N-2").report.files)
    assert from_folder == from_iso == ["bad#FF#FEbytes.txt", "dir#FD/in.txt"]
    assert not any(0xE000 <= ord(c) <= 0xF8FF for name in from_iso for c in name)


# -- E16: virus-scan records name files in the bag --------------------------------------

def test_virus_scan_records_name_payload_files(tmp_path: Path):
    from tests.test_virus_scan import EICAR, needs_clamscan, signature_db
    if needs_clamscan.args[0]:
        pytest.skip("clamscan is not installed")
    source = tmp_path / "disc"
    (source / "sub").mkdir(parents=True)
    with open(os.path.join(os.fsencode(source), b"ctl\x01eicar.txt"), "wb") as fh:
        fh.write(EICAR)
    (source / "sub" / "eicar.com").write_bytes(EICAR)
    settings = replace(settings_in(tmp_path / "station"),
                       virus_database=str(signature_db(tmp_path)))
    with Station(settings) as st:
        done = ingest(st, source, "V-1")
    assert done.bag is not None
    scan = json.loads((done.bag / "metadata" / "virus-scan.json").read_text())
    named = sorted(f["path"] for f in scan["infected"])
    assert named == ["ctl#01eicar.txt", "sub/eicar.com"]
    assert all((done.bag / "data" / n).is_file() for n in named)
    premis = (done.bag / "metadata" / "premis.xml").read_text()
    assert "ctl#01eicar.txt" in premis and "streamed from the image" not in premis


# -- E14: validate knows the ingest profile ---------------------------------------------

def test_validate_profile_checks_an_ingest_bag_against_the_ingest_profile(tmp_path: Path):
    from tests.test_tapefix import hostile_folder
    from workbench.config import Settings
    from workbench.package.profile import load_bag_profile
    from workbench.package.validate import validate_any
    root = tmp_path / "station"
    root.mkdir()
    hostile_folder(tmp_path / "src")
    with Station(settings_in(root)) as st:
        done = ingest(st, tmp_path / "src", "P-1")
    assert done.bag is not None
    carrier = load_bag_profile(Settings().paths.profiles)
    report = validate_any(done.bag, carrier, force_profile=True)
    assert report.profile == "urn:x-migration-workbench:bagit-profile:ingest:1.0"
    assert report.errors == [], report.errors  # bagit-python's opinion included
    run = cli(root, "validate", str(done.bag), "--profile")
    assert run.returncode == 0 and "NOT valid" not in run.stdout, run.stdout
    info = done.bag / "bag-info.txt"  # the ingest profile's own rules are applied
    info.write_text(info.read_text().replace("Media-Family: ingest", "Media-Family: FD"))
    report = validate_any(done.bag, carrier, force_profile=True, fast=True)
    assert any("Media-Family must be one of ingest" in str(p) for p in report.errors)


# -- a full staging disk, a source gone, a UTF-8 list with raw bytes ---------------------

def test_a_full_staging_disk_says_the_ingest_copies_again(tmp_path: Path, monkeypatch):
    import errno
    import io

    from workbench.errors import Aborted
    from workbench.ingest import copy as copy_module
    source = tmp_path / "disc"
    master_folder(source)

    class Full(io.BytesIO):
        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(copy_module, "open", lambda *a, **k: Full(), raising=False)
    root = tmp_path / "station"
    with Station(settings_in(root)) as st:
        with pytest.raises(Aborted) as stopped:
            ingest(st, source, "F-1")
        assert stopped.value.key == "ingestfix.disk_full"
        assert "copies again from the start" in stopped.value.message("en")
        assert "resumes" not in stopped.value.message("en")
        assert not (root / "staging" / "F-1" / "files").exists()  # the room given back
        monkeypatch.undo()
        done = ingest(st, source, "F-1")
    assert done.bag is not None and done.report.outcome == "success"


def test_a_source_gone_while_read_is_named_plainly(tmp_path: Path):
    from workbench.errors import Aborted
    source = tmp_path / "disc"
    master_folder(source)
    with Station(settings_in(tmp_path / "station")) as st:
        def pull(progress: object) -> None:
            shutil.rmtree(source, ignore_errors=True)  # the disk pulled mid-copy

        with pytest.raises(Aborted) as stopped:
            ingest(st, source, "G-1", progress=pull)
    words = stopped.value.message("en")
    assert stopped.value.key == "ingestfix.source_gone", words
    assert "b'" not in words and "went away" in words


def test_a_utf8_list_with_one_raw_name_is_not_called_cp932():
    from workbench.ingest.checksums import parse
    d = sha256(b"c")
    lst = parse("SHA256SUMS", f"{d}  plain.txt\n".encode() +
                d.encode() + b"  bad\xff\xfebytes.txt\n", "cp932")
    assert lst.encoding == "utf-8 (undecodable bytes kept)"
    assert lst.entries[1].name == b"bad\xff\xfebytes.txt".decode("utf-8", "surrogateescape")
    sjis = parse("SHA256SUMS", d.encode() + "  表紙.txt\n".encode("cp932"), "cp932")
    assert sjis.encoding == "cp932" and sjis.entries[0].name == "表紙.txt"
