"""Partition tables of Japanese computers besides PC-98 (see partitions_pc98).

Sharp X68000 hard disks (Human68k): the partition table is in physical sector 4 -- byte
0x800 on SCSI disks (512-byte sectors, "X68SCSI1" at byte 0), byte 0x400 on SASI disks
(256-byte sectors): "X68K", three 32-bit words (sizes), then up to 15 entries of 16
bytes, big-endian: an 8-byte name ("Human68k"), a 32-bit word whose low 24 bits are the
start and a 32-bit length -- in 1024-byte units on SCSI disks, in 256-byte sectors on
SASI disks (Aaru's Human68k plugin; public analyses of HDS/HDF images). Each partition
starts with a Human68k boot sector whose big-endian parameter block fatgeom reads.

Fujitsu FM TOWNS: its boot sector starts with "IPL4". How its hard-disk partition
table is laid out is not documented in any public source we could check, so such a
disk is recognised and reported as such, without guessing at partitions.
"""

from __future__ import annotations

import struct

from workbench.identify.model import Image, Volume

# (table offset, unit of its addresses): SCSI, then SASI
X68K_TABLES = ((0x800, 1024), (0x400, 256))


def x68k(image: Image, errors: list[str]) -> list[Volume] | None:
    found = [(image.read(at, 16 + 15 * 16), unit) for at, unit in X68K_TABLES]
    found = [(table, unit) for table, unit in found if table[:4] == b"X68K"]
    if not found:
        return None
    table, unit = found[0]
    volumes: list[Volume] = []
    for i in range(15):
        e = table[16 + i * 16:32 + i * 16]
        if len(e) < 16:
            break
        name = e[:8]
        state_start, length = struct.unpack_from(">II", e, 8)
        if length == 0 or not name.strip(b"\0 "):
            continue
        offset, size = (state_start & 0xFFFFFF) * unit, length * unit
        if offset >= image.size or offset == 0:
            errors.append(f"X68000 partition {i + 1} lies outside the image")
            continue
        if offset + size > image.size:
            errors.append(f"X68000 partition {i + 1} lies partly outside the image")
            size = image.size - offset
        label = name.split(b"\0")[0].decode("cp932", "replace").rstrip(" ")
        volumes.append(Volume(len(volumes), offset, size, "x68k", label or "X68000",
                              partition_label=label, sector_size=unit))
    return volumes


def fm_towns(image: Image) -> list[Volume]:
    """A whole-disk volume marked as an FM TOWNS disk when sector 0 starts with "IPL4"
    and nothing else was recognised; [] otherwise."""
    if image.read(0, 4) != b"IPL4":
        return []
    return [Volume(0, 0, image.size, "fm-towns", "FM TOWNS IPL4 boot sector",
                   errors=["FM TOWNS disk (IPL4 boot sector): its partition table is "
                           "not documented well enough to read"])]
