"""Multi-session discs as one image addressed by LBA: every session's volume found (from
a TOC's starts, or by scanning a plain image), and identification listing the newest
session's tree plus what only older sessions hold. The discs are built with genisoimage
-C/-M as a CD recorder appends sessions, and checked against isoinfo (and udfinfo)."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from workbench.config import Settings
from workbench.identify.engine import identify_image
from workbench.identify.iso import OLDER_ONLY, SUPERSEDED
from workbench.identify.model import Image
from workbench.identify.volumes import find_volumes
from workbench.optical.sessions import SECTOR, declared_end, find_sessions
from workbench.optical.toc import FIRST_SESSION_GAP, LATER_SESSION_GAP

pytestmark = pytest.mark.skipif(
    not (shutil.which("genisoimage") and shutil.which("isoinfo")),
    reason="genisoimage and isoinfo (Debian package genisoimage) are needed")


@dataclass
class Disc:
    image: Path
    starts: list[int]


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def burn(tmp: Path, sessions: list[tuple[dict[str, bytes], bool]],
         lead: int = 0) -> Disc:
    """A disc written session by session: each (files, merge) is one genisoimage run with
    -C (the previous start, the next writable address after the gap), and -M the disc so
    far when merge (the older tree carried over; without it the session holds only its
    own files, which is how a later session drops older ones). The image is what a drive
    reads back: every session at its LBA, the gaps zero. lead: sectors before session 1
    (a disc whose first session is not a data session)."""
    image = tmp / "disc.iso"
    image.write_bytes(b"")
    starts: list[int] = []
    for number, (files, merge) in enumerate(sessions, 1):
        src = tree(tmp / f"s{number}", files)
        out = tmp / f"s{number}.iso"
        used = image.stat().st_size // SECTOR
        start = lead if number == 1 else used + (FIRST_SESSION_GAP if number == 2
                                                 else LATER_SESSION_GAP)
        args = ["genisoimage", "-quiet", "-J", "-R", "-V", f"S{number}", "-o", str(out)]
        if start:
            args += ["-C", f"{starts[-1] if starts else 0},{start}"]
        if merge and starts:
            args += ["-M", str(image)]
        subprocess.run([*args, str(src)], check=True, capture_output=True)
        with image.open("r+b") as f:
            f.truncate(start * SECTOR)
            f.seek(start * SECTOR)
            f.write(out.read_bytes())
        starts.append(start)
    return Disc(image, starts)


S1 = {"a.txt": b"one\n", "b.txt": b"bee\n", "dir/c.txt": b"sea\n"}
S2 = {"d.txt": b"dee\n", "b.txt": b"bee two\n"}  # adds d.txt, replaces b.txt


def isoinfo_size(image: Path, start: int) -> int:
    out = subprocess.run(["isoinfo", "-d", "-i", str(image), "-T", str(start)],
                         capture_output=True, text=True).stdout
    return int(re.search(r"Volume size is: (\d+)", out).group(1))


LISTING = re.compile(r"^([d-])\S*\s.*?(\d+)\s+\w{3}\s+\d+\s+\d{4}\s+\[\s*(\d+)\s+\d+\]\s+(.*?)\s*$")


def isoinfo_files(image: Path, start: int) -> dict[str, tuple[int, int]]:
    """The session's Joliet tree as isoinfo lists it: path -> (extent LBA, size)."""
    out = subprocess.run(["isoinfo", "-l", "-J", "-i", str(image), "-T", str(start)],
                         capture_output=True, text=True, check=True).stdout
    files, parent = {}, "/"
    for line in out.splitlines():
        if line.startswith("Directory listing of "):
            parent = line[len("Directory listing of "):].strip()
            continue
        m = LISTING.match(line)
        if m and m.group(1) == "-":
            files[parent + m.group(4)] = (int(m.group(3)), int(m.group(2)))
    return files


def expected_listing(disc: Disc) -> list[tuple[str, str, str | None, int | None]]:
    """What identification should list, worked out from isoinfo's listing of every
    session: (path, sha256 of the data at isoinfo's extent, mark, session) for the newest
    tree, then each older session's files that no later tree holds at the same extent."""
    data = disc.image.read_bytes()

    def digest(extent: int, size: int) -> str:
        return sha(data[extent * SECTOR:extent * SECTOR + size])

    newest = isoinfo_files(disc.image, disc.starts[-1])
    rows: list[tuple[str, str, str | None, int | None]] = [
        (p, digest(e, n), None, None) for p, (e, n) in newest.items()]
    held = {e for e, _ in newest.values()}
    paths = set(newest)
    for number in range(len(disc.starts) - 1, 0, -1):
        for path, (extent, size) in isoinfo_files(disc.image,
                                                  disc.starts[number - 1]).items():
            if extent in held:
                continue
            held.add(extent)
            mark = SUPERSEDED if path in paths else OLDER_ONLY
            rows.append((path, digest(extent, size), mark, number))
            paths.add(path)
    return sorted(rows)


def listed(report) -> list[tuple[str, str, str | None, int | None]]:
    rows = []
    for f in report.files:
        mark = next((w for w in f.warnings if w in (SUPERSEDED, OLDER_ONLY)), None)
        session = next((int(w[8:]) for w in f.warnings if w.startswith("session_")), None)
        rows.append((f.path, f.sha256, mark, session))
    return sorted(rows)


def identify(path: Path, **kw):
    return identify_image(path, Settings(), workers=1, **kw)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def by_path(report) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in report.files:
        out.setdefault(f.path, []).append(f)
    return out


# -- finding the sessions -------------------------------------------------------------

def test_two_sessions_found_with_and_without_a_toc(tmp_path):
    disc = burn(tmp_path, [(S1, False), (S2, True)])
    assert disc.starts == [0, 186 + FIRST_SESSION_GAP]  # 186: session 1 as written
    with Image(disc.image) as image:
        scanned = find_sessions(image.read, image.size)
        from_toc = find_sessions(image.read, image.size, disc.starts)
    assert scanned == from_toc
    assert [v.start_lba for v in scanned] == disc.starts
    for v, start, label in zip(scanned, disc.starts, ("S1", "S2"), strict=True):
        assert v.descriptor_lba == start + 16
        assert v.volume_end_lba == start + isoinfo_size(disc.image, start)
        assert v.label == label and v.has_joliet
    # the image holds the last session's whole volume, and not a sector more
    assert declared_end(scanned) == disc.image.stat().st_size
    assert declared_end(scanned) == scanned[1].volume_end_lba * SECTOR
    assert declared_end([]) == 0


def test_a_toc_start_without_a_volume_is_left_out(tmp_path):
    disc = burn(tmp_path, [(S1, False), (S2, True)])
    with Image(disc.image) as image:
        found = find_sessions(image.read, image.size, [0, 5000, disc.starts[1]])
    assert [v.start_lba for v in found] == disc.starts


def test_three_sessions_found_by_scanning(tmp_path):
    disc = burn(tmp_path, [(S1, False), (S2, True), ({"e.txt": b"e\n"}, False)])
    assert disc.starts[2] - disc.starts[1] > LATER_SESSION_GAP
    with Image(disc.image) as image:
        found = find_sessions(image.read, image.size)
    assert [v.start_lba for v in found] == disc.starts
    assert [v.volume_end_lba for v in found] == [
        s + isoinfo_size(disc.image, s) for s in disc.starts]
    assert declared_end(found) == disc.image.stat().st_size


def test_an_image_written_for_another_address_is_no_session(tmp_path):
    """A plain ISO (its extents counted from its own start) placed after session 1, as a
    careless concatenation would: its descriptors look right, its root does not."""
    disc = burn(tmp_path, [(S1, False)])
    plain = tmp_path / "plain.iso"
    subprocess.run(["genisoimage", "-quiet", "-o", str(plain), str(tree(tmp_path / "p", S2))],
                   check=True)
    with disc.image.open("ab") as f:
        f.write(bytes(100 * SECTOR) + plain.read_bytes())
    with Image(disc.image) as image:
        found = find_sessions(image.read, image.size)
    assert [v.start_lba for v in found] == [0]


def test_an_image_stored_as_a_file_is_not_a_session(tmp_path):
    inner = tmp_path / "inner.iso"
    subprocess.run(["genisoimage", "-quiet", "-o", str(inner), str(tree(tmp_path / "i", S1))],
                   check=True)
    disc = burn(tmp_path, [(S1, False), ({"inner.iso": inner.read_bytes()}, True)])
    with Image(disc.image) as image:
        found = find_sessions(image.read, image.size)
    assert [v.start_lba for v in found] == disc.starts


def test_no_volume_at_lba_0_means_no_scan(tmp_path):
    """A disc whose data session comes after an audio session (Enhanced CD): only the
    TOC's start finds it."""
    disc = burn(tmp_path, [(S1, False)], lead=3000)
    with Image(disc.image) as image:
        assert find_sessions(image.read, image.size) == []
        found = find_sessions(image.read, image.size, [3000])
    assert [v.volume_end_lba for v in found] == [3000 + isoinfo_size(disc.image, 3000)]
    report = identify(disc.image, sessions=[0, 3000])
    assert sorted(f.path for f in report.files) == ["/a.txt", "/b.txt", "/dir/c.txt"]
    assert not any(w.startswith("session_") for f in report.files for w in f.warnings)


@pytest.mark.skipif(not shutil.which("udfinfo"), reason="udfinfo (Debian udftools) missing")
def test_a_udf_bridge_partition_end_matches_udfinfo(tmp_path):
    image = tmp_path / "udf.iso"
    subprocess.run(["genisoimage", "-quiet", "-udf", "-J", "-V", "U1", "-o", str(image),
                    str(tree(tmp_path / "u", S1))], check=True)
    out = subprocess.run(["udfinfo", str(image)], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"start=(\d+), blocks=(\d+), type=PSPACE", out)
    with Image(image) as img:
        (v,) = find_sessions(img.read, img.size)
    assert v.udf_end_lba == int(m.group(1)) + int(m.group(2))
    assert declared_end([v]) == max(v.volume_end_lba, v.udf_end_lba) * SECTOR


# -- identification --------------------------------------------------------------------

def test_two_sessions_listed_newest_tree_first_with_the_older_version_marked(tmp_path):
    disc = burn(tmp_path, [(S1, False), (S2, True)])
    for sessions in (None, disc.starts):
        report = identify(disc.image, sessions=sessions)
        files = by_path(report)
        assert report.volumes[0].label == "S2"
        assert [f.sha256 for f in files["/d.txt"]] == [sha(b"dee\n")]
        newest, older = files["/b.txt"]  # the newest version is THE file, listed first
        assert newest.sha256 == sha(b"bee two\n") and not {SUPERSEDED, OLDER_ONLY} & set(
            newest.warnings)
        assert older.sha256 == sha(b"bee\n")
        assert SUPERSEDED in older.warnings and "session_1" in older.warnings
        # carried over from session 1 unchanged: listed once, unmarked
        assert [f.sha256 for f in files["/a.txt"]] == [sha(b"one\n")]
        assert "session_1" not in files["/a.txt"][0].warnings
        assert listed(report) == expected_listing(disc)
        assert report.volumes[0].files == 5 and report.volumes[0].directories == 1


def test_three_sessions_files_a_later_session_dropped_are_marked(tmp_path):
    disc = burn(tmp_path, [(S1, False), (S2, True), ({"e.txt": b"e\n"}, False)])
    report = identify(disc.image)
    files = by_path(report)
    (e,) = files["/e.txt"]
    assert not any(w.startswith("session_") or w in (SUPERSEDED, OLDER_ONLY)
                   for w in e.warnings)
    for path, data in (("/a.txt", b"one\n"), ("/d.txt", b"dee\n"), ("/dir/c.txt", b"sea\n")):
        (f,) = files[path]
        assert f.sha256 == sha(data)
        assert OLDER_ONLY in f.warnings and "session_2" in f.warnings  # last seen there
    newer, oldest = files["/b.txt"]
    assert newer.sha256 == sha(b"bee two\n") and OLDER_ONLY in newer.warnings
    assert oldest.sha256 == sha(b"bee\n") and SUPERSEDED in oldest.warnings
    assert "session_1" in oldest.warnings
    assert listed(report) == expected_listing(disc)
    assert report.volumes[0].label == "S3" and report.volumes[0].directories == 1


def test_a_single_session_image_is_listed_as_before(tmp_path):
    disc = burn(tmp_path, [(S1, False)])
    with Image(disc.image) as image:
        (v,) = find_sessions(image.read, image.size)
        volumes, _ = find_volumes(image)
    assert v.volume_end_lba == isoinfo_size(disc.image, 0)
    assert volumes[0].sessions == []
    report = identify(disc.image)
    assert sorted(f.path for f in report.files) == ["/a.txt", "/b.txt", "/dir/c.txt"]
    assert not any(w.startswith("session_") or w in (SUPERSEDED, OLDER_ONLY)
                   for f in report.files for w in f.warnings)


def test_a_damaged_older_session_is_an_error_not_a_failure(tmp_path):
    disc = burn(tmp_path, [(S1, False), (S2, True)])
    with disc.image.open("r+b") as f:  # session 1's path table size: absurd
        f.seek(16 * SECTOR + 132)
        f.write((10 ** 9).to_bytes(4, "little") + (10 ** 9).to_bytes(4, "big"))
    report = identify(disc.image, sessions=disc.starts)
    # the walk reads directory records, not the path table: session 1 is still listed,
    # with the older b.txt it holds, and the damage is said
    listed = sorted((f.path, tuple(w for w in f.warnings if "session" in w or w == "superseded"))
                    for f in report.files)
    assert listed == [("/a.txt", ()), ("/b.txt", ()), ("/b.txt", ("superseded", "session_1")),
                      ("/d.txt", ()), ("/dir/c.txt", ())]
    assert report.volumes[0].errors == [
        "session 1: path table outside the volume (block 20, 1000000000 bytes)"]
