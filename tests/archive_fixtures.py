"""Archives for the archive tests, made here: ZIP with the zip tool or zipfile, CAB with
gcab, LZH with a small writer below (lhasa, the Debian LZH tool, only extracts).

The LZH writer makes level 0, 1 and 2 headers and -lh0- (stored) or -lh5- members: a
greedy LZ77 over an 8 KiB window and one static-Huffman block per 65535 symbols, the
block layout lhasa and libarchive read (the tests check every archive with both before
trusting it)."""

from __future__ import annotations

import heapq
import struct
from datetime import datetime

NT, TBIT, CBIT, NP, PBIT = 19, 5, 9, 14, 4


def crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


class _Writer:
    def __init__(self) -> None:
        self.out, self.acc, self.n = bytearray(), 0, 0

    def put(self, value: int, bits: int) -> None:
        for i in range(bits - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                self.acc, self.n = 0, 0

    def bytes(self) -> bytes:
        pad = (8 - self.n) % 8
        self.put(0, pad)
        return bytes(self.out)


def _lengths(freq: list[int]) -> list[int]:
    """Huffman code lengths (at least two symbols used; at most 16 bits)."""
    heap = [(f, i, (i,)) for i, f in enumerate(freq) if f]
    heapq.heapify(heap)
    lengths = [0] * len(freq)
    tie = len(freq)
    while len(heap) > 1:
        f1, _, s1 = heapq.heappop(heap)
        f2, _, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            lengths[s] += 1
        heapq.heappush(heap, (f1 + f2, tie, s1 + s2))
        tie += 1
    assert max(lengths) <= 16, "test data too skewed for this writer"
    return lengths


def _codes(lengths: list[int]) -> list[int]:
    codes, code = [0] * len(lengths), 0
    for length in range(1, 17):
        for symbol, n in enumerate(lengths):
            if n == length:
                codes[symbol] = code
                code += 1
        code <<= 1
    return codes


def _tokens(data: bytes) -> list[tuple[int, int]]:
    """(literal, -1) or (length, distance) by a greedy search of the last 8 KiB."""
    out: list[tuple[int, int]] = []
    chains: dict[bytes, list[int]] = {}
    i = 0
    while i < len(data):
        best, best_at = 0, 0
        key = data[i:i + 3]
        if len(key) == 3:
            for j in reversed(chains.get(key, [])[-64:]):
                if i - j > 8192:
                    break
                n = 0
                while n < 256 and i + n < len(data) and data[j + n] == data[i + n]:
                    n += 1
                if n > best:
                    best, best_at = n, j
        step = best if best >= 3 else 1
        out.append((best, i - best_at) if best >= 3 else (data[i], -1))
        for k in range(i, i + step):
            chains.setdefault(data[k:k + 3], []).append(k)
        i += step
    return out


def _pt_table(w: _Writer, lengths: list[int], nbit: int, special: int) -> None:
    n = len(lengths)
    while n and not lengths[n - 1]:
        n -= 1
    w.put(n, nbit)
    i = 0
    while i < n:
        c = lengths[i]
        if c < 7:
            w.put(c, 3)
        else:
            w.put(7, 3)
            w.put((1 << (c - 7)) - 1, c - 7)
            w.put(0, 1)
        i += 1
        if i == special:
            zeros = 0
            while zeros < 3 and i + zeros < n and not lengths[i + zeros]:
                zeros += 1
            w.put(zeros, 2)
            i += zeros


def _block(w: _Writer, tokens: list[tuple[int, int]]) -> None:
    c_freq, p_freq = [0] * 510, [0] * NP
    for value, dist in tokens:
        if dist < 0:
            c_freq[value] += 1
        else:
            c_freq[value - 3 + 256] += 1
            p_freq[(dist - 1).bit_length()] += 1
    if sum(1 for f in c_freq if f) < 2:
        c_freq[0 if c_freq[0] == 0 else 1] += 1  # a second symbol keeps the code general
    if sum(1 for f in p_freq if f) < 2:
        p_freq[0] += 1
        p_freq[1] += 1
    c_len, p_len = _lengths(c_freq), _lengths(p_freq)
    n = len(c_len)
    while not c_len[n - 1]:
        n -= 1
    t_syms: list[tuple[int, int, int]] = []  # (symbol, extra value, extra bits)
    i = 0
    while i < n:
        if c_len[i]:
            t_syms.append((c_len[i] + 2, 0, 0))
            i += 1
            continue
        run = 1
        while i + run < n and not c_len[i + run]:
            run += 1
        i += run
        while run:
            if run <= 2:
                t_syms.append((0, 0, 0))
                run -= 1
            elif run <= 18:
                t_syms.append((1, run - 3, 4))
                run = 0
            elif run == 19:
                t_syms.append((0, 0, 0))
                run -= 1
            else:
                take = min(run, 20 + 511)
                t_syms.append((2, take - 20, CBIT))
                run -= take
    t_freq = [0] * NT
    for sym, _, _ in t_syms:
        t_freq[sym] += 1
    if sum(1 for f in t_freq if f) < 2:
        t_freq[0 if t_freq[0] == 0 else 1] += 1
    t_len = _lengths(t_freq)
    t_code, c_code, p_code = _codes(t_len), _codes(c_len), _codes(p_len)
    w.put(len(tokens), 16)
    _pt_table(w, t_len, TBIT, 3)
    w.put(n, CBIT)
    for sym, extra, bits in t_syms:
        w.put(t_code[sym], t_len[sym])
        w.put(extra, bits)
    _pt_table(w, p_len, PBIT, -1)
    for value, dist in tokens:
        if dist < 0:
            w.put(c_code[value], c_len[value])
            continue
        c = value - 3 + 256
        w.put(c_code[c], c_len[c])
        p = dist - 1
        bits = p.bit_length()
        w.put(p_code[bits], p_len[bits])
        if bits > 1:
            w.put(p - (1 << (bits - 1)), bits - 1)


def lh5(data: bytes) -> bytes:
    tokens = _tokens(data)
    w = _Writer()
    for start in range(0, len(tokens), 65535):
        _block(w, tokens[start:start + 65535])
    return w.bytes()


def _dos(when: datetime) -> bytes:
    date = ((when.year - 1980) << 9) | (when.month << 5) | when.day
    time = (when.hour << 11) | (when.minute << 5) | (when.second // 2)
    return struct.pack("<HH", time, date)


def lzh_member(name: bytes, data: bytes, level: int, method: str = "-lh5-",
               when: datetime = datetime(2001, 2, 3, 4, 5, 6), folder: bytes = b"",
               crc: int | None = None) -> bytes:
    """One member: header and data. folder: a directory (level 1 and 2 put it in an
    extended header, level 0 in the name with a backslash)."""
    packed = lh5(data) if method == "-lh5-" else data
    crc = crc16(data) if crc is None else crc
    if level == 0:
        full = (folder.replace(b"/", b"\\") + b"\\" if folder else b"") + name
        body = (method.encode() + struct.pack("<II", len(packed), len(data)) + _dos(when)
                + bytes([0x20, 0, len(full)]) + full + struct.pack("<H", crc))
        return bytes([len(body), sum(body) & 0xFF]) + body + packed
    if level == 1:
        ext = b""
        if folder:
            ext = bytes([0x02]) + folder.replace(b"/", b"\xff") + b"\xff"
            ext = struct.pack("<H", len(ext) + 2) + ext
        base = (method.encode() + struct.pack("<II", len(packed) + len(ext), len(data))
                + _dos(when) + bytes([0x20, 1, len(name)]) + name + struct.pack("<H", crc)
                + b"U")
        first_ext = struct.pack("<H", len(ext)) if ext else b"\0\0"
        body = base + first_ext
        head = bytes([len(body), sum(body) & 0xFF]) + body
        # the chained sizes: the base ends with the first size, each ext ends with the next
        chain = ext[2:] + b"\0\0" if ext else b""
        return head + chain + packed
    exts = [b"\0\0\0", bytes([0x01]) + name]  # the common header: the header's CRC-16
    if folder:
        exts.append(bytes([0x02]) + folder.replace(b"/", b"\xff") + b"\xff")
    ext_bytes = b""
    for e in exts:
        ext_bytes += struct.pack("<H", len(e) + 2) + e
    ext_bytes += b"\0\0"
    stamp = int(when.timestamp())
    body = (method.encode() + struct.pack("<IIIBBHB", len(packed), len(data), stamp, 0x20, 2,
                                          crc, ord("U")) + ext_bytes)
    header = bytearray(struct.pack("<H", len(body) + 2) + body)
    struct.pack_into("<H", header, 27, crc16(bytes(header)))  # 24: size, 26: type 0x00
    return bytes(header) + packed


def lzh(members: list[bytes]) -> bytes:
    return b"".join(members) + b"\0"
