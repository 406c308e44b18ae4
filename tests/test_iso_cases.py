"""The ISO 9660 reader on the discs that lost volumes or bytes before (scripts/
build_iso_cases.py): every listing and every file's SHA-256 held to bsdtar (libarchive),
isoinfo (cdrkit) or xorriso (libisofs), whichever reads the case right; a damaged case to
the same disc built without the damage."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import random
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fsfixtures import tool
from workbench.config import Settings
from workbench.identify.engine import identify_image
from workbench.identify.iso import IsoReader
from workbench.identify.model import Image
from workbench.identify.pool import IdentifyPool
from workbench.identify.volumes import find_volumes

cases = importlib.import_module("build_iso_cases")  # scripts/ is on the path (fsfixtures)

SECTOR = 2048


@pytest.fixture(scope="module")
def pool():
    with IdentifyPool(0) as p:
        yield p


@pytest.fixture(autouse=True)
def _tools() -> None:
    for name in ("genisoimage", "isoinfo", "bsdtar", "xorriso"):
        tool(name)


def identify(image: Path, pool: IdentifyPool, codepage: str = "cp932"):
    return identify_image(image, replace(Settings(), legacy_codepage=codepage), pool=pool)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(*args: str) -> bytes:
    return subprocess.run(args, check=True, capture_output=True,
                          env={**os.environ, "LC_ALL": "C"}).stdout


def unescape(text: bytes) -> bytes:
    """bsdtar's \\ooo escapes of bytes it will not print, back to the bytes."""
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), text)


def bsdtar_listing(image: Path) -> dict[bytes, tuple[str, int, bytes | None]]:
    """path -> (kind d/-/l, size, link target) as `bsdtar -tvf` lists the image."""
    out = {}
    for line in run("bsdtar", "-tvf", str(image)).splitlines():
        fields = line.split(None, 8)
        path, link = fields[8], None
        if fields[0].startswith(b"l"):
            path, link = path.split(b" -> ", 1)
        if path != b".":
            out[b"/" + unescape(path)] = (fields[0][:1].decode(), int(fields[4]), link)
    return out


def bsdtar_bytes(image: Path, path: bytes) -> bytes:
    return subprocess.run([b"bsdtar", b"-xOf", os.fsencode(image), path.lstrip(b"/")],
                          check=True, capture_output=True).stdout


def isoinfo_paths(image: Path, *flags: str) -> set[str]:
    return set(run("isoinfo", *flags, "-f", "-i", str(image)).decode().splitlines())


def isoinfo_records(image: Path, *flags: str) -> list[tuple[str, int, int]]:
    """(name, size, extent) of every record `isoinfo -l` shows (. and .. left out)."""
    rows = []
    for line in run("isoinfo", *flags, "-l", "-i", str(image)).decode(
            "latin-1").splitlines():
        m = re.match(r"[-dl?][-rwxsStT]{9}\s+\d+\s+\d+\s+\d+\s+(\d+) .{11} \[\s*(\d+) "
                     r"[0-9A-F]+\]?\s+(.*?) ?$", line)
        if m and m[3] not in (".", ".."):
            rows.append((m[3], int(m[1]), int(m[2])))
    return rows


def ours(report) -> dict[str, tuple[str, int, bytes | None]]:
    return {f.path: ("l" if f.link is not None else "-", f.size,
                     None if f.link is None else f.link.encode()) for f in report.files}


def files_of(listing: dict, codec: str = "utf-8") -> dict[str, tuple[str, int, bytes | None]]:
    """The files of a bsdtar listing, paths decoded as the reader should decode them."""
    return {p.decode(codec): v for p, v in listing.items() if v[0] != "d"}


def check_against_bsdtar(image: Path, report, codec: str = "utf-8") -> None:
    """The same files, sizes and links as bsdtar, each file's bytes as bsdtar extracts."""
    theirs = bsdtar_listing(image)
    assert ours(report) == files_of(theirs, codec)
    assert report.volumes[0].directories == sum(v[0] == "d" for v in theirs.values())
    for f in report.files:
        if f.link is None:
            assert f.sha256 == sha(bsdtar_bytes(image, f.path.encode(codec))), f.path
    assert report.volumes[0].complete and not report.volumes[0].errors


# -- 1. duplicate Joliet names, zisofs, one bad Rock Ridge entry, a CE loop ------------------

def test_duplicate_joliet_names_lose_nothing(tmp_path, pool):
    image = cases.dup_joliet(tmp_path)
    joliet = isoinfo_paths(image, "-J")
    assert len(joliet) < len(cases.DUP_NAMES)  # isoinfo -J: '_' twice (a set of 3)
    report = identify(image, pool)
    check_against_bsdtar(image, report)
    assert {f.path for f in report.files} == {"/" + n for n in cases.DUP_NAMES}
    assert isoinfo_paths(image, "-R") == {f.path for f in report.files}
    assert not any(f.errors for f in report.files)


def test_zisofs_files_are_read_decompressed(tmp_path, pool):
    image = cases.zisofs(tmp_path)
    source = cases.zisofs_files()
    stored = {name: size for name, size, _ in isoinfo_records(image, "-R")}
    assert stored["text.txt"] < len(source["text.txt"]) // 10  # really compressed
    report = identify(image, pool)
    assert ours(report) == files_of(bsdtar_listing(image))
    for f in report.files:
        data = source[f.path[1:]]
        assert (f.size, f.sha256) == (len(data), sha(data)), f.path
        extracted = tmp_path / "x" / f.path[1:]
        run("xorriso", "-report_about", "SORRY", "-osirrox", "on", "-indev", str(image),
            "-extract", f.path, str(extracted))
        assert f.sha256 == sha(extracted.read_bytes())  # libisofs decompresses too
        assert not f.errors and ("zisofs" in f.warnings) == (f.size > 1)
    # bsdtar 3.6.2 reads zeros.bin (all zero blocks) 32 KiB short: not held to it here


def test_a_damaged_zisofs_block_is_an_error_not_wrong_bytes(tmp_path, pool):
    image = cases.zisofs(tmp_path)
    extent = {n: e for n, _, e in isoinfo_records(image, "-R")}["text.txt"]
    with image.open("r+b") as f:
        f.seek(extent * SECTOR + 16)
        first = int.from_bytes(f.read(4), "little")  # block 0's zlib stream
        f.seek(extent * SECTOR + first + 8)
        f.write(b"\xff" * 16)
    report = identify(image, pool)
    files = {f.path: f for f in report.files}
    assert any("zisofs block 0" in e for e in files["/text.txt"].errors)
    assert not files["/rand.bin"].errors and report.volumes[0].complete


def test_one_bad_rock_ridge_entry_is_named_from_joliet(tmp_path, pool):
    image = cases.bad_rr(tmp_path)
    report = identify(image, pool)
    files = {f.path: f for f in report.files}
    # the Joliet names (isoinfo -J lists the directory too), victim.txt's among them
    assert set(files) | {"/Victim Dir"} == isoinfo_paths(image, "-J")
    assert files["/victim.txt"].errors == [
        "Rock Ridge damaged: bad SUSP entry b'NM' (length 240); name from Joliet"]
    assert not files["/good1.txt"].errors and not files["/good2.txt"].errors
    assert "/Victim Dir/inside.txt" in files  # the directory named from Joliet too
    assert report.volumes[0].errors == [  # a folder's errors: the volume's (files listed)
        "/Victim Dir: Rock Ridge damaged: bad SUSP entry b'NM' (length 240); name from Joliet"]
    for path, f in files.items():  # the bytes at each record, as isoinfo extracts them
        data = run("isoinfo", "-J", "-i", str(image), "-x", path)
        assert f.sha256 == sha(data) and f.size == len(data)
    assert report.volumes[0].complete


def test_a_continuation_area_loop_damages_one_entry(tmp_path, pool):
    image = cases.ce_loop(tmp_path)
    clean = tmp_path / "clean.iso"
    subprocess.run(["genisoimage", "-quiet", "-J", "-R", "-o", str(clean),
                    str(tmp_path / "ce_loop")], check=True)
    # bsdtar refuses the whole image (and isoinfo -R crashes on it): the clean twin it is
    assert subprocess.run(["bsdtar", "-tf", str(image)], capture_output=True).returncode
    report = identify(image, pool)
    assert ours(report) == files_of(bsdtar_listing(clean))
    long = {f.path: f for f in report.files}["/" + cases.LONG]
    assert long.errors == ["Rock Ridge damaged: continuation area loop"]
    for f in report.files:
        assert f.sha256 == sha(bsdtar_bytes(clean, f.path.encode()))


def test_a_broken_rock_ridge_tree_falls_back_to_joliet_then_iso(tmp_path, pool):
    src = cases._tree(tmp_path / "src", {"Mixed Case.txt": b"a", "dir/inner.txt": b"b"})
    image = cases._genisoimage(src, tmp_path / "fb.iso", "-J", "-R")
    pvd_root = 16 * SECTOR + 156 + 2
    with image.open("r+b") as f:  # the primary root directory, far past the end
        f.seek(pvd_root)
        f.write((10 ** 8).to_bytes(4, "little") + (10 ** 8).to_bytes(4, "big"))
    report = identify(image, pool)
    assert {f.path for f in report.files} == {"/Mixed Case.txt", "/dir/inner.txt"}
    assert report.volumes[0].fs_type == "iso9660+joliet"
    assert any(e.startswith("primary root directory unreadable")
               for e in report.volumes[0].errors)
    plain = cases._genisoimage(src, tmp_path / "plain.iso", "-J")
    with plain.open("r+b") as f:  # the Joliet descriptor's root, after the primary one
        f.seek(17 * SECTOR + 156 + 2)
        f.write((10 ** 8).to_bytes(4, "little") + (10 ** 8).to_bytes(4, "big"))
    report = identify(plain, pool)
    assert {f.path for f in report.files} == {
        p.split(";")[0] for p in isoinfo_paths(plain) if ";" in p} == {
        "/MIXED_CA.TXT", "/DIR/INNER.TXT"}
    assert any(e.startswith("joliet root directory unreadable")
               for e in report.volumes[0].errors)


def test_an_unreadable_directory_costs_only_itself(tmp_path, pool):
    src = cases._tree(tmp_path / "src", {"a/one.txt": b"1", "b/two.txt": b"2", "c.txt": b"3"})
    image = cases._genisoimage(src, tmp_path / "dir.iso", "-R")
    extent = {n: e for n, _, e in isoinfo_records(image, "-R")}["a"]
    data = bytearray(image.read_bytes())
    for pos in range(0, len(data), SECTOR):  # every record of /a: its extent far away
        for hit in re.finditer(re.escape(extent.to_bytes(4, "little")
                                         + extent.to_bytes(4, "big")), data[pos:pos + SECTOR]):
            data[pos + hit.start():pos + hit.start() + 8] = (
                (10 ** 8).to_bytes(4, "little") + (10 ** 8).to_bytes(4, "big"))
    image.write_bytes(bytes(data))
    report = identify(image, pool)
    assert {f.path for f in report.files} == {"/b/two.txt", "/c.txt"}
    assert any(e.startswith("/a: directory lies beyond") for e in report.volumes[0].errors)


# -- 2. multi-extent files, relocated directories, symbolic links ----------------------------

def test_a_multi_extent_file_is_one_file_whole(tmp_path, pool):
    image = cases.multi_extent(tmp_path)
    records = [r for r in isoinfo_records(image, "-R") if r[0] == "bigX"]
    assert [size for _, size, _ in records] == [len(d) for d in cases.MULTI_PARTS.values()]
    report = identify(image, pool)
    check_against_bsdtar(image, report)
    big = {f.path: f for f in report.files}["/bigX"]
    whole = b"".join(cases.MULTI_PARTS.values())
    assert (big.size, big.sha256) == (len(whole), sha(whole))
    assert big.sha256 == sha(run("isoinfo", "-R", "-i", str(image), "-x", "/bigX"))
    with Image(image) as img:
        entry = next(e for e in IsoReader(img, find_volumes(img)[0][0], "cp932").walk()
                     if e.path == "/bigX")
    assert entry.extents == [(e * SECTOR, n) for _, n, e in records]  # in record order


def test_relocated_directories_and_symlinks(tmp_path, pool):
    image = cases.deep(tmp_path)
    assert "/rr_moved" in isoinfo_paths(image, "-R")  # genisoimage did relocate
    report = identify(image, pool)
    check_against_bsdtar(image, report)
    files = {f.path: f for f in report.files}
    assert "/" + cases.DEEP + "/deep.txt" in files
    assert not any("rr_moved" in p for p in files)
    assert {p: f.link for p, f in files.items() if f.link} == {
        "/link": "a/b/c", "/abs": "/etc/passwd", "/a/rel": "../../x"}
    assert not any(f.errors for f in report.files)


def test_a_relocated_directory_without_its_stand_in_is_listed_where_it_was_moved(
        tmp_path, pool):
    image = cases.deep(tmp_path)
    data = image.read_bytes()
    assert data.count(b"CL\x0c\x01") == 1
    image.write_bytes(data.replace(b"CL\x0c\x01", b"XX\x0c\x01"))  # the CL entry unknown
    report = identify(image, pool)
    files = {f.path: f for f in report.files}
    moved = "/rr_moved/" + cases.DEEP.split("/", 7)[-1] + "/deep.txt"
    assert files[moved].sha256 == sha(b"deep\n")
    assert "/rr_moved/h: relocated directory without its CL stand-in: listed where Rock " \
        "Ridge moved it" in report.volumes[0].errors


def test_rock_ridge_after_cd_xa_records(tmp_path, pool):
    """With -XA each System Use area opens with a 14-byte CD-XA record: isoinfo -R reads
    the Rock Ridge names past it (bsdtar 3.6.2 does not); the listing is the one of the
    same tree without -XA, held to bsdtar."""
    image = cases.deep(tmp_path, "-XA")
    twin = cases.deep(tmp_path)
    assert "/top.txt" in isoinfo_paths(image, "-R")
    head = 64 * SECTOR  # the directories: XA records there, none in the twin
    assert image.read_bytes()[:head].count(b"XA") > twin.read_bytes()[:head].count(b"XA") + 10
    report = identify(image, pool)
    assert ours(report) == files_of(bsdtar_listing(twin))
    for f in report.files:
        if f.link is None:
            assert f.sha256 == sha(bsdtar_bytes(twin, f.path.encode()))


# -- 3. Rock Ridge names in the station's legacy code page --------------------------------

@pytest.mark.parametrize("codec", ["euc_jp", "cp932"])
def test_legacy_rock_ridge_names(tmp_path, pool, codec):
    image = cases.legacy(tmp_path, codec)
    report = identify(image, pool, codepage=codec)
    check_against_bsdtar(image, report, codec)  # bsdtar prints the raw name bytes
    names = {f.path.rsplit("/", 1)[-1]: f for f in report.files}
    for name in cases.EUCJP_NAMES:
        f = names[name]
        assert bytes.fromhex(f.name_raw_hex) == name.encode(codec)
        assert "name_in_legacy_codepage" in f.warnings and "undecodable_name" not in f.warnings
    assert "/dir/資料/plain.txt" in {f.path for f in report.files}


def test_a_name_in_no_code_page_is_kept_raw_and_flagged(tmp_path, pool):
    image = cases.legacy(tmp_path, "cp932")
    report = identify(image, pool, codepage="ascii")
    f = next(f for f in report.files if f.size == 13 and f.path.endswith(".txt"))
    assert bytes.fromhex(f.name_raw_hex) == "日本語.txt".encode("cp932")
    assert "undecodable_name" in f.warnings


# -- many files ------------------------------------------------------------------------------

def test_a_few_thousand_files_in_directories_of_many_sectors(tmp_path):
    image = cases.many(tmp_path, 3000)
    with Image(image) as img:
        entries = list(IsoReader(img, find_volumes(img)[0][0], "cp932").walk())
    listed = {e.path for e in entries if not e.is_dir}
    assert listed == set(files_of(bsdtar_listing(image)))
    assert len(listed) == 3000


# -- damage anywhere in the metadata -------------------------------------------------------

def test_random_damage_never_raises_from_the_walk(tmp_path):
    """Bytes of the descriptors, directories and continuation areas overwritten at random
    (seeded): the reader lists what it can and never raises past its constructor."""
    images = [cases.deep(tmp_path), cases.zisofs(tmp_path), cases.ce_loop(tmp_path)]
    rng = random.Random(12)
    for image in images:
        pristine = image.read_bytes()
        first_file = min(e for _, n, e in isoinfo_records(image) if n and e > 17)
        for _ in range(60):
            data = bytearray(pristine)
            for _ in range(rng.choice((1, 4, 32))):
                data[rng.randrange(16 * SECTOR, first_file * SECTOR)] = rng.randrange(256)
            image.write_bytes(bytes(data))
            with Image(image) as img:
                volumes, _ = find_volumes(img)
                if not volumes or not volumes[0].fs_type.startswith("iso9660"):
                    continue
                try:
                    reader = IsoReader(img, volumes[0], "cp932")
                except ValueError:
                    continue  # no descriptor or root left: the volume's error, said so
                for entry in reader.walk():
                    if entry.extents is None and not entry.is_dir and entry.link is None:
                        with contextlib.suppress(ValueError):  # the engine records it
                            b"".join(reader.read(entry))


# -- sessions --------------------------------------------------------------------------------

def test_an_older_session_with_duplicate_joliet_names_and_a_bad_directory(tmp_path, pool):
    """Session 1 holds the duplicate Joliet names and a folder whose extent is damaged;
    session 2 only a new readme.txt: the older files are listed, marked, and the damaged
    folder is session 1's error."""
    from tests.test_sessions import burn
    from workbench.identify.iso import OLDER_ONLY, SUPERSEDED
    s1 = {n: n.encode() for n in cases.DUP_NAMES} | {"old/only.txt": b"old\n"}
    disc = burn(tmp_path, [(s1, False), ({"readme.txt": b"v2\n"}, False)])
    extent = {n: e for n, _, e in isoinfo_records(disc.image, "-R")}["old"]  # session 1
    data = bytearray(disc.image.read_bytes())
    both = extent.to_bytes(4, "little") + extent.to_bytes(4, "big")
    assert data.count(both, 0, disc.starts[1] * SECTOR) == 2  # /old's record and its '.'
    data[:disc.starts[1] * SECTOR] = data[:disc.starts[1] * SECTOR].replace(
        both, (10 ** 8).to_bytes(4, "little") + (10 ** 8).to_bytes(4, "big"))
    disc.image.write_bytes(bytes(data))
    report = identify(disc.image, pool)
    rows = sorted((f.path, [w for w in f.warnings if w in (OLDER_ONLY, SUPERSEDED)], f.sha256)
                  for f in report.files)
    assert rows == sorted([("/readme.txt", [], sha(b"v2\n")),
                           ("/readme.txt", [SUPERSEDED], sha(b"readme.txt"))]
                          + [("/" + n, [OLDER_ONLY], sha(n.encode()))
                             for n in cases.DUP_NAMES if n != "readme.txt"])
    assert any(e.startswith("session 1: /old: directory lies beyond")
               for e in report.volumes[0].errors)


def test_a_zisofs_file_on_bad_sectors_is_damaged_not_unknown(tmp_path, pool):
    """zisofs bytes are made by the reader (no extents): the compressed ranges they come
    from (FileEntry.stored) still tell the map's damage."""
    from workbench.identify.iso import IsoReader
    from workbench.identify.model import Image
    from workbench.identify.volumes import find_volumes

    image = cases.zisofs(tmp_path)
    with Image(image) as img:
        volume = find_volumes(img)[0][0]
        stored = {e.path: e.stored for e in IsoReader(img, volume, "cp932").walk()
                  if not e.is_dir}
    victim = next(p for p, s in stored.items() if s)
    start, _ = stored[victim][0]
    size = image.stat().st_size
    mapfile = tmp_path / "image.map"
    mapfile.write_text(f"0x0 +\n0x0 {start:#x} +\n{start:#x} 0x800 -\n"
                       f"{start + 0x800:#x} {size - start - 0x800:#x} +\n")
    report = identify_image(image, Settings(), map_path=mapfile, pool=pool)
    files = {f.path: f for f in report.files}
    lost = sum(max(0, min(a + n, start + 0x800) - max(a, start)) for a, n in stored[victim])
    assert files[victim].damaged is True and files[victim].bytes_lost == lost > 0
    assert all(f.damaged is False for p, f in files.items() if p != victim)
