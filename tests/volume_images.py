"""Disk and disc images for the volume tests, made with Debian tools (tool() skips when
one is missing; CI installs them) and, for layouts no tool writes (PC-98, X68000,
Human68k, BPB-less floppies), patched by these functions from a FAT made by mkfs.fat."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

from tests.fsfixtures import tool
from workbench.identify.model import Image
from workbench.identify.volumes import find_volumes

FILES = {"README.TXT": b"read me\r\n", "DATA.BIN": bytes(range(256)) * 40,
         "LETTER.DOC": b"Dear sir,\r\n" * 300}


def sh(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True,
                          text=True, errors="replace").stdout


def blank(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def blkid(path: Path, offset: int = 0) -> dict[str, str]:
    """blkid -p's view of the file system at offset: TYPE and LABEL (from udev output,
    whose LABEL_ENC escapes bytes as \\xNN); {} when blkid finds none."""
    cmd = [tool("blkid"), "-p", "-o", "udev"] + (["-O", str(offset)] if offset else [])
    out = subprocess.run([*cmd, str(path)], capture_output=True).stdout
    values: dict[str, str] = {}
    for line in out.splitlines():
        key, _, raw = line.partition(b"=")
        if key == b"ID_FS_TYPE":
            values["TYPE"] = raw.decode()
        elif key == b"ID_FS_LABEL_ENC":
            raw = re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m[1], 16)]), raw)
            values["LABEL"] = raw.decode("utf-8", "replace")
    return values


def volumes(path: Path):
    with Image(path) as im:
        return find_volumes(im)


def mdir(target: str) -> set[str]:
    """Every file's path in a FAT volume as mtools lists it (target: image[@@offset])."""
    out = sh(tool("mdir"), "-/", "-b", "-i", target, "::/")
    return {line.strip()[2:] if line.startswith("::") else line.strip()
            for line in out.splitlines() if line.strip() and not line.rstrip().endswith("/")}


def fat(path: Path, size: int, *opts: str, files: dict[str, bytes] = FILES,
        dirs: tuple[str, ...] = ("SUB",)) -> Path:
    """A FAT volume made by mkfs.fat (opts passed on) with files copied by mtools, some
    in a subdirectory."""
    blank(path, size)
    sh(tool("mkfs.fat"), *opts, str(path))
    mcopy, mmd = tool("mcopy"), tool("mmd")
    src = path.parent / (path.name + ".src")
    src.mkdir(exist_ok=True)
    for d in dirs:
        sh(mmd, "-i", str(path), f"::/{d}")
    for i, (name, data) in enumerate(files.items()):
        (src / name).write_bytes(data)
        dest = f"::/{dirs[0]}/" if dirs and i % 2 else "::/"
        sh(mcopy, "-i", str(path), str(src / name), dest)
    return path


def place(disk: Path, offset: int, part: Path) -> None:
    with open(disk, "r+b") as fh:
        fh.seek(offset)
        fh.write(part.read_bytes())


def write_at(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def pc98_entry(mid: int, sid: int, start_chs: tuple[int, int, int],
               end_chs: tuple[int, int, int], name: bytes) -> bytes:
    """A PC-98 partition entry (FreeBSD sys/diskpc98.h): cylinders, heads, sectors from
    0; the name in Shift_JIS, space-padded to 16 bytes."""
    (scyl, shd, ssect), (ecyl, ehd, esect) = start_chs, end_chs
    return struct.pack("<BBBBBBHBBHBBH16s", mid, sid, 0, 0, ssect, shd, scyl, ssect, shd,
                       scyl, esect, ehd, ecyl, name.ljust(16, b" "))


def pc98_disk(tmp: Path, heads: int, spt: int, cylinders: int = 80,
              name: str = "ＭＳ－ＤＯＳ 6.2") -> tuple[Path, int, Path]:
    """A PC-98 hard disk: IPL in sector 0, the table in sector 1, one FAT16 partition from
    cylinder 1 to the end. Returns (image, partition offset, the partition alone)."""
    cyl = heads * spt
    disk = blank(tmp / f"pc98-{heads}x{spt}.hdi", cylinders * cyl * 512)
    start = cyl * 512
    part = fat(tmp / f"pc98-part-{heads}x{spt}.img", (cylinders - 1) * cyl * 512,
               "-F", "16", "-n", "PC98VOL", "-h", str(cyl))
    ipl = bytearray(512)
    ipl[0:4], ipl[4:8], ipl[510:512] = b"\xeb\x0a\x90\x90", b"IPL1", b"\x55\xaa"
    table = pc98_entry(0xA0, 0xA1, (1, 0, 0), (cylinders - 1, heads - 1, spt - 1),
                       name.encode("cp932"))
    write_at(disk, 0, bytes(ipl) + table)
    place(disk, start, part)
    return disk, start, part


def human68k_boot(bps: int, spc: int, reserved: int, root: int, total: int, media: int,
                  fat_sectors: int) -> bytes:
    """A Human68k partition boot sector: bra.s, "Hudson soft 2.00", the big-endian
    parameter block."""
    head = b"\x60\x24" + b"Hudson soft 2.00" + struct.pack(
        ">HBBHHHBBI", bps, spc, 2, reserved, root, total if total < 65536 else 0, media,
        fat_sectors, total)
    return head.ljust(1024, b"\0")


def to_human68k_names(path: Path, offset: int, root_at: int, root_entries: int,
                      longer: dict[bytes, bytes]) -> None:
    """Turns the root directory's DOS entries into Human68k ones: bytes 12-21 (creation
    time and such on DOS) become the name's continuation, zeros unless given."""
    with open(path, "r+b") as fh:
        fh.seek(offset + root_at)
        data = bytearray(fh.read(root_entries * 32))
        for i in range(0, len(data), 32):
            if data[i] in (0, 0xE5) or data[i + 11] == 0x0F:
                continue
            data[i + 12:i + 22] = longer.get(bytes(data[i:i + 11]), b"").ljust(10, b"\0")
        fh.seek(offset + root_at)
        fh.write(data)
