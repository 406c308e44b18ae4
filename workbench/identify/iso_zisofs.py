"""zisofs (the Rock Ridge ZF 'pz' compression of mkzftree, mkisofs -z and xorriso): a
file's stored bytes are a 16-byte header, a table of block pointers and one zlib stream
per block; a block whose pointers are equal is all zeros. The file's real bytes come out
block by block, each checked for its length, so a bad block is an error, never a silent
short or wrong file."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from workbench.identify.model import ExtentFile

MAGIC = b"\x37\xe4\x53\x96\xc9\xdb\xd6\x07"


class ZisofsError(ValueError):
    pass


def header(head: bytes) -> tuple[int, int, int] | None:
    """(uncompressed size, header size in bytes, log2 block size) of stored bytes that
    open with a zisofs header, else None."""
    if len(head) < 16 or head[:8] != MAGIC:
        return None
    size = struct.unpack_from("<I", head, 8)[0]
    return size, head[12] * 4, head[13]


def chunks(fd: int, stored: list[tuple[int, int]]) -> Iterator[bytes]:
    """The uncompressed bytes of a zisofs file whose stored bytes lie at stored."""
    with ExtentFile(fd, stored) as src:
        length = src.length
        head = src.read(16)
        found = header(head)
        if found is None:
            raise ZisofsError("no zisofs header")
        size, header_size, log2 = found
        if not 15 <= log2 <= 17:
            raise ZisofsError(f"zisofs block size 2^{log2} not allowed")
        block = 1 << log2
        count = (size + block - 1) // block
        src.seek(header_size)
        table = src.read(4 * (count + 1))
        if len(table) < 4 * (count + 1):
            raise ZisofsError("zisofs block pointers cut short")
        pointers = struct.unpack(f"<{count + 1}I", table)
        left = size
        for i in range(count):
            want = min(block, left)
            start, end = pointers[i], pointers[i + 1]
            if start == end:
                data = bytes(want)
            else:
                if not header_size <= start < end <= length or end - start > 2 * block + 64:
                    raise ZisofsError(f"zisofs block {i} pointers out of range")
                src.seek(start)
                try:  # no more than the block: damaged data cannot inflate without end
                    inflate = zlib.decompressobj()
                    data = inflate.decompress(src.read(end - start), want + 1)
                    if not inflate.eof:
                        raise zlib.error("stream not ended")
                except zlib.error as exc:
                    raise ZisofsError(f"zisofs block {i}: {exc}") from exc
                if len(data) != want:
                    raise ZisofsError(f"zisofs block {i}: {len(data)} bytes, not {want}")
            left -= want
            yield data
