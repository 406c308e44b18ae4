#!/usr/bin/env python3
"""Build the sample carriers in media/ reproducibly (byte-identical on every run).

    python scripts/build_media.py [OUT_DIR]     (default: media/)

good 3.5" 2HD floppy (FAT12, files of several formats, a cp932 short name and a long
name), a damaged 2HD floppy (with a damage map), a small ISO 9660 CD (Joliet + Rock
Ridge), and a small partitioned USB image (MBR + FAT16). The *.drive.toml files that
make them training drives are written too.
"""

from __future__ import annotations

import io
import math
import os
import struct
import sys
import time
import wave
import zipfile
import zlib
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fatimage import Entry, FatImage, Geometry, mbr, short_name

FIXED_TIME = 889871400  # 1998-03-14 10:30:00 UTC


def png(width: int = 16, height: int = 16) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\0" + b"".join(bytes((x * 16 % 256, y * 16 % 256, 128))
                                     for x in range(width)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010101004800480000ffdb004300030202020203020202030303030406040404"
    "040408060605060908 0a0a090809090a0c0f0c0a0b0e0b09090d110d0e0f101011100a0c12131210130f"
    "101010ffc9000b080001000101011100ffcc000600101005ffda0008010100003f00d2cf20ffd9".replace(
        " ", ""))
GIF = bytes.fromhex("474946383961" "01000100" "800000" "ffffff000000" "21f90401000000" "00"
                    "2c00000000010001000000" "0202440100" "3b")


def pdf(text: str) -> bytes:
    content = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def wav(seconds: float = 0.25, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        w.writeframes(bytes(int(128 + 100 * math.sin(2 * math.pi * 440 * i / rate))
                            for i in range(int(seconds * rate))))
    return buf.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1998, 3, 14, 10, 30, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


HTML = (b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Annual report 1998"
        b"</title></head>\n<body><h1>Annual report 1998</h1><p>Sample carrier for the "
        b"migration workbench.</p></body></html>\n")
XML = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<catalogue><item id=\"FD-1998-0001\">"
       b"<title>Sample</title></item></catalogue>\n")
README = b"This floppy is a sample carrier for training on the migration workbench.\r\n" * 4
REPORT_JA = ("平成10年度 事業報告書\r\n資料の移行作業の研修用サンプルです。\r\n" * 8).encode("cp932")


def long_text(lines: int, tag: str) -> bytes:
    return "".join(f"{tag} line {n:05d}: the quick brown fox jumps over the lazy dog.\r\n"
                   for n in range(lines)).encode()


def floppy_2hd(entries: list[Entry], label: bytes, volume_id: int) -> bytes:
    return FatImage(Geometry(total_sectors=2880, label=label, volume_id=volume_id)).build(entries)


def good_floppy() -> bytes:
    return floppy_2hd([
        Entry(short_name("README.TXT"), README),
        Entry(short_name("報告書.TXT"), REPORT_JA),
        Entry(short_name("REPORT~1.HTM"), HTML, long="Annual report 1998.html"),
        Entry(short_name("DATA.XML"), XML),
        Entry(short_name("LOGO.PNG"), png()),
        Entry(short_name("PHOTO.JPG"), JPEG),
        Entry(short_name("ANIM.GIF"), GIF),
        Entry(short_name("PAPER.PDF"), pdf("Sample carrier")),
        Entry(short_name("SOUND.WAV"), wav()),
        Entry(short_name("ARCHIVE.ZIP"), zipped({"a.txt": README, "b.xml": XML})),
        Entry(short_name("DOCS"), children=[
            Entry(short_name("NOTES.TXT"), long_text(40, "notes")),
            Entry(short_name("EMPTY.TXT"), b""),
        ]),
    ], b"SAMPLE GOOD", 0x19980314)


def damaged_floppy() -> bytes:
    return floppy_2hd([
        Entry(short_name("LEDGER.TXT"), long_text(2000, "ledger")),
        Entry(short_name("MINUTES.TXT"), long_text(400, "minutes")),
        Entry(short_name("LOGO.PNG"), png()),
        Entry(short_name("PAPER.PDF"), pdf("Damaged sample")),
    ], b"SAMPLE BAD ", 0x19980315)


def iso_image() -> bytes:
    import pycdlib

    os.environ["TZ"] = "UTC"
    time.tzset()
    with mock.patch("time.time", return_value=float(FIXED_TIME)):
        iso = pycdlib.PyCdlib()
        iso.new(interchange_level=1, joliet=3, rock_ridge="1.09", vol_ident="SAMPLE_CD")
        files = [("/README.TXT;1", "readme.txt", "/readme.txt", README),
                 ("/PAPER.PDF;1", "paper.pdf", "/paper.pdf", pdf("Sample CD")),
                 ("/LOGO.PNG;1", "logo.png", "/logo.png", png()),
                 ("/REPORT.TXT;1", "report.txt", "/報告書.txt", REPORT_JA)]
        iso.add_directory("/DOCS", rr_name="docs", joliet_path="/docs")
        files.append(("/DOCS/PAGE.HTM;1", "page.html", "/docs/Annual report 1998.html", HTML))
        for iso_path, rr, joliet, data in files:
            iso.add_fp(io.BytesIO(data), len(data), iso_path, rr_name=rr, joliet_path=joliet)
        out = io.BytesIO()
        iso.write_fp(out)
        iso.close()
    return out.getvalue()


def usb_image() -> bytes:
    total, start = 8192, 2048  # 4 MiB disk, one partition from 1 MiB
    part = FatImage(Geometry(total_sectors=total - start, sectors_per_cluster=1,
                             root_entries=512, sectors_per_track=63, heads=255, media=0xF8,
                             hidden=start, label=b"USB SAMPLE ", volume_id=0x20010911)).build([
        Entry(short_name("README.TXT"), README),
        Entry(short_name("PHOTO.JPG"), JPEG),
        Entry(short_name("SCAN~1.PNG"), png(32, 32), long="Scan of letter 2001.png"),
        Entry(short_name("MUSIC.WAV"), wav(0.5)),
        Entry(short_name("BACKUP.ZIP"), zipped({"notes.txt": long_text(50, "backup")})),
    ])
    disk = bytearray(total * 512)
    disk[0:512] = mbr([(0x06, start, total - start)])
    disk[start * 512:] = part
    return bytes(disk)


# Damage on the damaged floppy: byte ranges relative to the image.
SECTOR = 512
DAMAGED_DRIVE = f"""# A training floppy drive holding a damaged 3.5" 2HD disk.
model = "Training floppy drive (damaged disk)"
vendor = "Workbench"
serial = "TRAIN-FD-02"
transport = "virtual"
image = "fd35-2hd-damaged.img"
profile = "fd35-2hd"
rate = "27 KB/s"  # a USB floppy drive: a 1.44 MB disk in about 55 s
label.en = "Damaged 3.5-inch 2HD floppy"
label.ja = "損傷した3.5インチ2HDフロッピー"

# Sectors that never read: part of LEDGER.TXT's data.
[[bad]]
start = {40 * SECTOR}
size = {3 * SECTOR}

[[bad]]
start = {120 * SECTOR}
size = {2 * SECTOR}

# A weak track that reads on the third attempt.
[[flaky]]
start = {300 * SECTOR}
size = {18 * SECTOR}
fails = 2

# A slow patch, as a worn disk gives.
[[slow]]
start = {500 * SECTOR}
size = {36 * SECTOR}
seconds = 0.05

# The last sector is bad too (a common failure at the end of a disk).
[[bad]]
start = {2879 * SECTOR}
size = {SECTOR}
"""

DRIVES = {
    "fd35-2hd-good.drive.toml": """# A training floppy drive holding a good 3.5" 2HD disk.
model = "Training floppy drive"
vendor = "Workbench"
serial = "TRAIN-FD-01"
transport = "virtual"
image = "fd35-2hd-good.img"
profile = "fd35-2hd"
rate = "27 KB/s"  # a USB floppy drive: a 1.44 MB disk in about 55 s
label.en = "Good 3.5-inch 2HD floppy"
label.ja = "正常な3.5インチ2HDフロッピー"
""",
    "fd35-2hd-damaged.drive.toml": DAMAGED_DRIVE,
    "fd35-2hd-truncating.drive.toml": """# A USB floppy drive behind a write blocker that truncates 2HD disks to 720 KB
# with no read error (seen in the field): the size check must catch it.
model = "Training floppy drive (truncating write blocker)"
vendor = "Workbench"
serial = "TRAIN-FD-03"
transport = "virtual"
image = "fd35-2hd-good.img"
profile = "fd35-2hd"
rate = "27 KB/s"  # a USB floppy drive: a 1.44 MB disk in about 55 s
size = 737280
label.en = "Good 2HD floppy behind a truncating write blocker"
label.ja = "容量を切り詰めるライトブロッカー経由の正常な2HDフロッピー"
""",
    "cd-sample.drive.toml": """# A training optical drive holding a small data CD (ISO 9660 + Joliet + Rock Ridge).
model = "Training optical drive"
vendor = "Workbench"
serial = "TRAIN-CD-01"
transport = "sr"
sector_size = 2048
image = "cd-sample.iso"
profile = "cd"
rate = "24x"  # 24 x 153,600 B/s (a CD is read at 75 sectors of 2,048 bytes a second at 1x)
label.en = "Data CD"
label.ja = "データCD"
""",
    "cd-truncated.drive.toml": """# The same CD in a drive that stops 16 sectors early with no read error:
# the ISO 9660 volume size check must catch it.
model = "Training optical drive (truncating)"
vendor = "Workbench"
serial = "TRAIN-CD-02"
transport = "sr"
sector_size = 2048
image = "cd-sample.iso"
profile = "cd"
rate = "24x"  # 24 x 153,600 B/s (a CD is read at 75 sectors of 2,048 bytes a second at 1x)
size = {size}
label.en = "Data CD in a truncating drive"
label.ja = "切り詰めるドライブに入れたデータCD"
""",
    "usb-sample.drive.toml": """# A training USB port holding a small partitioned memory stick (MBR + FAT16).
model = "Training USB stick"
vendor = "Workbench"
serial = "TRAIN-USB-01"
transport = "usb"
image = "usb-sample.img"
profile = "usb"
rate = "20 MB/s"  # a USB 2.0 memory stick
label.en = "USB memory stick"
label.ja = "USBメモリ"
""",
}


def build(out: Path) -> dict[str, bytes]:
    out.mkdir(parents=True, exist_ok=True)
    iso = iso_image()
    images = {"fd35-2hd-good.img": good_floppy(), "fd35-2hd-damaged.img": damaged_floppy(),
              "cd-sample.iso": iso, "usb-sample.img": usb_image()}
    files = dict(images)
    for name, text in DRIVES.items():
        files[name] = text.replace("{size}", str(len(iso) - 16 * 2048)).encode()
    for name, data in files.items():
        (out / name).write_bytes(data)
    return files


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "media"
    for name, data in build(target).items():
        print(f"{len(data):>10,}  {target / name}")
