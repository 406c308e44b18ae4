"""LHA's -lh5-, -lh6- and -lh7- decoder (LZSS with static Huffman blocks), pure Python.

The format (Okumura and Yoshizaki's ar002/LHa): the output is literals and (length,
distance) copies out of a sliding dictionary of 2**13 (lh5), 2**15 (lh6) or 2**16 (lh7)
bytes. Each block starts with a 16-bit symbol count, then three code-length tables: the
"pt" code that codes the literal/length code lengths (NT = 19 symbols), the literal/length
code (NC = 510: 256 bytes and 254 lengths 3..256), and the position code (NP symbols:
position bit counts). Codes are canonical (shorter first, then by symbol).

Floppy-era members are small; this decodes a few MB/s, enough. Damaged input raises
LzhError; the caller then flags the member instead of listing wrong bytes.
"""

from __future__ import annotations

NC = 510  # 256 literals + lengths 3..256
NT = 19
TBIT = 5
CBIT = 9
THRESHOLD = 3
METHODS = {"-lh5-": (13, 14, 4), "-lh6-": (15, 16, 5), "-lh7-": (16, 17, 5)}  # dicbit, NP, PBIT


class LzhError(ValueError):
    """The compressed data does not decode: damaged or not what its header says."""


class _Bits:
    """An MSB-first bit reader over the whole input, by bit position (no refill loop:
    each read takes the 4 bytes around the position at C speed)."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes) -> None:
        self.data, self.end, self.pos = data + bytes(8), len(data) * 8, 0

    def peek(self, n: int) -> int:
        at = self.pos
        word = int.from_bytes(self.data[at >> 3:(at >> 3) + 4], "big")
        return (word >> (32 - (at & 7) - n)) & ((1 << n) - 1)

    def skip(self, n: int) -> None:
        self.pos += n

    def get(self, n: int) -> int:
        if n == 0:
            return 0
        value = self.peek(n)
        self.pos += n
        return value

    def overrun(self) -> bool:
        return self.pos > self.end


class _Code:
    """A canonical Huffman code from its lengths, decoded through one flat table."""

    __slots__ = ("lengths", "single", "table", "width")

    def __init__(self, lengths: list[int]) -> None:
        self.lengths = lengths
        self.width = max(lengths) if lengths else 0
        self.single: int | None = None
        if self.width == 0:
            raise LzhError("empty Huffman code")
        if self.width > 16:
            raise LzhError("Huffman code longer than 16 bits")
        table = [-1] * (1 << self.width)
        code = 0
        for length in range(1, self.width + 1):
            for symbol, n in enumerate(lengths):
                if n == length:
                    span = 1 << (self.width - length)
                    start = code * span
                    if start + span > len(table):
                        raise LzhError("over-subscribed Huffman code")
                    table[start:start + span] = [symbol] * span
                    code += 1
            code <<= 1
        self.table = table

    def decode(self, bits: _Bits) -> int:
        if self.single is not None:
            return self.single
        symbol = self.table[bits.peek(self.width)]
        if symbol < 0:
            raise LzhError("invalid Huffman code")
        bits.skip(self.lengths[symbol])
        return symbol


def _constant(symbol: int) -> _Code:
    code = object.__new__(_Code)
    code.table, code.lengths, code.width, code.single = [], [], 0, symbol
    return code


def _read_pt(bits: _Bits, nn: int, nbit: int, special: int) -> _Code:
    n = bits.get(nbit)
    if n == 0:
        return _constant(bits.get(nbit))
    if n > nn:
        raise LzhError("bad code length table")
    lengths = [0] * nn
    i = 0
    while i < n:
        c = bits.peek(3)
        if c == 7:  # 7, then one more for each following 1 bit
            bits.skip(3)
            while bits.get(1):
                c += 1
                if c > 16:
                    raise LzhError("bad code length")
        else:
            bits.skip(3)
        lengths[i] = c
        i += 1
        if i == special:
            i += bits.get(2)  # that many zero lengths
    return _Code(lengths)


def _read_c(bits: _Bits, pt: _Code) -> _Code:
    n = bits.get(CBIT)
    if n == 0:
        return _constant(bits.get(CBIT))
    if n > NC:
        raise LzhError("bad literal table")
    lengths = [0] * NC
    i = 0
    while i < n:
        c = pt.decode(bits)
        if c <= 2:
            run = 1 if c == 0 else (bits.get(4) + 3 if c == 1 else bits.get(CBIT) + 20)
            i += run
        else:
            lengths[i] = c - 2
            i += 1
    if i > NC:
        raise LzhError("literal table overruns")
    return _Code(lengths)


def decode(data: bytes, method: str, size: int) -> bytes:
    """The size bytes -lh5-/-lh6-/-lh7- data decodes to."""
    dicbit, np_, pbit = METHODS[method]
    window = 1 << dicbit
    bits = _Bits(data)
    buf, from_bytes = bits.data, int.from_bytes
    out = bytearray()
    while len(out) < size:
        left = bits.get(16)
        if left == 0:
            raise LzhError("empty block")
        pt = _read_pt(bits, NT, TBIT, 3)
        c_code = _read_c(bits, pt)
        p_code = _read_pt(bits, np_, pbit, -1)
        # the hot loop, with the codes' tables in locals (a constant code has width 0)
        ct, cl, cw, cs = c_code.table, c_code.lengths, c_code.width, c_code.single
        pt_, pl, pw, ps = p_code.table, p_code.lengths, p_code.width, p_code.single
        pos = bits.pos
        while left and len(out) < size:
            left -= 1
            if cs is None:
                word = from_bytes(buf[pos >> 3:(pos >> 3) + 4], "big")
                c = ct[(word >> (32 - (pos & 7) - cw)) & ((1 << cw) - 1)]
                if c < 0:
                    raise LzhError("invalid Huffman code")
                pos += cl[c]
            else:
                c = cs
            if c < 256:
                out.append(c)
                continue
            length = c - 256 + THRESHOLD
            if ps is None:
                word = from_bytes(buf[pos >> 3:(pos >> 3) + 4], "big")
                p = pt_[(word >> (32 - (pos & 7) - pw)) & ((1 << pw) - 1)]
                if p < 0:
                    raise LzhError("invalid Huffman code")
                pos += pl[p]
            else:
                p = ps
            if p > 1:
                word = from_bytes(buf[pos >> 3:(pos >> 3) + 4], "big")
                p = (1 << (p - 1)) + ((word >> (32 - (pos & 7) - (p - 1)))
                                      & ((1 << (p - 1)) - 1))
                pos += p.bit_length() - 1
            distance = p + 1
            if distance > len(out) or distance > window:
                raise LzhError("copy from before the start")
            start = len(out) - distance
            if distance >= length:
                out += out[start:start + length]
            else:  # an overlapping copy repeats the last distance bytes
                chunk = out[start:]
                out += (chunk * (length // distance + 1))[:length]
        bits.pos = pos
        if bits.overrun():
            raise LzhError("compressed data ends early")
    if len(out) != size:
        raise LzhError(f"decoded {len(out)} bytes, header says {size}")
    return bytes(out)


CRC16_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0xA001 if _c & 1 else _c >> 1
    CRC16_TABLE.append(_c)


def crc16(data: bytes) -> int:
    """LHA's CRC-16 (the ARC one: polynomial 0x8005 reflected, initial 0)."""
    crc = 0
    table = CRC16_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc
