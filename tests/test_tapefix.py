"""Tryout 16 defects: a damaged tar copy on tape, a tape gone mid-run, ingest pre-flight
and guard, names from images, retry on an ingest, unreadable checksum lines, bagit-python
agreement, and the smaller retrieve/recopy/report points."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from tests.test_station import GOOD, mount_tapes, settings_in
from workbench.errors import Refused
from workbench.station import State, Station
from workbench.tape import readback


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
    real = readback.check_copy

    def vanish(copy: Path, bag: str, layout: str, expected: dict[str, str]) -> list[str]:
        if copy.parent == primary:  # the tape is unmounted while its copy is read
            for p in sorted(primary.iterdir()):
                p.unlink()
            raise FileNotFoundError(2, "No such file or directory", str(copy))
        return real(copy, bag, layout, expected)

    monkeypatch.setattr(readback, "check_copy", vanish)
    with Station(settings_in(tar_root)) as st:
        with pytest.raises(Refused) as gone:
            st.tapes.verify(older_than=0)
        assert gone.value.key == "deadfix.verify_stopped"  # the copies not read said
        assert gone.value.__cause__.key == "lto.vanished"
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

    def guard_fd(fd: int, path: str, rdev: int, policy: str, *_: object) -> readonly.Protection:
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


def test_retry_on_an_ingest_names_the_ingest_command_and_pending_says_it(tmp_path: Path):
    from tests.test_ingest import master_folder
    from tests.test_tape_retrieve import cli
    from workbench.station.ingest import ingest
    from workbench.station.view import next_step
    root = tmp_path / "station"
    source = tmp_path / "disc"
    master_folder(source)
    (source / "page002.tif").write_bytes(b"rotted")  # waits on the mismatch
    with Station(settings_in(root)) as st:
        assert ingest(st, source, "I-5").waiting == "mismatch"
        with pytest.raises(Refused) as refused:
            st.retry("I-5")
        assert refused.value.key == "tapefix.retry_ingest"
        assert f"workbench ingest {source} --item I-5" in refused.value.message("en")
        state = st.state("I-5")
        assert state.is_ingest and state.state is State.IMAGED
        assert next_step(state) == ("ingest2.next_waiting",  # names --again, --accept-mismatch
                                    {"item": "I-5", "source": str(source)})
    run = cli(root, "retry", "I-5")
    assert run.returncode == 6 and "Traceback" not in run.stderr, run.stderr
    run = cli(root, "pending")
    assert f"workbench ingest {source} --item I-5" in run.stdout, run.stdout
    assert "workbench accept" not in run.stdout
    run = cli(root, "show", "I-5")
    assert f"workbench ingest {source} --item I-5" in run.stdout
    assert "workbench retry" not in run.stdout and "workbench migrate" not in run.stdout


def test_gnu_tag_lines_with_escaped_names_are_read():
    from workbench.ingest.checksums import parse
    d = "d41d8cd98f00b204e9800998ecf8427e"
    lst = parse("MD5SUMS", (f"\\MD5 (back\\\\slash.txt) = {d}\n"
                            f"\\MD5 (line\\nbreak.txt) = {d}\nMD5 (plain.txt) = {d}\n").encode())
    assert lst.ignored == []
    assert [e.name for e in lst.entries] == ["back\\slash.txt", "line\nbreak.txt", "plain.txt"]


def test_a_shift_jis_list_written_on_windows_is_read(tmp_path: Path):
    """表 is 0x95 0x5C in Shift_JIS: its second byte is '\\', which must not split it."""
    from workbench.station.ingest import ingest
    source = tmp_path / "jp"
    (source / "資料").mkdir(parents=True)
    files = {"資料/画像001.tif": b"tif", "資料/表紙.txt": b"cover"}
    for name, data in files.items():
        (source / name).write_bytes(data)
    lines = "".join(f"{hashlib.sha256(d).hexdigest()} *{n.replace('/', chr(92))}\r\n"
                    for n, d in files.items())
    (source / "SHA256SUMS").write_bytes(lines.encode("cp932"))
    assert b"\x95\x5c" in (source / "SHA256SUMS").read_bytes()
    with Station(settings_in(tmp_path / "station")) as st:
        done = ingest(st, source, "JP-1")
    r = done.report
    assert r.missing == [] and r.lists[0]["encoding"] == "cp932"
    assert {f.path: f.status for f in r.files if f.path != "SHA256SUMS"} == {
        n: "verified" for n in files}
    assert r.outcome == "success"


def test_a_bsd_name_really_holding_a_backslash_is_found(tmp_path: Path):
    from workbench.station.ingest import ingest
    source = tmp_path / "src"
    source.mkdir()
    (source / "back\\slash.txt").write_bytes(b"b")
    (source / "MD5SUMS").write_text(f"MD5 (back\\slash.txt) = {hashlib.md5(b'b').hexdigest()}\n")
    with Station(settings_in(tmp_path / "station")) as st:
        r = ingest(st, source, "BS-1").report
    assert r.missing == [] and r.of("verified")[0].path == "back\\slash.txt"


def test_unreadable_list_lines_are_said_and_the_ingest_is_not_plain_success(tmp_path: Path):
    from tests.test_ingest import master_folder
    from tests.test_tape_retrieve import cli
    root = tmp_path / "station"
    mount_tapes(root)
    source = tmp_path / "disc"
    master_folder(source)
    with open(source / "SHA256SUMS", "a") as fh:
        fh.write("this line is no checksum line\n0123 short.txt\n")
    run = cli(root, "ingest", str(source), "--item", "UN-1")
    assert run.returncode == 3, run.stdout + run.stderr
    assert "UNREAD: SHA256SUMS: 2 lines" in run.stdout and "lines 4, 5" in run.stdout
    with Station(settings_in(root)) as st:
        assert st.state("UN-1").outcome == "partial"
        row = st.con.execute("SELECT reason FROM attempts WHERE item_id = 'UN-1' "
                             "ORDER BY rowid DESC").fetchone()
        assert "could not be read" in row["reason"]


def test_bags_of_hostile_names_pass_bagit_python_and_agree_across_sources(tmp_path: Path):
    """No '%' in payload names (bagit-python cannot read RFC 8493's %25 back); the same
    files get the same payload names from a folder and from an ISO of it."""
    import shutil
    import subprocess

    from workbench.package.validate import bagit_python
    from workbench.station.ingest import ingest
    hostile_folder(tmp_path / "src")
    with open(os.path.join(os.fsencode(tmp_path / "src"), b"colon:and#hash.txt"), "wb") as fh:
        fh.write(b"h")
    sources = {"folder": tmp_path / "src"}
    tool = shutil.which("xorriso") or shutil.which("genisoimage")
    if tool is not None:
        sources["iso"] = tmp_path / "hostile.iso"
        args = ["-as", "mkisofs"] if tool.endswith("xorriso") else []
        subprocess.run([tool, *args, "-quiet", "-R", "-o", str(sources["iso"]),
                        str(tmp_path / "src")], check=True, capture_output=True)
    names = {}
    with Station(settings_in(tmp_path / "station")) as st:
        for kind, source in sources.items():
            done = ingest(st, source, f"B-{kind}")
            assert done.bag is not None
            assert bagit_python(done.bag) == []
            names[kind] = {f.name for f in done.report.files}
            assert not any("%" in n for n in names[kind]), names[kind]
    assert "100#2525.txt" in names["folder"] and "back#5Cslash.txt" in names["folder"]
    assert "colon#3Aand#23hash.txt" in names["folder"]
    if "iso" in names:  # the undecodable bytes: the reader read them as cp932
        assert {n for n in names["iso"] if not n.startswith("bad")} == \
            {n for n in names["folder"] if not n.startswith("bad")}


def fd1_on_two_tapes(tmp_path: Path) -> Path:
    """FD-1 bagged and verified on a primary and a secondary tape (folder layout)."""
    root = tmp_path / "station"
    mount_tapes(root)
    with Station(settings_in(root)) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1")
        assert st.state("FD-1").state is State.ON_TAPE
    return root


@pytest.fixture
def on_tape(tmp_path: Path) -> Path:
    return fd1_on_two_tapes(tmp_path)


def test_retrieve_refuses_the_stations_folders_and_a_disk_without_room(on_tape: Path,
                                                                        tmp_path: Path,
                                                                        monkeypatch):
    from workbench.errors import Aborted
    from workbench.station import retrieve_checks
    from workbench.station.retrieve import Retrieval
    from workbench.tape import retrieve as tape_retrieve
    with Station(settings_in(on_tape)) as st:
        for to in (on_tape / "tape" / "S00001L8" / "back", on_tape / "tape",
                   on_tape / "staging" / "x"):
            with pytest.raises(Refused) as refused:
                Retrieval(st).retrieve("FD-1", to)
            assert refused.value.key == "tapefix.retrieve_own_folder"
        assert not (on_tape / "tape" / "S00001L8" / "back").exists()
        real = retrieve_checks.psutil.disk_usage
        monkeypatch.setattr(retrieve_checks.psutil, "disk_usage",
                            lambda p: real(p)._replace(free=1000))
        with pytest.raises(Refused) as refused:
            Retrieval(st).retrieve("FD-1", tmp_path / "out")
        assert refused.value.key == "tapefix.retrieve_no_room"
        monkeypatch.setattr(retrieve_checks.psutil, "disk_usage", real)

        def full(*args: object, **kw: object) -> list[str]:
            raise OSError(28, "No space left on device")  # write() names no file

        monkeypatch.setattr(tape_retrieve, "read_bag", full)
        from workbench.station import retrieve as station_retrieve
        monkeypatch.setattr(station_retrieve, "read_bag", full)
        with pytest.raises(Aborted) as aborted:
            Retrieval(st).retrieve("FD-1", tmp_path / "out2")
        text = aborted.value.message("en")
        assert "?" not in text and str(tmp_path / "out2") in text and "removed" in text
        assert all(e.result == "verified" for e in st.tapes.book.history("FD-1")
                   if e.verified)  # the disk's fault, not the copy's


def test_recopy_never_writes_onto_the_cartridge_whose_copy_failed(on_tape: Path):
    from workbench import PROJECT_ROOT
    from workbench.station.recopy import recopy
    from workbench.tape.tapes import label_tape, load_generations
    image = next((on_tape / "tape" / "P00001L8" / "FD-1" / "data").glob("*.img"))
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 1
    image.write_bytes(bytes(data))
    with Station(settings_in(on_tape)) as st:
        failed = [e for e in st.tapes.verify(older_than=0) if e.result != "verified"]
        assert [e.barcode for e in failed] == ["P00001L8"]
        with pytest.raises(Refused) as refused:  # the pool's only tape is that one
            recopy(st, "FD-1")
        assert refused.value.key == "tapefix.recopy_same_tape"
        assert "P00001L8" in refused.value.message("en")
        assert image.read_bytes() == bytes(data)  # not written over
        label_tape(on_tape / "tape" / "P00002L8", "P00002L8", "primary", "LTO-8",
                   50_000_000, load_generations(PROJECT_ROOT / "profiles"))
        copies, unplaced = recopy(st, "FD-1")
        assert unplaced == []
        assert [(e.barcode, e.result) for e in copies] == [("P00002L8", "verified")]


def test_smaller_points_wording_source_digest_and_report_totals(tmp_path: Path):
    from tests.test_ingest import master_folder
    from workbench.ledger.export import write_text
    from workbench.ledger.query import SliceRow
    from workbench.station.ingest import ingest
    words = Refused("lto.retrieve_no_copy", item="ISO-1", bag="ISO-1", checked=2).message("en")
    assert "ISO-1 of ISO-1" not in words and words.count("ISO-1") == 2  # bag; where ITEM
    master_folder(tmp_path / "disc")
    with Station(settings_in(tmp_path / "station")) as st:
        with pytest.raises(Refused) as refused:
            ingest(st, tmp_path / "disc", "SD-1", source_digest=True)
        assert refused.value.key == "tapefix.source_digest_folder"
        assert st.state("SD-1").state is State.NEW
    import io
    rows = [SliceRow("fd35-2hd", "FD", carriers=10, succeeded=9),
            SliceRow("ingest-folder", "ingest (folder)", carriers=5, succeeded=5)]
    out = io.StringIO()
    write_text({"media": rows}, out, "en")
    text = out.getvalue()
    assert "All carriers: 10 carriers (9 succeeded)" in text
    assert "All ingests (counted apart from carriers): ingests: 5" in text  # ingest2


def test_a_copy_read_in_this_run_is_not_due_again_when_its_tape_went():
    from workbench.station.reverify import due_elsewhere
    from workbench.tape.catalogue import CopyEntry
    now = "2026-11-26T08:20:25Z"
    read = CopyEntry("A", "P1", "primary", 1, 1, "verified", written=now, verified=now)
    other = CopyEntry("B", "P1", "primary", 1, 1, "verified", written=now, verified=now)
    [due] = due_elsewhere([read, other], set(), 0.0, (read,))
    assert due.barcode == "P1" and due.copies == 1


def test_a_bag_bagit_python_rejects_never_reads_as_valid(tmp_path: Path):
    """Not under our profile: RFC 8493 finds nothing, bagit-python refuses it (its %25
    issue). The CLI says so in its verdict line and exits 3, never "is valid" and 0."""
    from tests.conftest import workbench_run
    bag = tmp_path / "other"
    (bag / "data").mkdir(parents=True)
    (bag / "data" / "100%.txt").write_bytes(b"x")
    digest = hashlib.sha256(b"x").hexdigest()
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (bag / "manifest-sha256.txt").write_text(f"{digest}  data/100%25.txt\n")
    run = workbench_run("validate", str(bag), cwd=tmp_path)
    assert run.returncode == 3, run.stdout
    assert "bagit-python rejects it" in run.stdout
    assert "is valid (" not in run.stdout
    clean = tmp_path / "clean"
    (clean / "data").mkdir(parents=True)
    (clean / "data" / "a.txt").write_bytes(b"x")
    (clean / "bagit.txt").write_text((bag / "bagit.txt").read_text())
    (clean / "manifest-sha256.txt").write_text(f"{digest}  data/a.txt\n")
    run = workbench_run("validate", str(clean), cwd=tmp_path)
    assert run.returncode == 0 and "is valid" in run.stdout, run.stdout
