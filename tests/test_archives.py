"""Archive members (ZIP, LZH, CAB) listed and identified: compared with bsdtar (libarchive),
lhasa, cabextract and unzip; damage flagged, never wrong bytes; nesting and bombs bounded."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests import archive_fixtures as af
from tests import fsfixtures as fx
from workbench.config import Settings
from workbench.identify import archive_cab, archive_lzh, archive_zip
from workbench.identify.archive_member import Limits
from workbench.identify.archives import SEPARATOR, kind_of
from workbench.identify.engine import identify_image
from workbench.identify.formats import FormatIdentifier
from workbench.identify.pool import IdentifyPool
from workbench.identify.report import write_csv

# text that compresses like a manual (a fixed, generated one: the damage tests flip
# bytes at fixed places in its compressed form)
README = b"".join(b"%05d The workbench images a carrier, identifies the files inside and "
                  b"bags them for tape (%s).\n" % (i, b"xyz"[: i % 4]) for i in range(600)
                  )[:40000]
JA_NAME = "日本語の報告書.txt"
UTF8 = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def noise(n: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.getrandbits(8) for _ in range(n))


def bsdtar_list(path: Path, charset: str = "CP932") -> dict[str, int]:
    out = subprocess.run([fx.tool("bsdtar"), "--options", f"hdrcharset={charset}", "-tvf",
                          str(path)], capture_output=True, text=True, env=UTF8, check=True)
    listing = {}
    for line in out.stdout.splitlines():
        fields = line.split(None, 8)
        if not line.startswith("d"):
            listing[fields[8]] = int(fields[4])
    return listing


def bsdtar_bytes(path: Path, member: str, charset: str = "CP932") -> bytes:
    return subprocess.run([fx.tool("bsdtar"), "--options", f"hdrcharset={charset}", "-xOf",
                           str(path), member], capture_output=True, env=UTF8,
                          check=True).stdout


def listed(module, path: Path, limits: Limits | None = None):
    with open(path, "rb") as stream:
        return list(module.members(stream, "cp932", limits or Limits()))


# -- LZH ---------------------------------------------------------------------------------
@functools.cache
def lzh_sample_bytes() -> bytes:
    """The sample archive, encoded once per test process (the LZH encoder is pure Python
    and the archive's bytes never change)."""
    members = []
    for level in (0, 1, 2):
        members.append(af.lzh_member(b"T%d.TXT" % level, README, level,
                                     folder=b"DOC/SUB" if level else b"DOC"))
        members.append(af.lzh_member(b"R%d.BIN" % level, noise(5000, level), level, "-lh0-"))
    members += [af.lzh_member(JA_NAME.encode("cp932"), b"abcd" * 3000, 2),
                af.lzh_member(b"EMPTY.TXT", b"", 1, "-lh0-"),
                af.lzh_member(b"ONE.TXT", b"x", 0),
                af.lzh_member(b"NOISE.BIN", noise(70000, 9), 1)]  # lh5 over two block sizes
    return af.lzh(members)


@functools.cache
def first_member_size() -> int:
    """The length of T0.TXT's member, the sample's first."""
    return len(af.lzh_member(b"T0.TXT", README, 0, folder=b"DOC"))


def lzh_sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.lzh"
    path.write_bytes(lzh_sample_bytes())
    return path


def test_lzh_members_match_lhasa_and_libarchive(tmp_path):
    path = lzh_sample(tmp_path)
    tested = subprocess.run([fx.tool("lha"), "t", str(path)], capture_output=True)
    assert tested.returncode == 0, tested.stdout  # lhasa accepts every member's CRC
    ours = listed(archive_lzh, path)
    theirs = bsdtar_list(path)
    assert {m.path: m.size for m in ours} == theirs
    assert JA_NAME in theirs and len(ours) == 10
    for m in ours:
        assert m.crc_ok is True and not m.errors, m.path
        assert m.data == bsdtar_bytes(path, m.path), m.path
    assert {m.method for m in ours} == {"lh0", "lh5"}
    ja = next(m for m in ours if m.path == JA_NAME)
    assert ja.name_raw == JA_NAME.encode("cp932").hex()
    assert all(m.modified == "2001-02-03T04:05:06" for m in ours)


@pytest.mark.parametrize("back", [30, 300, 700, 1100])  # T0 packs into 1,215 bytes
def test_lzh_damage_is_flagged_never_listed_as_good(tmp_path, back):
    """A flipped byte in T0.TXT's compressed bytes: whether the decoder stumbles or only
    the CRC fails, the member has no bytes, only an error."""
    path = lzh_sample(tmp_path)
    data = bytearray(path.read_bytes())
    data[first_member_size() - back] ^= 0x55
    broken = tmp_path / "broken.lzh"
    broken.write_bytes(bytes(data))
    ours = listed(archive_lzh, broken)
    bad = ours[0]
    assert bad.data is None and bad.errors and bad.crc_ok in (False, None)
    assert subprocess.run([fx.tool("lha"), "t", str(broken)], capture_output=True
                          ).returncode != 0  # lhasa agrees it is damaged
    assert all(m.crc_ok for m in ours[1:])  # the rest still read


def test_lzh_cut_short_keeps_the_members_before(tmp_path):
    path = lzh_sample(tmp_path)
    cut = tmp_path / "cut.lzh"
    cut.write_bytes(path.read_bytes()[:first_member_size() + 40])
    errors = []
    from workbench.identify.archives import expand
    with open(cut, "rb") as stream:
        found = list(expand(stream, "lzh", "cp932", Limits(),
                            lambda parent, text: errors.append(text)))
    assert found[0].member.crc_ok and found[0].member.path == "DOC/T0.TXT"
    assert errors or any(f.member.errors for f in found)


# -- ZIP ---------------------------------------------------------------------------------
def test_zip_members_match_unzip_and_libarchive(tmp_path):
    src = tmp_path / "src"
    (src / "dir" / "deeper").mkdir(parents=True)
    (src / "readme.txt").write_bytes(README)
    (src / "dir" / "noise.bin").write_bytes(noise(30000))
    (src / "dir" / "deeper" / "empty.dat").write_bytes(b"")
    path = tmp_path / "made-by-zip.zip"
    subprocess.run([fx.tool("zip"), "-qr", str(path), "readme.txt", "dir"], cwd=src, check=True)
    ours = listed(archive_zip, path)
    assert {m.path: m.size for m in ours} == bsdtar_list(path)
    unzip = subprocess.run([fx.tool("unzip"), "-Z1", str(path)], capture_output=True,
                           text=True, check=True).stdout.split()
    assert sorted(m.path for m in ours) == sorted(n for n in unzip if not n.endswith("/"))
    for m in ours:
        assert m.crc_ok and m.data == bsdtar_bytes(path, m.path)


def legacy_zip(tmp_path: Path) -> Path:
    """A ZIP written by a Japanese DOS/Windows tool: cp932 names, no UTF-8 flag."""
    raw = JA_NAME.encode("cp932")
    placeholder = b"Q" * len(raw)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(placeholder.decode(), README)
        z.writestr("plain.txt", b"plain")
    path = tmp_path / "legacy.zip"
    path.write_bytes(buf.getvalue().replace(placeholder, raw))
    return path


def test_zip_legacy_names_use_the_station_code_page(tmp_path):
    path = legacy_zip(tmp_path)
    ours = {m.path: m for m in listed(archive_zip, path)}
    assert set(ours) == set(bsdtar_list(path, "CP932")) == {JA_NAME, "plain.txt"}
    assert ours[JA_NAME].name_raw == JA_NAME.encode("cp932").hex()
    with open(path, "rb") as stream:  # a Western station: cp437, as DOS PKZIP wrote
        western = [m.path for m in archive_zip.members(stream, "cp437", Limits())]
    assert JA_NAME.encode("cp932").decode("cp437") in western


def test_zip_bad_crc_and_encryption_are_flagged(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("good.txt", b"good bytes")
        z.writestr("bad.txt", b"these bytes will change")
    data = buf.getvalue().replace(b"these bytes", b"THESE bytes")
    path = tmp_path / "crc.zip"
    path.write_bytes(data)
    ours = {m.path: m for m in listed(archive_zip, path)}
    assert ours["good.txt"].crc_ok and ours["good.txt"].data == b"good bytes"
    assert ours["bad.txt"].data is None and ours["bad.txt"].crc_ok is False
    assert subprocess.run([fx.tool("unzip"), "-tq", str(path)], capture_output=True
                          ).returncode != 0  # unzip agrees
    secret = tmp_path / "secret.zip"
    (tmp_path / "s.txt").write_bytes(b"secret")
    subprocess.run([fx.tool("zip"), "-q", "-P", "pw", str(secret), "s.txt"], cwd=tmp_path,
                   check=True)
    member = listed(archive_zip, secret)[0]
    assert member.data is None and "encrypted" in member.errors[0]


# -- CAB ---------------------------------------------------------------------------------
def cab(tmp_path: Path, name: str, compress: bool) -> Path:
    src = tmp_path / "cabsrc"
    (src / "sub").mkdir(parents=True, exist_ok=True)
    (src / "a.txt").write_bytes(README)
    (src / "sub" / "noise.bin").write_bytes(noise(70000, 3))
    (src / "sub" / "hi.txt").write_bytes(b"hi\n")
    path = tmp_path / name
    subprocess.run([fx.tool("gcab"), "-c", *(["-z"] if compress else []), str(path),
                    "a.txt", "sub/noise.bin", "sub/hi.txt"], cwd=src, check=True)
    return path


@pytest.mark.parametrize("compress", [True, False], ids=["mszip", "stored"])
def test_cab_members_match_cabextract_and_libarchive(tmp_path, compress):
    path = cab(tmp_path, "setup.cab", compress)
    ours = listed(archive_cab, path)
    listing = subprocess.run([fx.tool("cabextract"), "-l", str(path)], capture_output=True,
                             text=True, check=True).stdout
    theirs = {line.split("|")[2].strip(): int(line.split("|")[0])
              for line in listing.splitlines() if line.count("|") == 2
              and line.split("|")[0].strip().isdigit()}
    assert {m.path: m.size for m in ours} == theirs == bsdtar_list(path)
    for m in ours:
        assert m.method == ("mszip" if compress else "stored")
        assert m.crc_ok and m.data == bsdtar_bytes(path, m.path)


def test_cab_checksum_damage_is_flagged(tmp_path):
    path = cab(tmp_path, "setup.cab", True)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01  # inside the last data block
    path.write_bytes(bytes(data))
    ours = listed(archive_cab, path)
    assert all(m.data is None and "checksum" in " ".join(m.errors) for m in ours)
    assert subprocess.run([fx.tool("cabextract"), "-t", str(path)], capture_output=True
                          ).returncode != 0


def test_cab_lzx_is_listed_not_decoded(tmp_path):
    data = bytearray(cab(tmp_path, "lzx.cab", False).read_bytes())
    folder_at = 36  # no reserve, no previous/next cabinet: the folder table follows
    data[folder_at + 6] = 3  # typeCompress: LZX
    path = tmp_path / "lzx.cab"
    path.write_bytes(bytes(data))
    ours = listed(archive_cab, path)
    assert [m.path for m in ours] == ["a.txt", "sub/noise.bin", "sub/hi.txt"]
    assert all(m.data is None and "LZX" in m.errors[0] for m in ours)


# -- nesting, bombs, the engine ----------------------------------------------------------
def nested_zip(levels: int) -> bytes:
    inner = b"deepest text\n"
    name = "core.txt"
    for i in range(levels):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(name, inner)
        inner, name = buf.getvalue(), f"level{i}.zip"
    return inner


def test_limits_refuse_bombs_and_deep_nesting(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", bytes(4 << 20))
        z.writestr("small.txt", b"small")
    ours = {m.path: m for m in listed(archive_zip, bomb, Limits(ratio=100))}
    assert ours["zeros.bin"].data is None and "ratio" in ours["zeros.bin"].errors[0]
    assert ours["small.txt"].data == b"small"
    ours = {m.path: m for m in listed(archive_zip, bomb, Limits(member=1 << 20))}
    assert ours["zeros.bin"].data is None and "member limit" in ours["zeros.bin"].errors[0]
    from workbench.identify.archives import expand
    deep = tmp_path / "deep.zip"
    deep.write_bytes(nested_zip(5))
    with open(deep, "rb") as stream:
        # the warnings as they are when each member is handed on (and recorded)
        found = [(f.path, list(f.member.warnings)) for f in expand(
            stream, "zip", "cp932", Limits(depth=3), lambda p, t: None)]
    assert [p for p, _ in found] == ["level3.zip", "level3.zip!/level2.zip",
                                     "level3.zip!/level2.zip!/level1.zip"]
    assert "nested_archive_not_expanded" in found[-1][1]


def test_documents_that_are_zips_inside_are_not_listed(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_formats import docx
    odt = io.BytesIO()
    with zipfile.ZipFile(odt, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", "<office:document-content/>")
    for data in (docx(), odt.getvalue()):
        path = tmp_path / "doc"
        path.write_bytes(data)
        assert bsdtar_list(path) and listed(archive_zip, path) == []


def test_past_the_volume_time_limit_members_are_listed_not_decoded(tmp_path):
    import time
    path = lzh_sample(tmp_path)
    ours = listed(archive_lzh, path, Limits(deadline=time.monotonic() - 1))
    assert len(ours) == 10
    assert all(m.data is None and "time limit" in m.errors[0] for m in ours)


def test_kind_of_sniffs_only_archives(tmp_path):
    assert kind_of(nested_zip(1)) == "zip"
    assert kind_of(cab(tmp_path, "k.cab", False).read_bytes()[:64]) == "cab"
    assert kind_of(af.lzh([af.lzh_member(b"A", b"a", 2)])) == "lzh"
    assert kind_of(README[:64]) is None and kind_of(b"MSCF\x01\0\0\0") is None


def test_members_inside_an_image_are_listed_identified_and_tied_to_their_archive(tmp_path):
    lzh = af.lzh([af.lzh_member(b"README.TXT", README, 1, folder=b"DOC"),
                  af.lzh_member(JA_NAME.encode("cp932"), b"<html><body>x</body></html>", 2)])
    inner_cab = cab(tmp_path, "drv.cab", True).read_bytes()
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("DRIVER/drv.cab", inner_cab)
        z.writestr("logo.png", fx.samples.png())
    img = tmp_path / "floppy.img"
    img.write_bytes(fx.fat12([fx.Entry(fx.short_name("DATA.LZH"), lzh),
                              fx.Entry(fx.short_name("SETUP.ZIP"), outer.getvalue()),
                              fx.Entry(fx.short_name("README.TXT"), README)]))
    with IdentifyPool(0) as pool:
        report = identify_image(img, Settings(), pool=pool)
    by_path = {f.path: f for f in report.files}
    lzh_rec, zip_rec = by_path["/DATA.LZH"], by_path["/SETUP.ZIP"]
    cab_rec = by_path["/SETUP.ZIP!/DRIVER/drv.cab"]
    expected = {"/DATA.LZH!/DOC/README.TXT": lzh_rec.id,
                f"/DATA.LZH!/{JA_NAME}": lzh_rec.id,
                "/SETUP.ZIP!/DRIVER/drv.cab": zip_rec.id, "/SETUP.ZIP!/logo.png": zip_rec.id,
                "/SETUP.ZIP!/DRIVER/drv.cab!/a.txt": cab_rec.id,
                "/SETUP.ZIP!/DRIVER/drv.cab!/sub/noise.bin": cab_rec.id,
                "/SETUP.ZIP!/DRIVER/drv.cab!/sub/hi.txt": cab_rec.id}
    assert {p: f.container for p, f in by_path.items() if f.container} == expected
    assert len(report.files) == 3 + len(expected)
    assert report.volumes[0].files == 3  # the medium's own files
    ident = FormatIdentifier()
    (tmp_path / "x").mkdir()
    cab_file = tmp_path / "x" / "drv.cab"
    cab_file.write_bytes(inner_cab)
    for path, rec in by_path.items():
        if rec.container is None:
            continue
        archive, member = path.rsplit(SEPARATOR, 1)
        source = tmp_path / "x" / "drv.cab" if archive.endswith("drv.cab") else \
            tmp_path / ("lzh.lzh" if "LZH" in archive else "zip.zip")
        if not source.exists():
            source.write_bytes(lzh if "LZH" in archive else outer.getvalue())
        data = bsdtar_bytes(source, member)
        assert rec.sha256 == hashlib.sha256(data).hexdigest(), path
        assert rec.puid == ident.identify_bytes(member, data).puid, path
        assert rec.damaged is False and not rec.errors, path
    assert by_path["/SETUP.ZIP!/logo.png"].puid == "fmt/11"
    assert by_path[f"/DATA.LZH!/{JA_NAME}"].name_raw_hex == JA_NAME.encode("cp932").hex()
    out = io.StringIO()
    write_csv(report, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue().lstrip("\ufeff"))))
    assert next(r for r in rows if r["PATH"] == "/SETUP.ZIP!/logo.png")["CONTAINER"] == \
        str(zip_rec.id)


def test_a_checked_crc_vouches_for_member_bytes_on_a_damaged_medium(tmp_path):
    from workbench.identify.archives import member_records
    from workbench.identify.report import FileRecord
    archive = FileRecord(7, 0, "/BAD.ZIP", 0, damaged=True, bytes_lost=512)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("ok.txt", b"fine")
        z.writestr("hurt.txt", b"these bytes will change")
    data = buf.getvalue().replace(b"these bytes", b"THESE bytes")
    ids = iter(range(8, 100))
    out = {r.path: (r, job) for r, job in member_records(
        archive, io.BytesIO(data), "zip", "cp932", ("sha256",), lambda: next(ids))}
    ok, ok_job = out["/BAD.ZIP!/ok.txt"]
    hurt, hurt_job = out["/BAD.ZIP!/hurt.txt"]
    assert ok.damaged is False and ok_job is not None and ok.container == 7
    assert hurt.damaged is True and hurt_job is None and hurt.sha256 == "" and hurt.errors


def test_an_archive_without_extents_is_read_again_from_its_reader(tmp_path):
    from workbench.identify.archives import source
    from workbench.identify.model import FileEntry, Image
    data = nested_zip(1)
    entry = FileEntry(0, "/X.ZIP", len(data))
    img = tmp_path / "empty.img"
    img.write_bytes(b"\0" * 512)
    with Image(img) as image, source(image, entry, None,
                                     lambda: iter([data[:10], data[10:]])) as stream:
        assert stream is not None
        assert [m.path for m in archive_zip.members(stream, "cp932", Limits())] == ["core.txt"]
