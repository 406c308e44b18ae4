"""The volumes of an image: partition tables, file systems, hybrid discs.

Only signatures are read here; the readers do the rest. Every number read from the
image is bounds-checked: a corrupt table gives errors, never an exception.

Which structure wins, as libblkid and wipefs see it: a partition table (MBR, GPT, APM,
PC-98, X68000) whose partitions hold recognised file systems wins over a file-system
signature at the start of the disk (an old ext3 superblock left behind at 1 KiB by a
later fdisk); a file system at the start whose "partition table" leads nowhere (a FAT
boot sector also ends in 55 AA) stays a whole-disk volume. A disc lists every file
system it carries side by side (ISO 9660, UDF, HFS/HFS+, El Torito boot images).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from workbench.identify import partitions
from workbench.identify.containers import SubImage, emulator_container
from workbench.identify.fatgeom import dos_bpb, fat_geometry
from workbench.identify.hybrid import disc_extras
from workbench.identify.labels import read_label
from workbench.identify.model import Image, Volume
from workbench.identify.partitions_pc98 import pc98, pc98_unread
from workbench.identify.retro import fm_towns, x68k


def sniff(image: Image, offset: int, size: int = 0) -> str:
    """The file system at offset, or "" when none is recognised."""
    boot = image.read(offset, 4096)
    if len(boot) < 512:
        return ""
    if boot[3:11] == b"NTFS    ":
        return "ntfs"
    if boot[3:11] == b"EXFAT   ":
        return "exfat"
    geo = fat_geometry(image.read, offset, size or image.size - offset)
    if geo:
        return geo.kind
    if len(boot) >= 1082 and boot[1080:1082] == b"\x53\xef":
        return "ext"
    if len(boot) >= 1026:
        if boot[1024:1026] == b"BD":
            return "hfs"
        if boot[1024:1026] in (b"H+", b"HX"):
            return "hfsplus"
    vrs = image.read(offset + 32768, 2048 * 8)
    ids = {vrs[i + 1:i + 6] for i in range(0, len(vrs) - 6, 2048)}
    if b"NSR02" in ids or b"NSR03" in ids:
        return "iso9660+udf" if b"CD001" in ids else "udf"
    if b"CD001" in ids:
        return "iso9660"
    return ""


def fat_type(boot: bytes) -> str:
    """FAT12/16/32 from a DOS boot sector's BPB, or "" (kept for callers of old)."""
    geo = dos_bpb(boot)
    return geo.kind if geo else ""


def _sniff_at(image: Image, offset: int, size: int) -> str:
    fs = sniff(image, offset, size)
    return "iso9660" if fs == "iso9660+udf" else fs


def _tables(image: Image, errors: list[str], hint: tuple[int, int, int] | None = None
            ) -> list[Volume] | None:
    """The partition table that explains the disk best: the first (in the order GPT,
    APM, MBR, PC-98, X68000) with the most partitions on recognised file systems."""
    best: tuple[int, list[Volume], list[str]] | None = None
    finders: list[Callable[[Image, list[str]], list[Volume] | None]] = [
        partitions.gpt, partitions.apm, lambda im, e: partitions.mbr(im, e, _sniff_at),
        lambda im, e: pc98(im, e, _sniff_at, hint), x68k]
    for find in finders:
        errs: list[str] = []
        found = find(image, errs)
        if not found:
            continue
        for v in found:
            v.fs_type = v.fs_type or _sniff_at(image, v.offset, v.size)
        score = sum(1 for v in found if v.fs_type)
        if best is None or score > best[0]:
            best = (score, found, errs)
    if best is None:
        return None
    errors.extend(best[2])
    return best[1]


def find_volumes(image: Image, sessions: list[int] | None = None,
                 codepage: str = "cp932") -> tuple[list[Volume], list[str]]:
    """The image's volumes, each with the file system recognised (or not), its label as
    blkid reads it, and errors. sessions: a disc's data session start LBAs from its
    TOC; without them a disc image's later sessions are scanned for. A PC-98
    emulator's image (HDI, FDI, NHD) is read past its header, with its geometry."""
    container = None if sessions else emulator_container(image)
    if container is None:
        volumes, errors = _find(image, sessions, None)
        base = 0
    else:
        sub = SubImage(image, container.base, container.size)
        volumes, errors = _find(sub, None, (container.sector_size, container.heads,
                                            container.sectors))
        base = container.base
        for v in volumes:
            v.offset += base
            if v.scheme == "none":
                v.scheme = container.kind
    for i, v in enumerate(volumes):
        v.index = i
        if v.fs_type == "hfs":
            _unwrap_hfsplus(image, v)
        if v.fs_type:
            # a multi-session disc is named by its newest session (blkid reads the one
            # its session_offset hint points at)
            at = v.sessions[-1] * 2048 if v.sessions else v.offset
            v.label, v.blkid_type = read_label(image.read, at, v.size, v.fs_type, codepage)
            v.label_checked = True
    return volumes, errors


def _find(image: Image, sessions: list[int] | None, hint: tuple[int, int, int] | None
          ) -> tuple[list[Volume], list[str]]:
    errors: list[str] = []
    disc = _disc(image)
    whole = disc or sniff(image, 0)
    iso = _iso_sessions(image, sessions) if whole.startswith("iso9660") or sessions else []
    if iso:
        volume = Volume(0, 0, image.size, "none", fs_type="iso9660")
        volume.sessions = iso if len(iso) > 1 or iso[0] else []
        volumes = [volume, *disc_extras(image, errors, whole, _sniff_at)]
    elif whole == "udf":
        volumes = [Volume(0, 0, image.size, "none", fs_type="udf"),
                   *disc_extras(image, errors, whole, _sniff_at)]
    elif whole in ("ntfs", "exfat") or whole.startswith("fat"):
        # sector 0 is a volume boot record: whatever its tail looks like, not a table
        volumes = [Volume(0, 0, image.size, "none", fs_type=whole)]
    else:
        tables = _tables(image, errors, hint)
        table_found = bool(tables) and any(v.fs_type for v in tables or [])
        if tables and (table_found or not whole):
            volumes = tables
        else:
            volumes = [Volume(0, 0, image.size, "none", fs_type=whole)]
            if not whole:
                volumes = pc98_unread(image) or fm_towns(image) or volumes
    if disc and len(volumes) > 1:
        for v in volumes:
            if v.scheme == "none":
                v.scheme = "hybrid"
    return volumes, errors


def _unwrap_hfsplus(image: Image, volume: Volume) -> None:
    """An HFS volume that only wraps an HFS+ volume (Mac OS 8.1 to 9 disks, so older Macs
    can see a ReadMe): the volume becomes the embedded HFS+ one, as blkid reads it."""
    mdb = image.read(volume.offset + 1024, 162)
    if len(mdb) < 130 or mdb[:2] != b"BD" or mdb[124:126] != b"H+":
        return
    block_size = struct.unpack_from(">I", mdb, 20)[0]
    first_sector = struct.unpack_from(">H", mdb, 28)[0]
    start, count = struct.unpack_from(">HH", mdb, 126)
    offset = first_sector * 512 + start * block_size
    size = count * block_size
    if not block_size or offset + size > volume.size or \
            image.read(volume.offset + offset + 1024, 2) not in (b"H+", b"HX"):
        volume.errors.append("HFS wrapper names an embedded HFS+ volume that is not there")
        return
    volume.offset, volume.size, volume.fs_type = volume.offset + offset, size, "hfsplus"
    volume.partition_type = volume.partition_type or "HFS wrapper"


def _disc(image: Image) -> str:
    """iso9660, udf or iso9660+udf when the image is a disc (volume descriptors from
    sector 16 of 2048 bytes), else ""."""
    vrs = image.read(32768, 2048 * 8)
    ids = {vrs[i + 1:i + 6] for i in range(0, len(vrs) - 6, 2048)}
    iso = vrs[:6] == b"\x01CD001"
    if b"NSR02" in ids or b"NSR03" in ids:
        return "iso9660+udf" if iso else "udf"
    return "iso9660" if iso else ""


def _iso_sessions(image: Image, starts: list[int] | None) -> list[int]:
    """The start LBAs of the image's ISO 9660 sessions, oldest first."""
    from workbench.optical.sessions import find_sessions

    return [v.start_lba for v in find_sessions(image.read, image.size, starts)]
