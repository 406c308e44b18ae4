"""Tryout 16 defects: a damaged tar copy on tape, a tape gone mid-run, ingest pre-flight
and guard, names from images, retry on an ingest, unreadable checksum lines, bagit-python
agreement, and the smaller retrieve/recopy/report points."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from tests.test_station import GOOD, mount_tapes, settings_in
from workbench.errors import Refused
from workbench.station import State, Station
from workbench.tape import stage


@pytest.fixture
def tar_root(tmp_path: Path) -> Path:
    """FD-1 on a primary and a secondary tape, each copy one tar."""
    root = tmp_path / "station"
    mount_tapes(root)
    with Station(replace(settings_in(root), tar_threshold=2)) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1")
        assert st.state("FD-1").state is State.ON_TAPE
    return root


def damage_header(tar: Path) -> None:
    data = bytearray(tar.read_bytes())
    at = data.find(b"FD-1/data/")
    data[at + 6] ^= 0x20  # a name byte: the header's checksum no longer holds
    tar.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["header", "truncated"])
def test_a_damaged_tar_copy_is_a_failed_copy_and_verify_goes_on(tar_root: Path, damage):
    tar = tar_root / "tape" / "P00001L8" / "FD-1.tar"
    assert tar.is_file()
    if damage == "header":
        damage_header(tar)
    else:
        os.truncate(tar, 3000)
    with Station(settings_in(tar_root)) as st:
        done = {e.barcode: e for e in st.tapes.verify(older_than=0)}
    assert done["P00001L8"].result == "failed"
    assert "FD-1.tar" in done["P00001L8"].detail
    assert done["S00001L8"].result == "verified"  # the run went on


def test_a_tape_gone_mid_read_records_nothing_and_gets_no_catalogue(tar_root: Path,
                                                                     monkeypatch):
    primary = tar_root / "tape" / "P00001L8"
    real = stage._check_copy

    def vanish(copy: Path, bag: str, layout: str, expected: dict[str, str]) -> list[str]:
        if copy.parent == primary:  # the tape is unmounted while its copy is read
            for p in sorted(primary.iterdir()):
                p.unlink()
            raise FileNotFoundError(2, "No such file or directory", str(copy))
        return real(copy, bag, layout, expected)

    monkeypatch.setattr(stage, "_check_copy", vanish)
    with Station(settings_in(tar_root)) as st:
        with pytest.raises(Refused) as gone:
            st.tapes.verify(older_than=0)
        assert gone.value.key == "lto.vanished"
        assert "failed" not in [e.result for e in st.tapes.book.history("FD-1")]
    assert list(primary.iterdir()) == []  # no catalogue written into the bare mount point


def test_ingest_refuses_the_stations_own_folders(tmp_path: Path):
    from tests.test_ingest import master_folder
    from workbench.station.ingest import ingest
    root = tmp_path / "station"
    mount_tapes(root)
    (root / "staging" / "OLD").mkdir(parents=True)
    master_folder(root / "staging" / "OLD")
    with Station(settings_in(root)) as st:
        for source, item in ((root, "SELF"), (root / "staging", "SELF2"),
                             (root / "staging" / "OLD", "SELF3"), (root / "tape", "SELF4")):
            with pytest.raises(Refused) as refused:
                ingest(st, source, item)
            assert refused.value.key == "tapefix.own_folder", source
            assert not (root / "staging" / item).exists()
            assert st.state(item).state is State.NEW


def test_ingest_refuses_before_copying_what_does_not_fit(tmp_path: Path, monkeypatch):
    from tests.test_ingest import master_folder
    from workbench.station import ingest_guard
    from workbench.station.ingest import ingest
    root = tmp_path / "station"
    mount_tapes(root)
    master_folder(tmp_path / "disc")
    need = ingest_guard.source_size(tmp_path / "disc")
    assert need == sum(p.stat().st_size for p in (tmp_path / "disc").rglob("*") if p.is_file())
    real = ingest_guard.psutil.disk_usage

    def small(path: str):
        return real(path)._replace(free=need - 1)

    monkeypatch.setattr(ingest_guard.psutil, "disk_usage", small)
    with Station(replace(settings_in(root), free_space_margin=0)) as st:
        with pytest.raises(Refused) as refused:
            ingest(st, tmp_path / "disc", "FULL-1")
        assert refused.value.key == "tapefix.no_room"
        assert "needed" in refused.value.message("en")
        assert not (root / "staging" / "FULL-1").exists()


def test_ingest_of_a_mounted_device_is_refused_as_migrate_refuses_it(tmp_path: Path,
                                                                    monkeypatch):
    """The imaging pre-flight (reused) sees the device; here its check says mounted."""
    from workbench.imaging import preflight
    from workbench.station.ingest import ingest
    root = tmp_path / "station"
    mount_tapes(root)
    seen: list[str] = []

    def mounted(path: object) -> None:
        seen.append(str(path))
        raise Refused("preflight.not_mounted.refused", path=str(path), mounts="/mnt/x")

    monkeypatch.setattr(preflight, "refuse_before_open", mounted)
    (tmp_path / "stick.img").write_bytes(bytes(4096))
    with Station(settings_in(root)) as st, pytest.raises(Refused) as refused:
        ingest(st, tmp_path / "stick.img", "ING-MNT")
    assert refused.value.key == "preflight.not_mounted.refused"
    assert seen == [str(tmp_path / "stick.img")]
    assert not (root / "staging" / "ING-MNT").exists()


def test_an_ingested_image_is_virus_scanned_like_an_identified_one(tmp_path: Path):
    from tests.test_virus_scan import EICAR, fat_floppy, needs_clamscan, signature_db
    from workbench.package.bags import read_info
    from workbench.station.ingest import ingest
    if needs_clamscan.args[0]:
        pytest.skip("clamscan is not installed")
    root = tmp_path / "station"
    img = fat_floppy(tmp_path)
    settings = replace(settings_in(root), virus_database=str(signature_db(tmp_path)))
    with Station(settings) as st:
        done = ingest(st, img, "ING-V")
    assert done.bag is not None
    scan = json.loads((done.bag / "metadata" / "virus-scan.json").read_text())
    assert scan["status"] == "scanned"
    found = {f["path"]: f["signature"] for f in scan["infected"]}
    assert "EICAR.COM" in found and "[boot sector]" in found
    assert scan["files_scanned"] == len(done.report.files)
    assert dict(read_info(done.bag))["Virus-Scan"].startswith(f"{len(found)} infected")
    premis = (done.bag / "metadata" / "premis.xml").read_text()
    assert "virus check" in premis and "Workbench.Test.EICAR" in premis
    assert (done.bag / "data" / "EICAR.COM").read_bytes() == EICAR  # flagged, not altered


def test_without_clamav_an_ingest_says_not_scanned_and_why(tmp_path: Path):
    from tests.test_ingest import master_folder
    from workbench.package.bags import read_info
    from workbench.station.ingest import ingest
    root = tmp_path / "station"
    master_folder(tmp_path / "disc")
    settings = replace(settings_in(root), virus_command=str(tmp_path / "no-clamscan"))
    with Station(settings) as st:
        done = ingest(st, tmp_path / "disc", "ING-N")
    assert done.bag is not None
    words = dict(read_info(done.bag))["Virus-Scan"]
    assert words.startswith("not scanned: ") and len(words) > len("not scanned: ")
    job = json.loads((done.bag / "metadata" / "job.json").read_text())
    assert "a folder" in job["runs"][-1]["protection"]["not_set"]


def test_a_device_source_is_set_read_only_while_read_and_restored(tmp_path: Path,
                                                                  monkeypatch):
    """The imaging guard (readonly.guard_fd/release_fd, reused) around the copy; a file
    stands in for the device here (BLKROSET needs a real block device and root)."""
    from tests.test_virus_scan import fat_floppy
    from workbench.imaging import readonly
    from workbench.ingest import guard
    from workbench.station.ingest import ingest
    calls: list[str] = []

    def guard_fd(fd: int, path: str, rdev: int, policy: str) -> readonly.Protection:
        calls.append(f"set {policy}")
        return readonly.Protection(policy, True, False, True, True)

    def release_fd(fd: int, prot: readonly.Protection) -> None:
        calls.append("release")
        prot.after = "restored"

    monkeypatch.setattr(readonly, "guard_fd", guard_fd)
    monkeypatch.setattr(readonly, "release_fd", release_fd)
    monkeypatch.setattr(guard, "is_block", lambda mode: True)
    img = fat_floppy(tmp_path)
    with Station(settings_in(tmp_path / "station")) as st:
        done = ingest(st, img, "ING-DEV")
    assert calls == ["set restore", "release"]
    assert done.bag is not None
    job = json.loads((done.bag / "metadata" / "job.json").read_text())
    prot = job["runs"][-1]["protection"]
    assert prot["set_by_workbench"] is True and prot["after"] == "restored"


HOSTILE = {b"ctl\x01\x1bname.txt": b"a", b"back\\slash.txt": b"b", b"bad\xff\xfebytes.txt": b"c",
           b"line\nbreak.txt": b"d", b"ctl\\x01\\x1bname.txt": b"e", b"100%25.txt": b"f",
           b"plain.txt": b"g"}


def hostile_folder(folder: Path) -> None:
    """Names a reader must escape, and a list written by sha256sum itself (GNU: a name
    with '\\' or a newline on a line starting with '\\')."""
    import subprocess
    folder.mkdir()
    for raw, data in HOSTILE.items():
        with open(os.path.join(os.fsencode(folder), raw), "wb") as fh:
            fh.write(data)
    names = sorted(os.listdir(os.fsencode(folder)))
    listed = subprocess.run(["sha256sum", "--", *names], cwd=folder, check=True,
                            capture_output=True).stdout
    (folder / "SHA256SUMS").write_bytes(listed)


@pytest.mark.parametrize("kind", ["folder", "iso"])
def test_names_a_reader_escapes_match_their_checksum_list(tmp_path: Path, kind: str):
    import shutil
    import subprocess

    from workbench.station.ingest import ingest
    hostile_folder(tmp_path / "src")
    source = tmp_path / "src"
    if kind == "iso":
        tool = shutil.which("xorriso") or shutil.which("genisoimage")
        if tool is None:
            pytest.skip("needs xorriso or genisoimage")
        source = tmp_path / "hostile.iso"
        args = ["-as", "mkisofs"] if tool.endswith("xorriso") else []
        subprocess.run([tool, *args, "-quiet", "-R", "-o", str(source),
                        str(tmp_path / "src")], check=True, capture_output=True)
    with Station(settings_in(tmp_path / "station")) as st:
        done = ingest(st, source, f"H-{kind}")
    r = done.report
    assert r.missing == []
    status = {f.path: f.status for f in r.files if f.path != "SHA256SUMS"}
    assert list(status.values()) == ["verified"] * len(HOSTILE), status
    assert "ctl\x01\x1bname.txt" in status and "ctl\\x01\\x1bname.txt" in status
    assert "back\\slash.txt" in status and "line\nbreak.txt" in status
    bad = next(f for f in r.files if f.path.startswith("bad"))
    assert bytes.fromhex(bad.raw) == b"bad\xff\xfebytes.txt"  # the bytes are kept
    assert r.outcome == "success"
