"""Runs to extents: holes, unlearnt (FILLER) runs and bytes past an initialised size are
zeros; runs that do not cover the file, overlap, or leave the volume are errors."""

from __future__ import annotations

from workbench.identify.model import ZERO
from workbench.identify.tsk_runs import extents

B = 1024
BASE, VOLUME = 1 << 20, 64 << 20


def test_gap_between_runs_and_sparse_runs_are_zeros():
    runs = [(0, 100, 4), (4, None, 60), (64, 200, 4), (68, None, 128)]
    out, errors = extents(runs, B, 200000, BASE, VOLUME)
    assert not errors
    assert out == [(BASE + 100 * B, 4 * B), (ZERO, 60 * B), (BASE + 200 * B, 4 * B),
                   (ZERO, 200000 - 68 * B)]
    # a gap TSK did not fill in at all is zeros too, never the volume's start
    out, _ = extents([(0, 100, 4), (64, 200, 4)], B, 68 * B, BASE, VOLUME)
    assert out == [(BASE + 100 * B, 4 * B), (ZERO, 60 * B), (BASE + 200 * B, 4 * B)]


def test_bytes_past_the_initialised_size_are_zeros():
    out, errors = extents([(0, 10, 40)], B, 40 * B, BASE, VOLUME, init_size=5000)
    assert not errors and out == [(BASE + 10 * B, 5000), (ZERO, 40 * B - 5000)]
    out, _ = extents([(0, 10, 2), (2, 50, 2)], B, 4 * B, BASE, VOLUME, init_size=B)
    assert out == [(BASE + 10 * B, B), (ZERO, 3 * B)]


def test_contiguous_runs_merge_and_the_last_run_is_cut_to_the_size():
    out, errors = extents([(0, 10, 2), (2, 12, 2)], B, 3 * B + 7, BASE, VOLUME)
    assert not errors and out == [(BASE + 10 * B, 3 * B + 7)]


def test_short_overlapping_and_outside_runs_are_errors():
    out, errors = extents([(0, 10, 2)], B, 5 * B, BASE, VOLUME)
    assert errors == [f"data runs cover {2 * B} of {5 * B} bytes"]
    assert sum(n for _, n in out) == 2 * B
    _, errors = extents([(0, 10, 4), (2, 30, 4)], B, 8 * B, BASE, VOLUME)
    assert errors == ["data runs overlap"]
    _, errors = extents([(0, VOLUME // B - 1, 4)], B, 4 * B, BASE, VOLUME)
    assert errors == ["data run lies beyond the end of the volume"]


def test_empty_file_has_no_extents_and_no_error():
    assert extents([], B, 0, BASE, VOLUME) == ([], [])


def test_ntfs_run_lists_and_reparse_points_decode():
    import struct

    import pytest

    from workbench.identify.ntfs_facts import MOUNT_POINT, SYMLINK, reparse_link
    from workbench.identify.ntfs_mft import NtfsError, decode_runs

    # 0x21: 1 length byte, 2 offset bytes; 0x01: sparse; a negative relative offset
    data = bytes([0x21, 0x04, 0x00, 0x10, 0x01, 0x08, 0x11, 0x02, 0xF0, 0x00])
    assert decode_runs(data, 0) == [(0x1000, 4), (None, 8), (0x1000 - 16, 2)]
    with pytest.raises(NtfsError):
        decode_runs(bytes([0x11, 0x01, 0x05, 0x11, 0x01, 0x80, 0x00]), 0)  # before LCN 0

    def buffer(tag: int, subst: str, shown: str, flags: int | None) -> bytes:
        s, p = subst.encode("utf-16-le"), shown.encode("utf-16-le")
        body = struct.pack("<HHHH", 0, len(s), len(s), len(p))
        body += (struct.pack("<I", flags) if flags is not None else b"") + s + p
        return struct.pack("<IHH", tag, len(body), 0) + body

    assert reparse_link(buffer(SYMLINK, "..\\x", "..\\x", 1)) == (SYMLINK, "..\\x")
    assert reparse_link(buffer(MOUNT_POINT, "\\??\\D:\\", "", None)) == (MOUNT_POINT, "D:\\")
    assert reparse_link(struct.pack("<IHH", 0x80000017, 0, 0)) == (0x80000017, None)
