"""File-system labels and types read the way blkid (libblkid 2.38) reads them, so that
a report says what `blkid -p` says:

- FAT: LABEL is the volume-label entry of the root directory only (the BPB's copy is
  blkid's LABEL_FATBOOT, not LABEL); TYPE vfat.
- exFAT: the label entry (0x83) of the root directory, UTF-16.
- NTFS: $VOLUME_NAME of the $Volume file (MFT record 3).
- ext2/3/4: s_volume_name; the TYPE from the feature flags as blkid decides it.
- ISO 9660: the Joliet volume identifier merged with the primary one (Joliet holds 16
  characters, the PVD 32 with '_' for what ASCII cannot say); without Joliet the PVD's.
- UDF: the Logical Volume Identifier; HFS: the MDB's name; HFS+: the root folder's name.
Trailing white space is trimmed, as blkid does.
"""

from __future__ import annotations

import struct

from workbench.identify.fatgeom import FatGeometry, Read, blkid_sees_fat, fat_geometry

BLKID_TYPES = {"fat12": "vfat", "fat16": "vfat", "fat32": "vfat", "exfat": "exfat",
               "ntfs": "ntfs", "iso9660": "iso9660", "udf": "udf", "hfs": "hfs",
               "hfsplus": "hfsplus"}


def _rtrim(text: str) -> str:
    return text.rstrip(" \t\n\r\v\f\0")


def _dir_label(data: bytes) -> bytes | None:
    for i in range(0, len(data) - 31, 32):
        ent = data[i:i + 32]
        if ent[0] == 0:
            return None
        cluster = struct.unpack_from("<H", ent, 20)[0] | struct.unpack_from("<H", ent, 26)[0]
        if ent[0] == 0xE5 or cluster or ent[11] & 0x3F == 0x0F:
            continue
        if ent[11] & 0x18 == 0x08:
            name = bytearray(ent[:11])
            if name[0] == 0x05:
                name[0] = 0xE5
            return bytes(name)
    return None


def fat_label(read: Read, offset: int, geo: FatGeometry, codepage: str) -> str:
    """The label blkid gives a FAT volume: the root directory's volume-label entry."""
    raw: bytes | None = None
    root = offset + (geo.reserved + geo.nfats * geo.fat_sectors) * geo.bps
    if geo.kind != "fat32":
        raw = _dir_label(read(root, geo.root_entries * 32))
    else:
        cluster_size = geo.bps * geo.spc
        fat_at, cluster, seen = offset + geo.reserved * geo.bps, geo.root_cluster, 0
        entries = geo.fat_sectors * geo.bps // 4
        while 2 <= cluster < entries and seen < 100 and raw is None:
            seen += 1
            raw = _dir_label(read(root + (cluster - 2) * cluster_size, cluster_size))
            cluster = struct.unpack("<I", read(fat_at + cluster * 4, 4).ljust(4, b"\0"))[0]
            cluster &= 0x0FFFFFFF
    return "" if raw is None else _rtrim(raw.decode(codepage, "replace"))


def _exfat(read: Read, offset: int) -> str:
    boot = read(offset, 512)
    heap, _count, root = struct.unpack_from("<III", boot, 88)
    bps_shift, spc_shift = boot[108], boot[109]
    if bps_shift > 12 or spc_shift > 25:
        return ""
    cluster_size = 1 << (bps_shift + spc_shift)
    fat_at = offset + (struct.unpack_from("<I", boot, 80)[0] << bps_shift)
    cluster, seen = root, 0
    while 2 <= cluster < 0xFFFFFFF7 and seen < 100:
        seen += 1
        data = read(offset + (heap << bps_shift) + (cluster - 2) * cluster_size,
                    cluster_size)
        for i in range(0, len(data) - 31, 32):
            if data[i] == 0:
                return ""
            if data[i] == 0x83:
                n = min(data[i + 1], 11)
                return _rtrim(data[i + 2:i + 2 + 2 * n].decode("utf-16-le", "replace"))
        cluster = struct.unpack("<I", read(fat_at + cluster * 4, 4).ljust(4, b"\0"))[0]
    return ""


def _ntfs(read: Read, offset: int) -> str:
    boot = read(offset, 512)
    bps, spc = struct.unpack_from("<HB", boot, 11)
    mft_cluster = struct.unpack_from("<Q", boot, 48)[0]
    clusters_per_record = struct.unpack_from("<b", boot, 64)[0]
    cluster_size = bps * (spc if spc <= 128 else 1 << (256 - spc))
    record_size = (clusters_per_record * cluster_size if clusters_per_record > 0
                   else 1 << -clusters_per_record)
    if not bps or record_size > 65536 or record_size < 256:
        return ""
    rec = bytearray(read(offset + mft_cluster * cluster_size + 3 * record_size, record_size))
    if rec[:4] != b"FILE":
        return ""
    usa_off, usa_count = struct.unpack_from("<HH", rec, 4)
    for i in range(1, usa_count):  # the update sequence: restore each sector's last word
        at, src = i * bps - 2, usa_off + 2 * i
        if at + 2 <= len(rec) and src + 2 <= len(rec):
            rec[at:at + 2] = rec[src:src + 2]
    pos = struct.unpack_from("<H", rec, 20)[0]
    while pos + 16 <= len(rec):
        atype, length = struct.unpack_from("<II", rec, pos)
        if atype == 0xFFFFFFFF or length == 0:
            break
        if atype == 0x60 and rec[pos + 8] == 0:  # $VOLUME_NAME, resident
            vlen, voff = struct.unpack_from("<IH", rec, pos + 16)
            value = bytes(rec[pos + voff:pos + voff + vlen])
            return _rtrim(value.decode("utf-16-le", "replace"))
        pos += length
    return ""


_EXT2_RO = 0x0001 | 0x0002 | 0x0004
_EXT2_INCOMPAT = 0x0002 | 0x0010
_EXT3_INCOMPAT = _EXT2_INCOMPAT | 0x0004


def ext_type(sb: bytes) -> str:
    """ext2, ext3, ext4, ext4dev or jbd, decided from the features as blkid does."""
    compat, incompat, ro = struct.unpack_from("<III", sb, 92)
    flags = struct.unpack_from("<I", sb, 352)[0] if len(sb) >= 356 else 0
    if incompat & 0x0008:
        return "jbd"
    ext3_unsupported = bool(ro & ~_EXT2_RO) or bool(incompat & ~_EXT3_INCOMPAT)
    if ext3_unsupported:
        return "ext4dev" if flags & 0x0004 else "ext4"
    if compat & 0x0004:
        return "ext3"
    if incompat & ~_EXT2_INCOMPAT:
        return "ext4dev" if flags & 0x0004 else "ext4"
    return "ext2"


def _iso(read: Read, offset: int) -> str:
    pvd = joliet = None
    for i in range(16, 16 + 64):
        desc = read(offset + i * 2048, 2048)
        if len(desc) < 2048 or desc[0] == 255 or desc[1:6] != b"CD001":
            break
        if desc[0] == 1 and pvd is None:
            pvd = desc
        elif desc[0] == 2 and joliet is None and desc[88:91] in (b"%/@", b"%/C", b"%/E"):
            joliet = desc
    if pvd is None:
        return ""
    ascii_id = pvd[40:72]
    if joliet is None:
        return _rtrim(ascii_id.decode("latin-1"))
    merged = _merge(joliet[40:72], ascii_id)
    return _rtrim((merged or joliet[40:72]).decode("utf-16-be", "replace"))


def _merge(utf16: bytes, ascii_id: bytes) -> bytes | None:
    """blkid's merge_utf16be_ascii: the Joliet name where it is a prefix of the PVD's
    (with '_' standing for what ASCII cannot hold), the PVD's tail after it."""
    out = bytearray()
    u = a = 0
    n = len(ascii_id)
    while u + 1 < n and a < n:
        if 0xD8 <= utf16[u] <= 0xDB and u + 3 < n and 0xDC <= utf16[u + 2] <= 0xDF:
            out += utf16[u:u + 2]
            u += 2
        c = ascii_id[a]
        if c == ord("_"):
            out += utf16[u:u + 2]
        elif utf16[u] == 0 and utf16[u + 1] == ord("_"):
            out += bytes([0, c])
        elif utf16[u] == 0 and chr(c).upper() == chr(utf16[u + 1]).upper():
            out += bytes([0, utf16[u + 1] if chr(c).isupper() else c])
        else:
            return None
        u, a = u + 2, a + 1
    for c in ascii_id[a:]:
        out += bytes([0, c])
    return bytes(out)


def _udf(read: Read, offset: int) -> str:
    for block in (2048, 512, 4096):
        anchor = read(offset + 256 * block, 512)
        if anchor[:2] == b"\x02\x00":
            break
    else:
        return ""
    length, location = struct.unpack_from("<II", anchor, 16)
    for i in range(min(length // block, 64)):
        desc = read(offset + (location + i) * block, 512)
        tag = struct.unpack_from("<H", desc, 0)[0] if len(desc) >= 2 else 8
        if tag == 8:
            break
        if tag == 6:  # Logical Volume Descriptor: LogicalVolumeIdentifier, a dstring
            ident = desc[84:212]
            clen = max(0, min(ident[-1] - 1, 126)) if ident[-1] else 0
            body = ident[1:1 + clen]
            if ident[0] == 8:
                return _rtrim(body.decode("latin-1"))
            if ident[0] == 16:
                return _rtrim(body.decode("utf-16-be", "replace"))
            return ""
    return ""


def _hfs(read: Read, offset: int) -> str:
    mdb = read(offset + 1024, 64)
    n = min(mdb[36], 27)
    return _rtrim(mdb[37:37 + n].decode("mac_roman"))


def _hfsplus(read: Read, offset: int) -> str:
    """The root folder's name: the first record of the catalog's first leaf node."""
    vh = read(offset + 1024, 512)
    block_size = struct.unpack_from(">I", vh, 40)[0]
    start, count = struct.unpack_from(">II", vh, 272 + 16)  # catalog fork, first extent
    if not block_size or not count:
        return ""
    base = offset + start * block_size
    header = read(base, 512)
    first_leaf = struct.unpack_from(">I", header, 14 + 10)[0]
    node_size = struct.unpack_from(">H", header, 14 + 18)[0]
    if node_size < 512 or first_leaf * node_size >= count * block_size:
        return ""
    leaf = read(base + first_leaf * node_size, node_size)
    if len(leaf) < node_size or leaf[8] != 0xFF:  # kind -1: a leaf node
        return ""
    rec = struct.unpack_from(">H", leaf, node_size - 2)[0]
    key_len, parent, name_len = struct.unpack_from(">HIH", leaf, rec)
    if parent != 1 or key_len < 6:
        return ""
    return leaf[rec + 8:rec + 8 + 2 * name_len].decode("utf-16-be", "replace")


def read_label(read: Read, offset: int, size: int, fs_type: str,
               codepage: str = "cp932") -> tuple[str, str]:
    """(LABEL, TYPE) as blkid reports them for the file system at offset; a reader's
    damaged structure gives ("", type), never an exception."""
    blkid = BLKID_TYPES.get(fs_type, "")
    try:
        if fs_type.startswith("fat"):
            geo = fat_geometry(read, offset, size)
            if geo is None:
                return "", ""
            seen = geo.source == "bpb" and blkid_sees_fat(read(offset, 512))
            return fat_label(read, offset, geo, codepage), "vfat" if seen else ""
        if fs_type == "ext":
            sb = read(offset + 1024, 1024)
            return _rtrim(sb[120:136].split(b"\0")[0].decode("utf-8", "replace")), ext_type(sb)
        probe = {"exfat": _exfat, "ntfs": _ntfs, "iso9660": _iso, "udf": _udf, "hfs": _hfs,
                 "hfsplus": _hfsplus}.get(fs_type)
        return (probe(read, offset) if probe else ""), blkid
    except (struct.error, IndexError, ValueError):
        return "", blkid
