"""Size checks that catch truncated images even when every read succeeded."""

from __future__ import annotations

from collections.abc import Callable

PVD_OFFSET = 16 * 2048  # sector 16 of a 2048-byte-sector medium


def iso9660_volume_size(read: Callable[[int, int], bytes | memoryview]) -> int | None:
    """The size in bytes the ISO 9660 primary volume descriptor declares, or None.

    Volume space size is a both-endian u32 at offset 80, the logical block size a
    both-endian u16 at offset 128. Descriptors from sector 16 on are scanned up to the
    terminator, so a disc whose first descriptor is a boot record still yields its PVD.
    """
    for n in range(16):
        try:
            desc = bytes(read(PVD_OFFSET + n * 2048, 2048))
        except Exception:
            return None
        if len(desc) < 2048 or desc[1:6] != b"CD001":
            return None
        if desc[0] == 255:  # set terminator
            return None
        if desc[0] == 1:
            blocks_le = int.from_bytes(desc[80:84], "little")
            blocks_be = int.from_bytes(desc[84:88], "big")
            block_le = int.from_bytes(desc[128:130], "little")
            block_be = int.from_bytes(desc[130:132], "big")
            if blocks_le != blocks_be or block_le != block_be or block_le not in (
                    512, 1024, 2048):
                return None
            return blocks_le * block_le
    return None
