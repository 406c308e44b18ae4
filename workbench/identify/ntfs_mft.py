"""NTFS on-disk structures read directly: the boot sector, MFT records (with their update
sequence fixups), attributes and run lists. The Sleuth Kit's Python binding does not
expose a $DATA attribute's initialised size or reparse points, and TSK cannot open
volumes with clusters over 64 KiB; this module gives the workbench those facts itself.
Every number read from the image is bounds-checked: damage raises NtfsError."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from workbench.identify.model import ZERO, Image, Volume

DATA, FILE_NAME, STANDARD_INFO, ATTR_LIST, VOLUME_NAME, REPARSE = (
    0x80, 0x30, 0x10, 0x20, 0x60, 0xC0)
FLAG_COMPRESSED, FLAG_ENCRYPTED = 0x0001, 0x4000
IN_USE, IS_DIR = 0x0001, 0x0002
REF_MASK = (1 << 48) - 1
_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


class NtfsError(ValueError):
    pass


@dataclass
class Attr:
    type: int
    name: str
    flags: int
    resident: bool
    value: bytes = b""  # resident value
    start_vcn: int = 0
    runs: list[tuple[int | None, int]] = field(default_factory=list)  # (lcn|None, clusters)
    alloc_size: int = 0
    data_size: int = 0
    init_size: int = 0


@dataclass
class Record:
    number: int
    seq: int
    flags: int
    base: int  # the base record's number (0 when this is a base record)
    attrs: list[Attr]

    def find(self, kind: int, name: str = "") -> list[Attr]:
        return [a for a in self.attrs if a.type == kind and a.name == name]


def filetime(value: int) -> str | None:
    if value <= 0:
        return None
    try:
        return (_EPOCH + timedelta(microseconds=value // 10)).isoformat()
    except OverflowError:
        return None


def decode_runs(data: bytes, pos: int) -> list[tuple[int | None, int]]:
    """A run list: (first cluster, or None for a sparse run, cluster count) in order."""
    runs: list[tuple[int | None, int]] = []
    lcn = 0
    while pos < len(data) and data[pos]:
        head = data[pos]
        nlen, nofs = head & 0x0F, head >> 4
        if nlen == 0 or nlen > 8 or nofs > 8 or pos + 1 + nlen + nofs > len(data):
            raise NtfsError("damaged run list")
        count = int.from_bytes(data[pos + 1:pos + 1 + nlen], "little")
        if nofs:
            lcn += int.from_bytes(data[pos + 1 + nlen:pos + 1 + nlen + nofs], "little",
                                  signed=True)
            if lcn < 0:
                raise NtfsError("run list points before the volume")
            runs.append((lcn, count))
        else:
            runs.append((None, count))
        pos += 1 + nlen + nofs
    return runs


def parse_attrs(rec: bytes) -> list[Attr]:
    attrs: list[Attr] = []
    pos = struct.unpack_from("<H", rec, 0x14)[0]
    used = min(struct.unpack_from("<I", rec, 0x18)[0], len(rec))
    while pos + 16 <= used:
        kind, length = struct.unpack_from("<II", rec, pos)
        if kind == 0xFFFFFFFF:
            break
        if length < 16 or pos + length > used:
            raise NtfsError("damaged attribute header")
        nonres, name_len, name_off, flags = struct.unpack_from("<BBHH", rec, pos + 8)
        raw_name = rec[pos + name_off:pos + name_off + 2 * name_len]
        name = raw_name.decode("utf-16-le", errors="replace")
        if nonres:
            if length < 0x40:
                raise NtfsError("damaged attribute header")
            start_vcn, = struct.unpack_from("<Q", rec, pos + 0x10)
            runs_off, = struct.unpack_from("<H", rec, pos + 0x20)
            alloc, size, init = struct.unpack_from("<QQQ", rec, pos + 0x28)
            runs = decode_runs(rec[pos:pos + length], runs_off)
            attrs.append(Attr(kind, name, flags, False, start_vcn=start_vcn, runs=runs,
                              alloc_size=alloc, data_size=size, init_size=init))
        else:
            vlen, voff = struct.unpack_from("<IH", rec, pos + 0x10)
            if voff + vlen > length:
                raise NtfsError("damaged resident attribute")
            value = rec[pos + voff:pos + voff + vlen]
            attrs.append(Attr(kind, name, flags, True, value=value, data_size=vlen,
                              init_size=vlen))
        pos += length
    return attrs


class Mft:
    """The volume's MFT: records by number, read through $MFT's own run list."""

    def __init__(self, image: Image, volume: Volume) -> None:
        self.image, self.base = image, volume.offset
        boot = image.read(volume.offset, 512)
        if len(boot) < 512 or boot[3:11] != b"NTFS    ":
            raise NtfsError("no NTFS boot sector")
        bps, spc = struct.unpack_from("<HB", boot, 0x0B)
        if spc > 0x80:  # clusters over 64 KiB: the count is a negative power of two
            spc = 1 << (256 - spc)
        if bps not in (256, 512, 1024, 2048, 4096) or spc == 0 or spc & (spc - 1):
            raise NtfsError("implausible NTFS boot sector geometry")
        self.sector, self.cluster = bps, bps * spc
        mft_lcn, = struct.unpack_from("<Q", boot, 0x30)
        per = struct.unpack_from("<b", boot, 0x40)[0]
        self.record_size = self.cluster * per if per > 0 else 1 << -per
        if not 256 <= self.record_size <= 65536:
            raise NtfsError("implausible MFT record size")
        self.total_clusters = struct.unpack_from("<Q", boot, 0x28)[0] * bps // self.cluster
        self.extents: list[tuple[int, int]] = [(mft_lcn * self.cluster, self.record_size * 16)]
        first = self.record(0)
        runs = self.data_runs(first)
        if runs is None:
            raise NtfsError("$MFT has no data runs")
        self.size = first.find(DATA)[0].data_size if first.find(DATA) else 0
        self.extents = [(ZERO if lcn is None else lcn * self.cluster, n * self.cluster)
                        for lcn, n in runs]
        self.count = self.size // self.record_size

    def raw(self, number: int) -> bytes:
        pos = number * self.record_size
        out = b""
        for start, n in self.extents:
            if pos < n:
                if start == ZERO:
                    raise NtfsError(f"MFT record {number} lies in a hole")
                take = min(n - pos, self.record_size - len(out))
                out += self.image.read(self.base + start + pos, take)
                pos = 0
                if len(out) >= self.record_size:
                    break
            else:
                pos -= n
        if len(out) < self.record_size:
            raise NtfsError(f"MFT record {number} lies beyond the MFT or the image")
        return out

    def record(self, number: int) -> Record:
        rec = bytearray(self.raw(number))
        if rec[:4] != b"FILE":
            raise NtfsError(f"MFT record {number} has no FILE signature")
        usa_off, usa_count = struct.unpack_from("<HH", rec, 4)
        if usa_off + 2 * usa_count > len(rec) or (usa_count - 1) * 512 > len(rec):
            raise NtfsError(f"MFT record {number}: damaged update sequence")
        usn = rec[usa_off:usa_off + 2]
        for i in range(1, usa_count):
            end = i * 512 - 2
            if rec[end:end + 2] != usn:
                raise NtfsError(f"MFT record {number}: torn write (update sequence)")
            rec[end:end + 2] = rec[usa_off + 2 * i:usa_off + 2 * i + 2]
        seq, = struct.unpack_from("<H", rec, 0x10)
        flags, = struct.unpack_from("<H", rec, 0x16)
        base, = struct.unpack_from("<Q", rec, 0x20)
        return Record(number, seq, flags, base & REF_MASK, parse_attrs(bytes(rec)))

    def attrs(self, record: Record, kind: int, name: str = "") -> list[Attr]:
        """Every piece of an attribute, following $ATTRIBUTE_LIST into extension records,
        ordered by first VCN."""
        found = record.find(kind, name)
        for lst in record.find(ATTR_LIST):
            value = lst.value if lst.resident else self.read_attr(lst)
            pos, seen = 0, {record.number}
            while pos + 0x1A <= len(value):
                a_type, rec_len, name_len, name_off = struct.unpack_from("<IHBB", value, pos)
                if rec_len < 0x1A:
                    break
                ref, = struct.unpack_from("<Q", value, pos + 0x10)
                a_name = value[pos + name_off:pos + name_off + 2 * name_len].decode(
                    "utf-16-le", errors="replace")
                number = ref & REF_MASK
                if a_type == kind and a_name == name and number not in seen:
                    seen.add(number)
                    found += self.record(number).find(kind, name)
                pos += rec_len
        return sorted(found, key=lambda a: a.start_vcn)

    def data_runs(self, record: Record, name: str = "") -> list[tuple[int | None, int]] | None:
        pieces = [a for a in self.attrs(record, DATA, name) if not a.resident]
        if not pieces:
            return None
        return [run for piece in pieces for run in piece.runs]

    def read_attr(self, attr: Attr, limit: int = 1 << 24) -> bytes:
        """A small non-resident attribute's value (attribute lists, reparse data)."""
        if attr.resident:
            return attr.value
        size = min(attr.data_size, limit)
        out = bytearray()
        for lcn, n in attr.runs:
            if len(out) >= size:
                break
            take = min(n * self.cluster, size - len(out))
            out += bytes(take) if lcn is None else self.image.read(
                self.base + lcn * self.cluster, take).ljust(take, b"\0")
        return bytes(out[:size])
