"""Classic HFS: our catalog reader against hfsutils (hls -a, hcopy -r, hcopy -m) on volumes
hformat makes; every file (Desktop and invisible files too), forks as AppleDouble."""

from __future__ import annotations

import binascii
import hashlib
import os
import re
import struct
import subprocess
from pathlib import Path

import pytest

from tests import fsfixtures as fx
from workbench.config import Settings
from workbench.identify import hfs_appledouble as appledouble
from workbench.identify.engine import identify_image
from workbench.identify.hfs import HfsReader
from workbench.identify.model import FileEntry, Image, Volume
from workbench.identify.pool import IdentifyPool

JP = "報告書".encode("shift_jis")  # a MacJapanese name (kanji are the same in both)
RSRC = b"\x00\x00\x01\x00" + bytes(252) + b"resource fork payload " * 40


def macbinary(name: bytes, data: bytes, rsrc: bytes, ftype: bytes = b"TEXT",
              creator: bytes = b"ttxt", flags: int = 0) -> bytes:
    """A MacBinary II file (what hcopy -m reads): 128-byte header with CRC, then both forks
    each padded to 128 bytes."""
    head = bytearray(128)
    head[1] = len(name)
    head[2:2 + len(name)] = name
    head[65:69], head[69:73] = ftype, creator
    head[73] = flags >> 8
    struct.pack_into(">II", head, 83, len(data), len(rsrc))
    head[101] = flags & 0xFF
    head[122] = head[123] = 129
    struct.pack_into(">H", head, 124, binascii.crc_hqx(bytes(head[:124]), 0))

    def pad(b: bytes) -> bytes:
        return b + bytes(-len(b) % 128)
    return bytes(head) + pad(data) + pad(rsrc)


def unmacbinary(blob: bytes) -> tuple[bytes, bytes, bytes]:
    """(data fork, resource fork, type+creator) of a MacBinary file."""
    dlen, rlen = struct.unpack_from(">II", blob, 83)
    data = blob[128:128 + dlen]
    rstart = 128 + dlen + (-dlen % 128)
    return data, blob[rstart:rstart + rlen], blob[65:73]


class Hfsutils:
    """hfsutils on one image; HOME is the test's folder (hmount keeps its state there)."""

    def __init__(self, tmp: Path, img: Path) -> None:
        self.tmp, self.img = tmp, img
        self.env = {**os.environ, "HOME": str(tmp)}

    def run(self, *args: str | bytes, stdin: bytes | None = None) -> bytes:
        return subprocess.run([fx.tool(str(args[0])), *args[1:]], env=self.env, check=True,
                              capture_output=True, input=stdin, cwd=self.tmp).stdout

    def listing(self) -> dict[bytes, str]:
        """Raw HFS path (':'-separated, from the root) -> 'f' or 'd', from hls -a -R -b."""
        out = self.run("hls", "-a", "-R", "-b", "-l", ":")
        found: dict[bytes, str] = {}
        folder = b""
        for line in out.split(b"\n"):
            if line.endswith(b":") and not line.startswith((b"f", b"d")):
                folder = unescape(line[:-1]).lstrip(b":")  # ":Folder:Sub:"
                continue
            m = re.match(rb"([fd])\S*\s+.*? \w{3} [ \d]\d (?:\d\d:\d\d| \d{4}) (.*)$", line)
            if m:
                found[(folder + b":" if folder else b"") + unescape(m.group(2))] = \
                    m.group(1).decode()
        return found


def unescape(b: bytes) -> bytes:
    """hls -b: octal escapes for non-printable bytes, a backslash before a space."""
    return re.sub(rb"\\([0-7]{3}|.)", lambda m: bytes([int(m.group(1), 8)])
                  if len(m.group(1)) == 3 else m.group(1), b)


def build(tmp: Path, size_kib: int = 1600) -> tuple[Path, Hfsutils, dict[bytes, bytes]]:
    """An hformat volume with: Desktop (invisible, resource fork), Desktop DB/DF, a file with
    both forks, a MacJapanese name in a folder, and a file fragmented into more extents
    than the catalog holds (so the extents overflow file is read). Returns the image, the
    tools and raw path -> data fork."""
    img = tmp / "hfs.img"
    img.write_bytes(bytes(size_kib * 1024))
    h = Hfsutils(tmp, img)
    h.run("hformat", "-l", "Mac Disk", str(img))
    h.run("hmount", str(img))
    data: dict[bytes, bytes] = {}

    def put(path: bytes, blob: bytes, mode: str = "-r") -> None:
        src = tmp / "src.bin"
        src.write_bytes(blob)
        h.run("hcopy", mode, str(src), b":" + path)

    for name, rsrc, ftype in ((b"Desktop", RSRC, b"FNDRERIK"), (b"Desktop DB", b"", b"BTFLDMGR"),
                              (b"Desktop DF", b"", b"DTFLDMGR")):
        put(name, macbinary(name, b"", rsrc, ftype[:4], ftype[4:], 0x4000), "-m")
        data[name] = b""
    put(b"Resume", macbinary(b"Resume", fx.FILES["notes.txt"], RSRC), "-m")
    data[b"Resume"] = fx.FILES["notes.txt"]
    h.run("hmkdir", ":Folder")
    put(b"Folder:" + JP, fx.FILES["report.pdf"])
    data[b"Folder:" + JP] = fx.FILES["report.pdf"]
    # fill the volume with small files, free every other one, then write a file that
    # can only be stored in many pieces
    n = 0
    while True:
        try:
            put(b"fill%03d" % n, bytes([n % 251]) * 4096)
        except subprocess.CalledProcessError:  # volume full: drop what was left of it
            subprocess.run(["hdel", b":fill%03d" % n], env=h.env, capture_output=True)
            break
        n += 1
    for k in range(0, n, 2):
        h.run("hdel", b":fill%03d" % k)
    for k in range(1, n, 2):
        data[b"fill%03d" % k] = bytes([k % 251]) * 4096
    big = hashlib.sha256(b"seed").digest() * (4096 * 12 // 32)
    put(b"Fragmented", big)
    data[b"Fragmented"] = big
    h.run("hattrib", "+i", ":Fragmented")
    h.run("humount")
    h.run("hmount", str(img))
    return img, h, data


def entry_bytes(img: Image, reader: HfsReader, entry: FileEntry) -> bytes:
    if entry.extents is not None:
        return b"".join(img.read(s, n) for s, n in entry.extents)
    return b"".join(reader.read(entry))


def open_reader(path: Path, codepage: str = "") -> tuple[Image, HfsReader]:
    img = Image(path)
    return img, HfsReader(img, Volume(0, 0, img.size, "none"), codepage)


def test_every_file_as_hls_lists_it_with_the_bytes_hcopy_gives(tmp_path):
    path, h, data = build(tmp_path)
    listed = h.listing()
    img, reader = open_reader(path, "cp932")
    entries = list(reader.walk())
    assert reader.label == "Mac Disk" and reader.errors == []
    ours = {e.path: e for e in entries}
    plain = {p: e for p, e in ours.items() if "appledouble" not in e.warnings}
    want = {"/" + raw.replace(b":", b"/").decode("shift_jis"): kind
            for raw, kind in listed.items()}
    assert {p: "d" if e.is_dir else "f" for p, e in plain.items()} == want
    assert {"/Desktop", "/Desktop DB", "/Desktop DF", "/Fragmented"} <= set(want)
    assert len(want) > 50
    for raw in listed:
        if listed[raw] != "f":
            continue
        entry = ours["/" + raw.replace(b":", b"/").decode("shift_jis")]
        got = entry_bytes(img, reader, entry)
        assert got == h.run("hcopy", "-r", b":" + raw, "-"), raw
        assert got == data[raw] and entry.size == len(got) and not entry.errors
    assert len(ours["/Fragmented"].extents or []) > 3  # read through the overflow file
    assert ours["/Folder/報告書"].name_raw == JP.hex()


def test_resource_forks_and_finder_info_as_appledouble(tmp_path):
    path, h, _ = build(tmp_path)
    img, reader = open_reader(path)
    ours = {e.path: e for e in reader.walk()}
    for name in ("Desktop", "Resume", "Desktop DB"):
        entry = ours["/._" + name]
        assert "appledouble" in entry.warnings
        parts = appledouble.parse(entry_bytes(img, reader, entry))
        _, rsrc, type_creator = unmacbinary(h.run("hcopy", "-m", ":" + name, "-"))
        assert parts[appledouble.RESOURCE_FORK] == rsrc
        assert parts[appledouble.FINDER_INFO][:8] == type_creator
        assert entry.size == len(entry_bytes(img, reader, entry))
    assert appledouble.parse(entry_bytes(img, reader, ours["/._Desktop"]))[2] == RSRC
    # Desktop is invisible (Finder flag 0x4000)
    assert appledouble.parse(entry_bytes(img, reader, ours["/._Desktop"]))[9][8] & 0x40


def test_identification_covers_forks_and_names(tmp_path):
    path, _, data = build(tmp_path)
    with IdentifyPool(0) as pool:
        report = identify_image(path, Settings(legacy_codepage="cp932"), pool=pool)
    vol = report.volumes[0]
    assert (vol.fs_type, vol.label, vol.errors, vol.complete) == ("hfs", "Mac Disk", [], True)
    files = {f.path: f for f in report.files}
    assert files["/Folder/報告書"].puid == "fmt/18"
    assert files["/Resume"].sha256 == hashlib.sha256(data[b"Resume"]).hexdigest()
    assert files["/._Resume"].puid and not files["/._Resume"].errors
    assert all(not f.errors for f in report.files)


def test_macjapanese_and_macroman_names(tmp_path):
    img = tmp_path / "names.img"
    img.write_bytes(bytes(800 * 1024))
    h = Hfsutils(tmp_path, img)
    h.run("hformat", "-l", "Names", str(img))
    h.run("hmount", str(img))
    (tmp_path / "x").write_bytes(b"x")
    for raw in (b"caf\x8e", JP + b"\x5c", b"\x85\x40bad", b"Roman\xa9"):
        h.run("hcopy", "-r", str(tmp_path / "x"), b":" + raw)
    h.run("humount")
    # the Finder info script byte of "Roman\xa9" says Roman (flag 0x80, script 0)
    blob = bytearray(img.read_bytes())
    key = blob.index(b"\x06Roman\xa9", 2048)
    key_len = blob[key - 6] + 1  # the catalog key of that name; its record follows
    assert blob[key - 5] == 0 and key_len >= 13
    blob[key - 6 + key_len + (key_len & 1) + 64] = 0x80
    img.write_bytes(bytes(blob))
    roman = {e.path: e for e in open_reader(img)[1].walk()}
    assert "/café" in roman and roman["/café"].name_raw == b"caf\x8e".hex()
    assert "/Roman©" in roman and not roman["/café"].warnings
    japanese = {e.path: e for e in open_reader(img, "cp932")[1].walk()}
    assert "/報告書\u00a5" in japanese  # MacJapanese 0x5C is the yen sign
    assert "/Roman©" in japanese  # its script byte wins over the station's code page
    # not MacJapanese: shown as MacRoman, marked, raw bytes kept
    bad = japanese["/Ö@bad"]
    assert bad.name_raw == b"\x85\x40bad".hex() and "name_not_mac_japanese" in bad.warnings
    assert "name_not_mac_japanese" in japanese["/café"].warnings
    assert japanese["/._café"].name_raw == b"._caf\x8e".hex()


def test_undecodable_macjapanese_bytes_are_flagged():
    from workbench.identify.hfs_names import decode_mac
    assert decode_mac(b"\x85\x40", "mac_japanese") == ("\ufffd", False)
    assert decode_mac(b"\x82\xa0\xfd", "mac_japanese") == ("あ\u00a9", True)
    assert decode_mac(b"\x8e", "mac_japanese")[1] is False


def test_a_damaged_catalog_leaf_costs_only_its_own_records(tmp_path):
    path, h, _ = build(tmp_path, 800)
    listed = h.listing()
    img, reader = open_reader(path)
    from workbench.identify.hfs_btree import BTree
    tree = BTree(img, reader.hfs.catalog)
    leaves, whole = tree._chain()
    assert whole and len(leaves) > 4
    blob = bytearray(path.read_bytes())
    blob[tree.ranges[0][0] + 512 * leaves[0] + 8] = 0x55  # the first leaf: not a leaf now
    path.write_bytes(bytes(blob))
    img, reader = open_reader(path)
    paths = {e.path for e in reader.walk()}
    assert any("leaf node" in e for e in reader.errors)
    assert any("root directory record is missing" in e for e in reader.errors)
    # what the first leaf held is lost; every name in the other leaves is still listed
    survivors = {"/" + raw.decode("mac_roman") for raw in listed if b":" not in raw}
    assert len(paths & survivors) >= len(survivors) - 12
    assert "/Fragmented" in paths and "/Resume" in paths


def test_machfs_volume_lists_desktop_files(tmp_path):
    _, reader = open_reader(fx.hfs(tmp_path), "cp932")
    paths = {e.path for e in reader.walk()}
    assert {"/Desktop", "/._Desktop", "/Folder/報告書", "/report.pdf"} <= paths


@pytest.mark.parametrize("codepage", ["", "cp932"])
def test_label_decoded_in_the_mac_script(tmp_path, codepage):
    img = tmp_path / "l.img"
    img.write_bytes(bytes(800 * 1024))
    h = Hfsutils(tmp_path, img)
    h.run("hformat", "-l", JP, str(img))
    label = open_reader(img, codepage)[1].label
    assert label == ("報告書" if codepage else JP.decode("mac_roman"))


def test_fuzzed_hfs_volumes_fail_only_as_hfs_errors(tmp_path):
    """Seeded mutations of the MDB, the extents overflow and catalog B-trees: entries or
    an HfsError (the volume unreadable), never another exception."""
    import random
    import time

    from workbench.identify.hfs_btree import BTree, HfsError
    path, _, _ = build(tmp_path, 800)
    original = path.read_bytes()
    img, reader = open_reader(path)
    catalog = reader.hfs.catalog
    tree = BTree(img, catalog)
    regions = [(1024, 162), *[(s, n) for s, n in catalog]]
    img.close()
    assert tree.size > 0
    for seed in range(150):
        rng = random.Random(f"hfs-{seed}")
        blob = bytearray(original)
        for _ in range(rng.randint(1, 6)):
            start, size = rng.choice(regions)
            pos = start + rng.randrange(size)
            blob[pos:pos + 4] = rng.randrange(1 << 32).to_bytes(4, "big")
        path.write_bytes(bytes(blob))
        img = Image(path)
        try:
            r = HfsReader(img, Volume(0, 0, img.size, "none"), "cp932",
                          time.monotonic() + 20)
            for entry in r.walk():
                assert all(p not in ("", ".", "..") for p in entry.path.split("/")[1:])
                if entry.extents is None and not entry.is_dir:
                    b"".join(r.read(entry))
        except HfsError:
            pass
        finally:
            img.close()
