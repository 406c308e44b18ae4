"""Ingest of existing preservation images: a folder with a sha256sum list where one file
differs, an ISO holding checksum files (read with the workbench's own readers, never
mounted), hostile names, unreadable files, and the lists' formats."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_station import mount_tapes, settings_in
from tests.test_tape_retrieve import cli
from workbench.errors import Aborted, Refused
from workbench.ingest import sources
from workbench.ingest.checksums import parse
from workbench.ingest.names import safe_component
from workbench.package.bags import check_bag, read_info, read_manifest
from workbench.station import State, Station
from workbench.station.ingest import ingest
from workbench.station.retrieve import Retrieval
from workbench.tape.tapes import ltfs_problems


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def master_folder(root: Path) -> dict[str, bytes]:
    """A folder of masters with a sha256sum list written when they were made."""
    files = {"page001.tif": b"TIFF" * 1000, "page002.tif": b"II*\0" * 3000,
             "sub/notes.txt": "ノート\n".encode()}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "SHA256SUMS").write_text("".join(f"{sha256(d)}  {n}\n" for n, d in files.items()))
    return files


def test_a_folder_with_one_file_that_differs_is_not_bagged_silently(tmp_path):
    root = tmp_path / "station"
    mount_tapes(root)
    source = tmp_path / "disc"
    master_folder(source)
    (source / "page002.tif").write_bytes(b"II*\0" * 2999 + b"II*\1")  # one bit rotted
    run = cli(root, "ingest", str(source), "--item", "DISC-1")
    assert run.returncode == 3, run.stdout + run.stderr
    assert "DIFFERS: page002.tif" in run.stdout
    assert "page001.tif" not in run.stdout and "Nothing was bagged" in run.stderr
    assert not (root / "bags" / "DISC-1").exists()
    with Station(settings_in(root)) as st:
        assert st.state("DISC-1").state is State.IMAGED
        failures = st.con.execute("SELECT detail FROM events WHERE item_id = 'DISC-1' AND "
                                  "step = 'fixity check' AND outcome = 'failure'").fetchall()
        assert len(failures) == 1 and "page002.tif" in failures[0]["detail"]
    accept = cli(root, "accept", "DISC-1")  # the carrier path never bags it silently
    assert accept.returncode == 6 and "workbench ingest" in accept.stderr
    assert not (root / "bags" / "DISC-1").exists()
    # the same command again still waits; with the decision it is bagged and staged
    assert cli(root, "ingest", str(source), "--item", "DISC-1").returncode == 3
    run = cli(root, "ingest", str(source), "--item", "DISC-1", "--accept-mismatch",
              "--operator", "Sato")
    assert run.returncode == 3, run.stdout + run.stderr  # partial, bagged
    bag = root / "bags" / "DISC-1"
    assert check_bag(bag) == []
    info = dict(read_info(bag))
    assert info["Checksum-Mismatches"] == "1" and info["Files-Verified"] == "2"
    assert info["Media-Type"] == "ingest-folder" and "Sato" in info["Mismatches-Accepted-By"]
    report = json.loads((bag / "metadata" / "ingest.json").read_text())
    assert [f["path"] for f in report["files"] if f["status"] == "mismatch"] == ["page002.tif"]
    assert read_manifest(bag / "manifest-sha256.txt")["data/page002.tif"] == sha256(
        (source / "page002.tif").read_bytes())
    with Station(settings_in(root)) as st:
        assert st.state("DISC-1").state is State.ON_TAPE
        decision = st.con.execute("SELECT detail FROM events WHERE item_id = 'DISC-1' AND "
                                  "step = 'decision'").fetchone()
        assert "Sato" in decision["detail"]
        media = {r.key: r.carriers for r in st.records.statistics("media")}
        assert media.get("ingest-folder") == 1
        assert not (root / "staging" / "DISC-1" / "files").exists()  # the bag holds them
        # and it comes back from tape like any bag
        got = Retrieval(st).retrieve("DISC-1", tmp_path / "back")
        assert got.path is not None and check_bag(got.path) == []
    assert cli(root, "ingest", str(source), "--item", "DISC-1").returncode == 6  # done


def test_a_clean_folder_is_verified_bagged_and_counted_apart(tmp_path):
    root = tmp_path / "station"
    source = tmp_path / "disc"
    files = master_folder(source)
    with Station(settings_in(root)) as st:
        done = ingest(st, source, "DISC-2")
        assert done.waiting == "" and done.report.outcome == "success"
        assert done.state is State.BAGGED  # no tape mounted: waits for `tape write`
        assert {f.path: f.status for f in done.report.files} == {
            **{n: "verified" for n in files}, "SHA256SUMS": "unlisted"}
        with pytest.raises(Refused):
            ingest(st, source, "DISC-2")  # bagged already


def build_iso(tmp_path: Path) -> Path:
    tree = tmp_path / "iso-tree"
    files = {"IMAGES/SCAN0001.TIF": b"scan one" * 500, "IMAGES/SCAN0002.TIF": b"scan 2" * 700,
             "DOCS/README.TXT": b"read me\r\n"}
    for name, data in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data)
    (tree / "MD5SUMS").write_text("".join(
        f"{hashlib.md5(d).hexdigest()} *{n.replace('/', chr(92))}\r\n"  # written on Windows
        for n, d in files.items() if n.startswith("IMAGES")))
    (tree / "DOCS" / "readme.sha1").write_text(
        f"SHA1 (README.TXT) = {hashlib.sha1(files['DOCS/README.TXT']).hexdigest()}\n")
    iso = tmp_path / "masters.iso"
    subprocess.run(["genisoimage", "-quiet", "-J", "-R", "-V", "MASTERS_01", "-o", str(iso),
                    str(tree)], check=True)
    return iso


def test_an_iso_with_checksum_files_is_read_without_mounting(tmp_path):
    if shutil.which("genisoimage") is None:
        pytest.fail("genisoimage is needed (Debian: genisoimage)")
    iso = build_iso(tmp_path)
    root = tmp_path / "station"
    mount_tapes(root)
    with Station(settings_in(root)) as st:
        done = ingest(st, iso, "ISO-1", source_digest=True)
    r = done.report
    assert r.source["sha256"] == sha256(iso.read_bytes())
    assert r.outcome == "success" and done.state is State.ON_TAPE
    status = {f.path: f.status for f in r.files}
    assert status["IMAGES/SCAN0001.TIF"] == status["IMAGES/SCAN0002.TIF"] == "verified"
    assert status["DOCS/README.TXT"] == "verified"
    assert r.source["kind"] == "image" and r.source["volumes"][0]["label"] == "MASTERS_01"
    assert done.bag is not None and check_bag(done.bag) == []
    assert dict(read_info(done.bag))["Media-Type"] == "ingest-image"


def test_hostile_names_are_made_safe_and_kept(tmp_path):
    source = tmp_path / "disc"
    source.mkdir()
    names = {b"ctrl\x01name.txt": b"a", b"colon:name.txt": b"b", b"latin1-\xe9.txt": b"c",
             "cafe\u0301.txt".encode(): b"d", b"100%.txt": b"e", b"new\nline.txt": b"f"}
    for raw, data in names.items():
        with open(os.path.join(os.fsencode(source), raw), "wb") as fh:
            fh.write(data)
    (source / "link").symlink_to("/etc/passwd")
    listed = "".join(f"{sha256(d)}  {n.decode('utf-8', 'surrogateescape')}\n"
                     for n, d in names.items() if b"\n" not in n)
    listed += f"\\{sha256(b'f')}  new\\nline.txt\n"
    listed += f"{sha256(b'x')}  ../../etc/shadow\n"
    (source / "SHA256SUMS").write_bytes(listed.encode("utf-8", "surrogateescape"))
    root = tmp_path / "station"
    with Station(settings_in(root)) as st:
        done = ingest(st, source, "HOSTILE-1")
    r = done.report
    assert {f.status for f in r.files if f.path != "SHA256SUMS"} == {"verified"}
    assert [s["path"] for s in r.skipped] == ["link"]  # never followed
    assert r.lists[0]["outside"] == ["../../etc/shadow"]
    bag_names = [f.name for f in r.files]
    assert ltfs_problems(bag_names) == []
    assert all(n.isprintable() for n in bag_names)
    assert "latin1-#E9.txt" in bag_names and "colon#3Aname.txt" in bag_names
    assert "café.txt" in bag_names and "100#25.txt" in bag_names
    latin = next(f for f in r.files if f.name == "latin1-#E9.txt")
    assert bytes.fromhex(latin.raw) == b"latin1-\xe9.txt"
    assert done.bag is not None and check_bag(done.bag) == []


def test_an_unreadable_file_is_zero_filled_named_and_bagged_as_partial(tmp_path, monkeypatch):
    source = tmp_path / "disc"
    files = master_folder(source)
    real = sources._pread

    def failing(fd: int, n: int, at: int) -> bytes:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("page001.tif") and at <= 100 < at + n:
            raise OSError(errno.EIO, "Input/output error")
        return real(fd, n, at)

    monkeypatch.setattr(sources, "_pread", failing)
    with Station(settings_in(tmp_path / "station")) as st:
        done = ingest(st, source, "DISC-3")
        assert done.waiting == "" and done.report.outcome == "partial"
        [bad] = done.report.of("damaged")
        assert bad.path == "page001.tif" and bad.bad == [[0, len(files["page001.tif"])]]
        assert "zero-filled" in bad.errors[0]
        assert done.bag is not None and check_bag(done.bag) == []
        copied = (done.bag / "data" / "page001.tif").read_bytes()
        assert len(copied) == len(files["page001.tif"]) and copied[:4] == b"\0\0\0\0"
        assert st.state("DISC-3").state is State.BAGGED


def test_review_partial_stops_before_bagging(tmp_path):
    source = tmp_path / "disc"
    master_folder(source)
    (source / "page001.tif").unlink()  # listed, not there
    with Station(settings_in(tmp_path / "station")) as st:
        done = ingest(st, source, "DISC-4", review_partial=True)
        assert done.waiting == "review" and done.bag is None
        assert [m["name"] for m in done.report.missing] == ["page001.tif"]
        done = ingest(st, source, "DISC-4")
        assert done.bag is not None and done.report.outcome == "partial"


def test_checksum_list_formats():
    d1, d2 = "a" * 64, "b" * 40
    text = (f"{d1}  plain.txt\n{d1} *binary.txt\n\\{d1}  tab\\\\name\n"
            f"SHA1 (bsd name.txt) = {d2}\n# a comment\nnot a checksum line\n"
            f"{d1}  .\\win\\path.txt\r\n{d1}  ../x\n")
    lst = parse("sub/SHA256SUMS", text.encode())
    assert [(e.name, e.algorithm) for e in lst.entries] == [
        ("sub/plain.txt", "sha256"), ("sub/binary.txt", "sha256"), ("sub/tab\\name", "sha256"),
        ("sub/bsd name.txt", "sha1"), ("sub/win/path.txt", "sha256"), ("x", "sha256")]
    assert lst.ignored == [6]
    assert parse("SHA256SUMS", f"{d1}  ../up\n".encode()).outside == ["../up"]


def test_safe_components():
    assert safe_component("..") == "#2E#2E"
    assert safe_component("a:b") == "a#3Ab"
    assert safe_component("x" * 300).endswith(safe_component("x" * 300)[-13:])
    assert len(safe_component("é" * 200).encode()) <= 255
    assert safe_component("already%2Fescaped", escaped=True) == "already#2Fescaped"


def test_an_interrupted_ingest_is_continued_by_the_same_command(tmp_path):
    source = tmp_path / "disc"
    master_folder(source)
    with Station(settings_in(tmp_path / "station")) as st:
        def stop(progress: object) -> None:
            st.cancel.set()

        with pytest.raises(Aborted, match="copies every file again"):
            ingest(st, source, "DISC-5", progress=stop)
        assert st.state("DISC-5").state is State.INTERRUPTED
        assert not (tmp_path / "station" / "bags" / "DISC-5").exists()
        st.cancel.clear()
        done = ingest(st, source, "DISC-5")
        assert done.report.outcome == "success" and done.bag is not None
        assert check_bag(done.bag) == []


def test_the_work_list_names_the_ingest_command_for_an_ingest(tmp_path):
    """An ingest waiting for its decision is in the UI's work list with the command that
    continues it; Enter says it (the drive flow and accept cannot go on with files)."""
    import asyncio

    from tests.test_tui import text_of, wait_for
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.flow import ProfileScreen
    from workbench.tui.result import ResultScreen
    from workbench.tui.rowlist import RowList
    root = tmp_path / "station"
    mount_tapes(root)
    source = tmp_path / "disc"
    master_folder(source)
    (source / "page002.tif").write_bytes(b"II*\0" * 2999 + b"II*\1")
    assert cli(root, "ingest", str(source), "--item", "DISC-2").returncode == 3

    async def scenario() -> None:
        app = WorkbenchApp(settings_in(root))
        async with app.run_test(size=(120, 40)) as pilot:
            work = app.screen.query_one("#pending", RowList)
            await wait_for(pilot, lambda: work.row_count == 1)
            assert "workbench ingest" in str(work.get_row_at(0)[2])
            await pilot.press("w", "enter")
            await wait_for(pilot, lambda: "workbench ingest" in text_of(app, "#work-message"))
            assert not isinstance(app.screen, (ProfileScreen, ResultScreen))
    asyncio.run(scenario())
