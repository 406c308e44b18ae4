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


def blkid(path: Path, offset: int = 0, codec: str = "utf-8") -> dict[str, str]:
    """blkid -p's view of the file system at offset: TYPE and LABEL (from udev output,
    whose LABEL_ENC escapes bytes as \\xNN); {} when blkid finds none. codec: how to
    read the label's bytes (blkid passes FAT labels on as raw bytes: cp932 on Japanese
    media)."""
    cmd = [tool("blkid"), "-p", "-o", "udev"] + (["-O", str(offset)] if offset else [])
    out = subprocess.run([*cmd, str(path)], capture_output=True).stdout
    values: dict[str, str] = {}
    for line in out.splitlines():
        key, _, raw = line.partition(b"=")
        if key == b"ID_FS_TYPE":
            values["TYPE"] = raw.decode()
        elif key == b"ID_FS_LABEL_ENC":
            raw = re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m[1], 16)]), raw)
            values["LABEL"] = raw.decode(codec, "replace")
    return values


def volumes(path: Path):
    with Image(path) as im:
        return find_volumes(im)


def mdir(target: str) -> set[str]:
    """Every file's path in a FAT volume as mtools lists it (target: image[@@offset])."""
    out = sh(tool("mdir"), "-/", "-b", "-i", target, "::/")
    return {line.strip().removeprefix("::").lstrip("/")
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


def pc98_disk(tmp: Path, heads: int, spt: int, name: str = "ＭＳ－ＤＯＳ 6.2",
              ss: int = 512) -> tuple[Path, int, Path]:
    """A PC-98 hard disk of about 20 MB with ss-byte sectors (256 on SASI disks): IPL in
    sector 0, the table in sector 1, one FAT16 partition (1024-byte logical sectors, as
    NEC's DOS formats hard disks) from cylinder 1 to the end. Returns (image, partition
    offset, the partition alone)."""
    cyl = heads * spt
    cylinders = -(-(20 << 20) // (cyl * ss))
    disk = blank(tmp / f"pc98-{heads}x{spt}-{ss}.hdi", cylinders * cyl * ss)
    start = cyl * ss
    part = fat(tmp / f"pc98-part-{heads}x{spt}-{ss}.img", (cylinders - 1) * cyl * ss,
               "-F", "16", "-S", "1024", "-n", "PC98VOL")
    ipl = bytearray(ss)
    ipl[0:4], ipl[4:8], ipl[ss - 2:ss] = b"\xeb\x0a\x90\x90", b"IPL1", b"\x55\xaa"
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


def to_human68k_names(path: Path, longer: dict[bytes, bytes]) -> None:
    """Turns a DOS FAT's directory entries (root and first-level subdirectories) into
    Human68k ones: bytes 12-21 (creation time and such on DOS) continue the name, zeros
    unless `longer` gives the full base name (up to 18 bytes) for a short name."""
    from workbench.identify.fat import FatReader
    with Image(path) as im:
        vols, _ = find_volumes(im)
        r = FatReader(im, vols[0], "cp932")
        regions = [(r.root_offset, r.root_size)]
        root = im.read(r.root_offset, r.root_size)
        for i in range(0, len(root), 32):
            if root[i] not in (0, 0xE5) and root[i + 11] & 0x10:
                cluster = struct.unpack_from("<H", root, i + 26)[0]
                regions.append((r.data_offset + (cluster - 2) * r.cluster_size,
                                r.cluster_size))
    with open(path, "r+b") as fh:
        for at, size in regions:
            fh.seek(at)
            data = bytearray(fh.read(size))
            for i in range(0, len(data), 32):
                if data[i] in (0, 0xE5) or data[i + 11] == 0x0F or data[i] == ord("."):
                    continue
                full = longer.get(bytes(data[i:i + 11]))
                if full:
                    data[i:i + 8] = full[:8].ljust(8, b" ")
                data[i + 12:i + 22] = (full or b"")[8:18].ljust(10, b"\0")
            fh.seek(at)
            fh.write(data)


def add_files_fat32(path: Path, files: dict[str, bytes]) -> None:
    """Writes files into the root of a fresh FAT32 made by mkfs.fat, for volumes mtools
    will not touch (it picks the FAT type by cluster count alone): contiguous clusters
    after the root directory's, 8.3 names. fsck.fat and fls check the result."""
    boot = path.read_bytes()[:512]
    bps, spc, reserved, nfats = struct.unpack_from("<HBHB", boot, 11)
    fat_sectors, root_cluster = struct.unpack_from("<I", boot, 36)[0], \
        struct.unpack_from("<I", boot, 44)[0]
    cs = bps * spc
    data_at = (reserved + nfats * fat_sectors) * bps
    with open(path, "r+b") as fh:
        fh.seek(data_at + (root_cluster - 2) * cs)
        root = bytearray(fh.read(cs))
        slot = next(i for i in range(0, cs, 32) if root[i] == 0)
        cluster = root_cluster + 1
        for name, data in files.items():
            base, _, ext = name.partition(".")
            n = max(1, -(-len(data) // cs))
            for k in range(n):
                value = cluster + k + 1 if k < n - 1 else 0x0FFFFFFF
                for f in range(nfats):
                    fh.seek((reserved + f * fat_sectors) * bps + (cluster + k) * 4)
                    fh.write(struct.pack("<I", value))
            fh.seek(data_at + (cluster - 2) * cs)
            fh.write(data)
            root[slot:slot + 32] = struct.pack(
                "<8s3sBBBHHHHHHHI", base.encode().ljust(8), ext.encode().ljust(3), 0x20, 0,
                0, 0, 0x5B6E, 0x5B6E, cluster >> 16, 0x5000, 0x5B6E, cluster & 0xFFFF,
                len(data))
            slot, cluster = slot + 32, cluster + n
        fh.seek(data_at + (root_cluster - 2) * cs)
        fh.write(root)
        fh.seek(struct.unpack_from("<H", boot, 48)[0] * bps + 488)
        fh.write(b"\xff" * 8)  # FSInfo: free count and next free unknown


def fat16_to_big_endian(path: Path, fat_at: int, fat_bytes: int, nfats: int) -> None:
    """Human68k hard disks keep FAT16 entries big-endian: swap every entry of each FAT;
    entry 0 holds the media byte high, as Human68k writes it (F8 FF, not DOS's F8 FF
    read the other way round)."""
    with open(path, "r+b") as fh:
        for f in range(nfats):
            fh.seek(fat_at + f * fat_bytes)
            data = bytearray(fh.read(fat_bytes))
            data[0::2], data[1::2] = data[1::2], data[0::2]
            data[0:2] = bytes([data[1], 0xFF])
            fh.seek(fat_at + f * fat_bytes)
            fh.write(data)


def hdi(disk: Path, out: Path, heads: int, spt: int, ss: int = 512, base: int = 4096,
        kind: int = 0) -> Path:
    """Wraps a raw disk in an Anex86 HDI/FDI header (eight little-endian words)."""
    data = disk.read_bytes()
    cyl = len(data) // (heads * spt * ss)
    header = struct.pack("<8I", 0, kind, base, cyl * heads * spt * ss, ss, spt, heads, cyl)
    out.write_bytes(header.ljust(base, b"\0") + data[:cyl * heads * spt * ss])
    return out


def nhd(disk: Path, out: Path, heads: int, spt: int, ss: int = 512) -> Path:
    """Wraps a raw disk in a T98-Next NHD header (512 bytes)."""
    data = disk.read_bytes()
    cyl = len(data) // (heads * spt * ss)
    header = b"T98HDDIMAGE.R0\0".ljust(0x110, b"\0") + struct.pack("<IIHHH", 512, cyl, heads,
                                                                    spt, ss)
    out.write_bytes(header.ljust(512, b"\0") + data[:cyl * heads * spt * ss])
    return out
