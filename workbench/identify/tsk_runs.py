"""A file's data runs turned into image extents, with holes as zeros.

A run is (first block in the file, first block on the volume or None for zeros, blocks).
None stands for a sparse run, an ext4 unwritten (fallocated) extent and a run TSK never
learnt (FILLER): The Sleuth Kit's icat reads all of them as zeros, and so do we. Bytes at
or past an initialised size (NTFS) are zeros too. Runs that do not cover the file give an
error, never short data passed off as whole."""

from __future__ import annotations

from collections.abc import Iterable

from workbench.identify.model import ZERO

Run = tuple[int, int | None, int]


def _add(out: list[tuple[int, int]], start: int, n: int) -> None:
    if n <= 0:
        return
    if out:
        last_start, last_n = out[-1]
        if (start == ZERO and last_start == ZERO) or (
                start != ZERO and last_start != ZERO and last_start + last_n == start):
            out[-1] = (last_start, last_n + n)
            return
    out.append((start, n))


def extents(runs: Iterable[Run], block: int, size: int, base: int, volume_size: int,
            init_size: int | None = None) -> tuple[list[tuple[int, int]], list[str]]:
    """(extents, errors) for size bytes; base is the volume's offset in the image."""
    out: list[tuple[int, int]] = []
    errors: list[str] = []
    init = size if init_size is None else max(0, min(init_size, size))
    pos = 0
    for first, addr, count in runs:
        if pos >= size:
            break
        at = first * block
        if at > pos:  # a gap between runs: nothing stored there
            _add(out, ZERO, min(at, size) - pos)
            pos = min(at, size)
            if pos >= size:
                break
        elif at < pos:
            errors.append("data runs overlap")
            break
        n = min(count * block, size - pos)
        if addr is None or pos >= init:
            _add(out, ZERO, n)
        else:
            if (addr + count) * block > volume_size:
                errors.append("data run lies beyond the end of the volume")
                break
            stored = min(n, init - pos)
            _add(out, base + addr * block, stored)
            _add(out, ZERO, n - stored)  # past the initialised size: zeros
        pos += n
    if pos < size and not errors:
        errors.append(f"data runs cover {pos} of {size} bytes")
    return out, errors
