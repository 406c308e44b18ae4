"""Identification inside images: every file system we read, names, PUIDs, damage."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
from pathlib import Path

import pytest

from tests import fsfixtures as fx
from tests.conftest import MEDIA, workbench_cmd
from workbench.config import Settings
from workbench.errors import ConfigError
from workbench.identify.engine import identify_image
from workbench.identify.formats import FormatIdentifier
from workbench.identify.pool import IdentifyPool
from workbench.imaging.engine import image

PUIDS = {"report.pdf": "fmt/18", "logo.png": "fmt/11", "photo.jpg": "fmt/43",
         "anim.gif": "fmt/4", "page.html": "fmt/471", "data.xml": "fmt/101",
         "sound.wav": "fmt/141", "notes.txt": "x-fmt/111", "bundle.zip": "x-fmt/263"}


@pytest.fixture(scope="module")
def pool():
    with IdentifyPool(0) as p:
        yield p


def run(path: Path, pool: IdentifyPool, **kw):
    return identify_image(path, Settings(), pool=pool, **kw)


def by_name(report) -> dict[str, object]:
    return {f.path.rsplit("/", 1)[-1]: f for f in report.files}


def check_files(report, names=PUIDS) -> None:
    found = {k.lower(): v for k, v in by_name(report).items()}
    for name, puid in names.items():
        f = found[name]
        assert f.puid == puid, name
        assert f.sha256 == hashlib.sha256(fx.FILES[name]).hexdigest(), name
        assert f.size == len(fx.FILES[name]) and not f.errors


def test_fat12_floppy_with_cp932_short_name_and_long_names(pool):
    report = run(MEDIA / "fd35-2hd-good.img", pool)
    vol = report.volumes[0]
    assert (vol.fs_type, vol.label, vol.scheme, vol.files, vol.directories) == \
        ("fat12", "SAMPLE GOOD", "none", 12, 1)
    files = by_name(report)
    jp = files["報告書.TXT"]
    assert jp.name_raw_hex == "報告書.TXT".encode("cp932").hex()
    assert files["Annual report 1998.html"].puid == "fmt/471"
    assert files["PHOTO.JPG"].puid == "fmt/43" and files["PAPER.PDF"].puid == "fmt/18"
    assert files["SOUND.WAV"].mime and files["ARCHIVE.ZIP"].puid == "x-fmt/263"
    assert "/DOCS/NOTES.TXT" in {f.path for f in report.files}
    assert files["EMPTY.TXT"].size == 0
    assert files["README.TXT"].modified == "1998-03-14T10:30:00"
    assert report.image_format["puid"] == "fmt/1087"  # fido's FAT disk image


def test_puids_agree_with_fido_on_the_same_bytes(pool):
    ident = FormatIdentifier()
    report = run(MEDIA / "fd35-2hd-good.img", pool)
    data = (MEDIA / "fd35-2hd-good.img").read_bytes()
    for f in (f for f in report.files if f.container is None):  # members: test_archives
        assert f.puid == ident.identify_bytes(f.path.rsplit("/", 1)[-1],
                                              _file_bytes(data, f)).puid


def _file_bytes(image: bytes, f) -> bytes:
    from workbench.identify.fat import FatReader
    from workbench.identify.model import Image
    from workbench.identify.volumes import find_volumes
    with Image(MEDIA / "fd35-2hd-good.img") as im:
        vols, _ = find_volumes(im)
        for e in FatReader(im, vols[0], "cp932").walk():
            if e.path == f.path:
                return b"".join(image[o:o + n] for o, n in e.extents or [])
    raise AssertionError(f.path)


def test_fat32_usb_stick_with_mbr(pool, tmp_path):
    report = run(fx.fat32_usb(tmp_path), pool)
    vol = report.volumes[0]
    assert (vol.scheme, vol.fs_type, vol.label, vol.offset) == ("mbr", "fat32", "STICK", 1 << 20)
    check_files(report)
    assert {f.path for f in report.files} >= {"/DOCS/report.pdf", "/DOCS/notes.txt",
                                              "/logo.png"}


def test_ntfs_with_resident_and_non_resident_files(pool, tmp_path):
    report = run(fx.ntfs(tmp_path), pool)
    assert report.volumes[0].fs_type == "ntfs" and not report.volumes[0].errors
    check_files(report)
    tiny = by_name(report)["tiny.txt"]
    assert tiny.sha256 == hashlib.sha256(b"resident data\n").hexdigest()
    assert report.image_format["puid"] == ""  # fido's FAT false positive is not reported
    assert "false positive" in report.image_format["note"]


def test_exfat_volume_is_recognised(pool, tmp_path):
    report = run(fx.exfat(tmp_path), pool)
    assert report.volumes[0].fs_type == "exfat" and report.volumes[0].complete


def test_ext4(pool, tmp_path):
    report = run(fx.ext4(tmp_path), pool)
    assert report.volumes[0].fs_type == "ext"
    check_files(report)
    assert "/sub/logo.png" in {f.path for f in report.files}


@pytest.mark.parametrize("joliet,rock_ridge", [(True, True), (False, True), (False, False)])
def test_iso9660_joliet_rock_ridge_and_plain(pool, tmp_path, joliet, rock_ridge):
    report = run(fx.iso(tmp_path, joliet, rock_ridge), pool)
    vol = report.volumes[0]
    assert vol.fs_type.startswith("iso9660") and vol.label == "FIXTURE"
    assert report.image_format["puid"] == "fmt/468"
    names = set(by_name(report))
    if joliet:
        check_files(report)
        assert "日本語.txt" in names
    elif rock_ridge:
        check_files(report)
        assert "jp.txt" in names
    else:
        assert "F0.DAT" in names and "JP.TXT" in names


def test_udf_bridge_disc(pool, tmp_path):
    report = run(fx.iso(tmp_path, joliet=True, rock_ridge=False, udf=True), pool)
    assert "iso9660" in report.volumes[0].fs_type
    check_files(report)


def test_classic_hfs_with_macjapanese_name(pool, tmp_path):
    report = run(fx.hfs(tmp_path), pool)
    vol = report.volumes[0]
    assert (vol.fs_type, vol.label) == ("hfs", "MacDisk")
    files = by_name(report)
    assert files["報告書"].path == "/Folder/報告書"
    assert files["report.pdf"].puid == "fmt/18" and files["logo.png"].puid == "fmt/11"


def test_damaged_files_are_flagged_from_the_map(pool, tmp_path):
    rec = image(MEDIA / "fd35-2hd-damaged.drive.toml",
                __import__("workbench.profiles", fromlist=["x"]).load_profiles(
                    MEDIA.parent / "profiles")["fd35-2hd"], "DMG-1", Settings(),
                out_dir=tmp_path / "job")
    assert rec.outcome == "partial"
    report = run(tmp_path / "job" / "image.img", pool, map_path=tmp_path / "job" / "image.map")
    files = by_name(report)
    assert files["LEDGER.TXT"].damaged and files["LEDGER.TXT"].bytes_lost == 5 * 512
    assert not files["MINUTES.TXT"].damaged and not files["LOGO.PNG"].damaged
    assert report.summary()["damaged"] == [{"path": "/LEDGER.TXT", "bytes_lost": 2560}]


def test_hostile_and_undecodable_names_are_never_paths(pool, tmp_path):
    entries = [
        fx.Entry(fx.short_name("EVIL1.TXT"), b"a", long="../../etc/passwd"),
        fx.Entry(fx.short_name("EVIL2.TXT"), b"b", long="\x07bell\x1b[31m.txt"),
        fx.Entry(fx.short_name("EVIL3.TXT"), b"c", long=".."),
        fx.Entry(b"\x81\x20\xff\xfeAB  TXT", b"d"),  # not valid cp932
    ]
    img = tmp_path / "hostile.img"
    img.write_bytes(fx.fat12(entries))
    report = run(img, pool)
    paths = [f.path for f in report.files]
    assert len(paths) == 4
    for p in paths:
        parts = p.split("/")[1:]
        assert all(part not in ("", ".", "..") for part in parts), p
        assert not any(ord(c) < 32 for c in p), p
    assert "/..%2F..%2Fetc%2Fpasswd" in paths
    bad = [f for f in report.files if "undecodable_name" in f.warnings]
    assert len(bad) == 1 and bad[0].name_raw_hex.startswith("8120fffe")
    assert sum("unsafe_name" in f.warnings for f in report.files) == 3


def test_directory_loop_is_detected(pool, tmp_path):
    data = bytearray((MEDIA / "fd35-2hd-good.img").read_bytes())
    docs = data.index(b".          \x10")  # DOCS' own "." entry
    cluster = data[docs + 26:docs + 28]
    notes = data.index(b"NOTES   TXT")
    data[notes + 11] = 0x10  # NOTES.TXT becomes a directory pointing back at DOCS
    data[notes + 26:notes + 28] = cluster
    img = tmp_path / "loop.img"
    img.write_bytes(bytes(data))
    report = run(img, pool)
    assert any("directory loop" in e for e in report.volumes[0].errors)


def test_blank_and_unknown_volumes(pool, tmp_path):
    blank = tmp_path / "blank.img"
    blank.write_bytes(bytes(1474560))
    report = run(blank, pool)
    assert report.volumes[0].errors == ["no file system recognised"]
    assert report.image_format["file_system"] == "none recognised" and report.files == []


def test_time_limit_makes_the_report_incomplete(pool):
    report = run(MEDIA / "fd35-2hd-good.img", pool, seconds=0)
    vol = report.volumes[0]
    assert not vol.complete and "time limit" in vol.errors[0]
    assert not report.complete and report.summary()["incomplete_volumes"] == [0]
    assert run(MEDIA / "fd35-2hd-good.img", pool).complete


def test_time_limit_from_the_station_settings(tmp_path):
    from workbench.config import load_settings

    toml = tmp_path / "workbench.toml"
    toml.write_text("[identify]\ntime_limit_minutes = 2.5\n")
    assert load_settings(toml).identify_seconds == 150
    toml.write_text("[identify]\ntime_limit_minutes = 0\n")
    with pytest.raises(ConfigError, match="time_limit_minutes"):
        load_settings(toml)


def test_md5_on_request(pool):
    report = run(MEDIA / "cd-sample.iso", pool, digests=("md5",))
    readme = by_name(report)["readme.txt"]
    assert readme.md5 == hashlib.md5(readme_bytes()).hexdigest()


def readme_bytes() -> bytes:
    import build_media
    return build_media.README


def test_cli_identify_csv_stdout_and_out_folder(tmp_path):
    out = workbench_cmd("identify", str(MEDIA / "usb-sample.img"), "--workers", "0",
                        cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("\ufeffID,VOLUME,PATH")
    rows = list(csv.DictReader(io.StringIO(out.stdout.lstrip("\ufeff"))))
    assert {r["PATH"] for r in rows} >= {"/Scan of letter 2001.png", "/PHOTO.JPG"}
    assert next(r for r in rows if r["PATH"] == "/PHOTO.JPG")["PUID"] == "fmt/43"
    folder = workbench_cmd("identify", str(MEDIA / "fd35-2hd-good.img"), "--out", "rep",
                           "--workers", "1", cwd=tmp_path)
    assert folder.returncode == 0, folder.stderr
    data = json.loads((tmp_path / "rep" / "formats.json").read_text())
    medium = [f for f in data["files"] if f["container"] is None]  # ARCHIVE.ZIP's 2 members
    assert len(medium) == 12 and data["summary"]["files"] == 14
    assert data["schema"] == "workbench-formats"
    assert (tmp_path / "rep" / "formats.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert "fmt/11" in folder.stdout
    js = workbench_cmd("identify", str(MEDIA / "cd-sample.iso"), "--format", "json",
                       "--workers", "0", cwd=tmp_path)
    assert json.loads(js.stdout)["volumes"][0]["label"] == "SAMPLE_CD"


def test_udf_only_disc(pool, tmp_path):
    report = run(fx.udf_only(tmp_path), pool)
    vol = report.volumes[0]
    assert (vol.fs_type, vol.label, vol.errors) == ("udf", "FIXTURE", [])
    check_files(report)
    assert report.image_format["file_system"] == "udf"


@pytest.mark.parametrize("block", [512, 2048])
def test_udf_made_by_mkudffs(pool, tmp_path, block):
    report = run(fx.mkudffs(tmp_path, block), pool)
    vol = report.volumes[0]
    assert (vol.fs_type, vol.label, vol.complete, vol.errors) == ("udf", "UDFVOL", True, [])


def test_gpt_partition_table(pool, tmp_path):
    report = run(fx.gpt_disk(tmp_path), pool)
    vol = report.volumes[0]
    assert (vol.scheme, vol.fs_type, vol.label, vol.offset) == ("gpt", "fat16", "GPTVOL", 1 << 20)
    assert vol.partition_type == "Microsoft basic data"
    assert by_name(report)["logo.png"].puid == "fmt/11"


def test_apple_partition_map(pool, tmp_path):
    report = run(fx.apm_disk(tmp_path), pool)
    vol = report.volumes[0]
    assert (vol.scheme, vol.partition_type, vol.fs_type) == ("apm", "Apple_HFS", "hfs")
    assert by_name(report)["report.pdf"].puid == "fmt/18"


def test_deleted_fat_files_are_listed_as_deleted(pool, tmp_path):
    data = bytearray((MEDIA / "fd35-2hd-good.img").read_bytes())
    at = data.index(b"DATA    XML")
    data[at] = 0xE5  # deleted, as DOS leaves it: the data is still there
    img = tmp_path / "deleted.img"
    img.write_bytes(bytes(data))
    report = run(img, pool)
    gone = by_name(report)["_ATA.XML"]
    assert not gone.allocated and gone.puid == "fmt/101"
    assert report.summary()["deleted"] == ["/_ATA.XML"]


def test_a_truncated_image_leaves_no_digest_of_part_of_a_file(pool, tmp_path):
    """The floppy cut after 18 KiB (inside its data area): files whose data lay beyond
    have no digest (a digest of part of a file would pass for the file's), are damaged,
    and the volume says why."""
    cut = tmp_path / "cut.img"
    cut.write_bytes((MEDIA / "fd35-2hd-good.img").read_bytes()[:18 * 1024])
    whole = {f.path: f for f in run(MEDIA / "fd35-2hd-good.img", pool).files}
    report = run(cut, pool)
    short = [f for f in report.files if any(e.startswith("read ") for e in f.errors)]
    assert short, "no file lay beyond the cut"
    for f in short:
        assert f.sha256 == "" and f.damaged is True and f.bytes_lost > 0
    for f in report.files:
        if f not in short and f.container is None:
            assert f.sha256 == whole[f.path].sha256
    assert any("could not be read in full" in e for e in report.volumes[0].errors)


def test_the_time_limit_stops_within_a_directory_not_only_between_them(pool, monkeypatch):
    """The floppy's root holds most of its files: a clock that moves a second a look
    passes the limit inside it, and the listing stops there, said."""
    import types

    import workbench.identify.engine as engine
    import workbench.identify.model as model

    ticks = iter(range(10**6))
    clock = types.SimpleNamespace(monotonic=lambda: next(ticks))
    monkeypatch.setattr(engine, "time", clock)
    monkeypatch.setattr(model, "time", clock)  # the readers' own deadline checks
    report = run(MEDIA / "fd35-2hd-good.img", pool, seconds=12)
    assert not report.complete and 0 < len(report.files) < 12
    assert any("time limit" in e for e in report.volumes[0].errors)


def test_a_deleted_fat_file_whose_clusters_went_to_another_is_flagged(pool, tmp_path):
    """As DOS does it (mtools): GONE.BIN deleted, its clusters freed, NEW.BIN written into
    them. The deleted name's bytes are NEW.BIN's: flagged, never passed off as its own."""
    mformat, mcopy, mdel = fx.tool("mformat"), fx.tool("mcopy"), fx.tool("mdel")
    img = tmp_path / "d.img"
    subprocess.run([mformat, "-C", "-f", "1440", "-i", str(img), "::"], check=True)
    # NEW.BIN goes into SUB, so the deleted name's directory slot is not reused
    subprocess.run([fx.tool("mmd"), "-i", str(img), "::SUB"], check=True)
    for name, data in (("GONE.BIN", b"old" * 3000), ("KEEP.TXT", b"keep\n")):
        (tmp_path / name).write_bytes(data)
        subprocess.run([mcopy, "-i", str(img), str(tmp_path / name), f"::{name}"], check=True)
    subprocess.run([mdel, "-i", str(img), "::GONE.BIN"], check=True)
    (tmp_path / "NEW.BIN").write_bytes(b"new" * 3000)
    subprocess.run([mcopy, "-i", str(img), str(tmp_path / "NEW.BIN"), "::SUB/NEW.BIN"],
                   check=True)
    files = {f.path: f for f in run(img, pool).files}
    gone = files["/_ONE.BIN"]
    assert not gone.allocated and "clusters_in_use" in gone.warnings
    assert gone.sha256 == files["/SUB/NEW.BIN"].sha256  # what lies there now, said so
    assert "clusters_in_use" not in files["/SUB/NEW.BIN"].warnings
    assert "clusters_in_use" not in files["/KEEP.TXT"].warnings
