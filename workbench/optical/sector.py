"""Raw CD sectors (2,352 bytes) as ECMA-130 lays them out: encode, tell apart, check.

A data sector starts with a 12-byte sync and a 4-byte header (the absolute MSF in BCD
and the mode byte). Mode 1 carries 2,048 bytes, an EDC and P/Q parity (the "L-EC" layer
that lets a drive correct it); Mode 2 (XA) carries an 8-byte subheader whose submode
says the form: Form 1 has 2,048 bytes with EDC and ECC, Form 2 has 2,324 bytes (video,
sound) with only an optional EDC. An audio sector has no structure at all.

EDC: CRC-32 over GF(2) with polynomial 0x8001801B, bit-reflected (table constant
0xD8018001), initial value 0, no final inversion, stored little-endian.
ECC: a product code over GF(2^8) (generator 0x11D). The 2,064 (or 2,236 with P)
bytes from the header on are two interleaved planes of 1,032 (1,118) bytes; P parity is
a (26,24) code down 86 columns of 24, Q parity a (45,43) code along 52 diagonals of 43.
Both are linear, so each parity byte is a sum of input bytes times fixed coefficients:
those are found once by running the textbook recurrence on unit inputs, and applied a
whole row at a time with bytes.translate (pure Python, about 0.3 ms a sector).
"""

from __future__ import annotations

from functools import cache
from operator import itemgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where sectors are checked: every CLI start
    import numpy as np  # would pay ~0.3 s for it otherwise

SYNC = b"\x00" + b"\xff" * 10 + b"\x00"
RAW = 2352
USER = 2048  # Mode 1 and Mode 2 Form 1
FORM2_USER = 2324
SUBMODE_FORM2 = 0x20  # submode bit 5: Form 2
MSF_OFFSET = 150  # LBA 0 is 00:02:00

EDC_POLY = 0xD8018001  # 0x8001801B reflected
GF_POLY = 0x11D  # x^8 + x^4 + x^3 + x^2 + 1

# Where the parts are (byte offsets in a raw sector)
HEADER, MODE_BYTE, SUBHEADER = 12, 15, 16
MODE1_EDC, MODE1_ZERO, ECC_P, ECC_Q = 2064, 2068, 2076, 2248
FORM1_DATA, FORM1_EDC = 24, 2072
FORM2_EDC = 2348


def _edc_table() -> list[int]:
    table = []
    for i in range(256):
        edc = i
        for _ in range(8):
            edc = (edc >> 1) ^ (EDC_POLY if edc & 1 else 0)
        table.append(edc)
    return table


_EDC = _edc_table()


def edc(data: bytes) -> int:
    """The EDC (ECMA-130 CRC-32) of data."""
    crc, table = 0, _EDC
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc


@cache
def _edc_by_distance() -> np.ndarray:
    """[d, v]: what byte v contributes to the EDC with d bytes after it. The EDC is
    linear (no initial value, no final inversion), so a block's EDC is the XOR of its
    bytes' contributions: a whole read of sectors is checked in a few array steps."""
    import numpy as np
    step = np.array(_EDC, dtype=np.uint32)
    out = np.empty((MODE1_EDC, 256), dtype=np.uint32)
    out[0] = step
    for d in range(1, MODE1_EDC):
        prev = out[d - 1]
        out[d] = (prev >> np.uint32(8)) ^ step[prev & np.uint32(0xFF)]
    return out


def edc_ok_many(raw: bytes | memoryview) -> list[bool]:
    """For each whole raw sector in raw: does its EDC match, where it has one (Mode 1
    and Mode 2 Form 1; True for any other sector, which this check does not concern)?
    What a drive does in hardware before it returns a data sector."""
    import numpy as np
    sectors = np.frombuffer(raw, dtype=np.uint8)[:len(raw) // RAW * RAW].reshape(-1, RAW)
    ok = np.ones(len(sectors), dtype=bool)
    table = _edc_by_distance()
    mode = sectors[:, MODE_BYTE]
    form1 = (mode == 2) & ((sectors[:, 18] & SUBMODE_FORM2) == 0)
    synced = (sectors[:, :HEADER] == np.frombuffer(SYNC, dtype=np.uint8)).all(axis=1)
    for chosen, lo, at in ((synced & (mode == 1), 0, MODE1_EDC),
                           (synced & form1, SUBHEADER, FORM1_EDC)):
        if not chosen.any():
            continue
        block = sectors[chosen]
        length = at - lo
        contributions = table[np.arange(length - 1, -1, -1), block[:, lo:at]]
        computed = np.bitwise_xor.reduce(contributions, axis=1)
        stored = block[:, at:at + 4].copy().view("<u4").reshape(-1)
        ok[chosen] = computed == stored
    return [bool(x) for x in ok]


# -- GF(2^8) --------------------------------------------------------------------------
def _gf_mul(a: int, b: int) -> int:
    out = 0
    while b:
        if b & 1:
            out ^= a
        a <<= 1
        if a & 0x100:
            a ^= GF_POLY
        b >>= 1
    return out


@cache
def _mul_table(c: int) -> bytes:
    """x -> c*x over GF(2^8), as a bytes.translate table."""
    return bytes(_gf_mul(c, x) for x in range(256))


def _parity_reference(column: list[int]) -> tuple[int, int]:
    """The two parity bytes of one P column or Q diagonal: the recurrence every
    implementation of ECMA-130 Annex A uses (multiply by alpha after each byte, then
    divide the syndrome by alpha+1)."""
    a = b = 0
    for x in column:
        a = _gf_mul(a ^ x, 2)
        b ^= x
    inv3 = next(i for i in range(256) if _gf_mul(i, 3) == 1)
    first = _gf_mul(_gf_mul(a, 2) ^ b, inv3)
    return first, first ^ b


@cache
def _coefficients(length: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per position, what one input byte contributes to each of the two parity bytes."""
    firsts, seconds = [], []
    for pos in range(length):
        unit = [0] * length
        unit[pos] = 1
        p0, p1 = _parity_reference(unit)
        firsts.append(p0)
        seconds.append(p1)
    return tuple(firsts), tuple(seconds)


def _order(majors: int, minors: int, major_mult: int, minor_inc: int) -> itemgetter:
    """An itemgetter that lays the 2*L bytes out as `minors` rows of `majors` bytes: row m
    holds the m-th byte of every column (P) or diagonal (Q)."""
    size = majors * minors
    idx = []
    for minor in range(minors):
        for major in range(majors):
            idx.append(((major >> 1) * major_mult + (major & 1) + minor * minor_inc) % size)
    return itemgetter(*idx)


_P = (86, 24, _order(86, 24, 2, 86))
_Q = (52, 43, _order(52, 43, 86, 88))


def _parity(block: bytes, code: tuple[int, int, itemgetter]) -> bytes:
    majors, minors, order = code
    rows = bytes(order(block))
    first, second = _coefficients(minors)
    acc0 = acc1 = 0
    for m in range(minors):
        row = rows[m * majors:(m + 1) * majors]
        acc0 ^= int.from_bytes(row.translate(_mul_table(first[m])), "big")
        acc1 ^= int.from_bytes(row.translate(_mul_table(second[m])), "big")
    return acc0.to_bytes(majors, "big") + acc1.to_bytes(majors, "big")


def ecc(block: bytes) -> bytes:
    """P and Q parity (172 + 104 bytes) of the 2,064 bytes from the header to the end of
    the EDC area (Mode 2 Form 1 calls this with the header zeroed)."""
    if len(block) != ECC_P - HEADER:
        raise ValueError(f"ECC covers {ECC_P - HEADER} bytes, not {len(block)}")
    p = _parity(block, _P)
    return p + _parity(block + p, _Q)


# -- encode -----------------------------------------------------------------------------
def _bcd(n: int) -> int:
    return (n // 10) << 4 | n % 10


def header(lba: int, mode: int) -> bytes:
    """The 4-byte header: absolute MSF in BCD, then the mode."""
    frames = lba + MSF_OFFSET
    if not 0 <= frames < 100 * 60 * 75:
        raise ValueError(f"LBA {lba} is outside 00:00:00-99:59:74")
    return bytes((_bcd(frames // 4500), _bcd(frames // 75 % 60), _bcd(frames % 75), mode))


def _exact(data: bytes, size: int, what: str) -> None:
    if len(data) != size:
        raise ValueError(f"{what} takes {size} bytes, not {len(data)}")


def _subheader(subheader: bytes, form2: bool) -> bytes:
    """The 8-byte subheader from its 4 bytes (file, channel, submode, coding info),
    which the sector holds twice; the submode's form bit must match the form."""
    if len(subheader) == 8:
        if subheader[:4] != subheader[4:]:
            raise ValueError("the subheader's two copies differ")
        subheader = subheader[:4]
    _exact(subheader, 4, "a subheader")
    if bool(subheader[2] & SUBMODE_FORM2) != form2:
        raise ValueError(f"submode {subheader[2]:#04x} does not say Form {2 if form2 else 1}")
    return subheader * 2


def encode_mode1(lba: int, data: bytes) -> bytes:
    """A raw Mode 1 sector holding 2,048 bytes of data at lba."""
    _exact(data, USER, "a Mode 1 sector")
    body = SYNC + header(lba, 1) + data
    body += edc(body).to_bytes(4, "little") + bytes(8)
    return body + ecc(body[HEADER:])


def encode_mode2_form1(lba: int, data: bytes, subheader: bytes) -> bytes:
    """A raw Mode 2 Form 1 (XA) sector: subheader (4 or 8 bytes), 2,048 bytes of data."""
    _exact(data, USER, "a Mode 2 Form 1 sector")
    sub = _subheader(subheader, form2=False)
    payload = sub + data
    payload += edc(payload).to_bytes(4, "little")
    # Form 1 parity is computed with a zero header, so a sector keeps its ECC if moved
    return SYNC + header(lba, 2) + payload + ecc(bytes(4) + payload)


def encode_mode2_form2(lba: int, data: bytes, subheader: bytes) -> bytes:
    """A raw Mode 2 Form 2 (XA) sector: subheader (4 or 8 bytes), 2,324 bytes of data."""
    _exact(data, FORM2_USER, "a Mode 2 Form 2 sector")
    payload = _subheader(subheader, form2=True) + data
    return SYNC + header(lba, 2) + payload + edc(payload).to_bytes(4, "little")


# -- decode -----------------------------------------------------------------------------
def sector_form(raw: bytes) -> str:
    """What a raw sector is: audio, mode1, mode2_form1, mode2_form2, mode2 (formless
    Mode 2: 2,336 bytes, no subheader), or mode0 (a zero-filled Mode 0 sector)."""
    _exact(raw, RAW, "a raw sector")
    if raw[:12] != SYNC:
        return "audio"
    mode = raw[MODE_BYTE]
    if mode == 1:
        return "mode1"
    if mode == 2:
        if raw[16:20] != raw[20:24]:
            return "mode2"
        return "mode2_form2" if raw[18] & SUBMODE_FORM2 else "mode2_form1"
    if mode == 0:
        return "mode0"
    return "audio"  # a sync pattern by chance in audio: no data sector has another mode


def sector_lba(raw: bytes) -> int | None:
    """The LBA the header names, or None for audio or a header that is not BCD."""
    if sector_form(raw) == "audio":
        return None
    digits = []
    for b in raw[HEADER:HEADER + 3]:
        hi, lo = b >> 4, b & 0xF
        if hi > 9 or lo > 9:
            return None
        digits.append(hi * 10 + lo)
    m, s, f = digits
    return (m * 60 + s) * 75 + f - MSF_OFFSET


def user_data(raw: bytes) -> bytes | None:
    """The 2,048 data bytes of a Mode 1 or Mode 2 Form 1 sector; None for anything
    else (audio, Form 2, Mode 0 and formless Mode 2 hold no 2,048-byte block)."""
    form = sector_form(raw)
    if form == "mode1":
        return raw[16:16 + USER]
    if form == "mode2_form1":
        return raw[FORM1_DATA:FORM1_DATA + USER]
    return None


def edc_ok(raw: bytes) -> bool:
    """Whether the sector's EDC matches its contents. Form 2's EDC is optional: zero
    means none was recorded, which is no error. ValueError for sectors that carry no
    EDC (audio, Mode 0, formless Mode 2)."""
    form = sector_form(raw)
    if form == "mode1":
        return edc(raw[:MODE1_EDC]) == int.from_bytes(raw[MODE1_EDC:MODE1_EDC + 4], "little")
    if form == "mode2_form1":
        return edc(raw[16:FORM1_EDC]) == int.from_bytes(raw[FORM1_EDC:FORM1_EDC + 4], "little")
    if form == "mode2_form2":
        stored = int.from_bytes(raw[FORM2_EDC:], "little")
        return stored == 0 or edc(raw[16:FORM2_EDC]) == stored
    raise ValueError(f"a {form} sector has no EDC")


def ecc_ok(raw: bytes) -> bool:
    """Whether the P and Q parity match (Mode 1 and Mode 2 Form 1; ValueError for the
    others, which carry none). Mode 1's 8 reserved bytes must be zero too."""
    form = sector_form(raw)
    if form == "mode1":
        return raw[MODE1_ZERO:ECC_P] == bytes(8) and ecc(raw[HEADER:ECC_P]) == raw[ECC_P:]
    if form == "mode2_form1":
        return ecc(bytes(4) + raw[SUBHEADER:ECC_P]) == raw[ECC_P:]
    raise ValueError(f"a {form} sector has no ECC")
