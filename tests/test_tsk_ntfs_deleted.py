"""A deleted NTFS name whose MFT entry is in use by another file, as Windows leaves them
in a directory index's slack: listed as deleted, marked, and not given the other file's
bytes, as fls marks it "(realloc)". ntfs-3g wipes index slack, so the fixture puts a
copy of one entry, renamed, after the index block's last entry (dated 2015: TSK ignores
slack entries dated after 2020)."""

from __future__ import annotations

import hashlib
import struct
import subprocess
from pathlib import Path

import pytest

from tests.fsfixtures import tool
from tests.test_tsk_content import blank, compare_with_tsk, fls, mounted
from workbench.identify.model import Image
from workbench.identify.ntfs_mft import Mft
from workbench.identify.volumes import find_volumes


@pytest.fixture(scope="module")
def pool():
    from workbench.identify.pool import IdentifyPool
    with IdentifyPool(0) as p:
        yield p


def _fixups(block: bytearray, restore: bool) -> None:
    usa_off, usa_count = struct.unpack_from("<HH", block, 4)
    usn = block[usa_off:usa_off + 2]
    for i in range(1, usa_count):
        end, saved = i * 512 - 2, usa_off + 2 * i
        if restore:
            block[end:end + 2] = block[saved:saved + 2]
        else:
            block[saved:saved + 2] = block[end:end + 2]
            block[end:end + 2] = usn


def plant_deleted_name(img: Path, folder_inode: int, model: str, ghost: str) -> None:
    """Copy model's index entry, renamed ghost (same length), into the slack of the
    folder's first index block."""
    assert len(model) == len(ghost)
    with Image(img) as image:
        mft = Mft(image, find_volumes(image)[0][0])
        attrs = [a for a in mft.record(folder_inode).attrs if a.type == 0xA0]
        lcn = attrs[0].runs[0][0]
        assert lcn is not None
        at, size = lcn * mft.cluster, 4096
    with open(img, "r+b") as fh:
        fh.seek(at)
        block = bytearray(fh.read(size))
        assert block[:4] == b"INDX"
        _fixups(block, restore=True)
        first, used, alloc = struct.unpack_from("<III", block, 0x18)
        pos, end = 0x18 + first, 0x18 + used
        while pos < end:
            length, = struct.unpack_from("<H", block, pos + 8)
            name_len = block[pos + 16 + 0x40]
            name = block[pos + 16 + 0x42:pos + 16 + 0x42 + 2 * name_len].decode("utf-16-le")
            if name == model:
                entry = bytearray(block[pos:pos + length])
                break
            pos += length
        else:
            raise AssertionError(model)
        entry[16 + 0x42:16 + 0x42 + 2 * len(ghost)] = ghost.encode("utf-16-le")
        entry[16 + 0x41] = 1  # the Win32 name space
        # TSK takes slack entries with times after 2020 for noise: a 2015 deletion
        struct.pack_into("<4Q", entry, 16 + 8, *[130_000_000_000_000_000] * 4)
        slot = end + 64  # clear of the end entry, in the block's unused space
        assert slot + len(entry) <= 0x18 + alloc
        block[slot:slot + len(entry)] = entry
        _fixups(block, restore=False)
        fh.seek(at)
        fh.write(block)


def test_deleted_ntfs_name_on_an_entry_in_use_is_marked_not_read(pool, tmp_path):
    img = blank(tmp_path / "ntfs.img", 16 << 20)
    subprocess.run([tool("mkntfs"), "-q", "-F", "-f", str(img)], check=True,
                   capture_output=True)
    with mounted(img, tmp_path / "mnt", tool("ntfs-3g")) as m:
        (m / "many").mkdir()
        for i in range(40):
            (m / "many" / f"file{i:02d}.txt").write_bytes(f"file {i} ".encode() * 100)
    ref = fls(img)
    plant_deleted_name(img, int(ref["/many"].inode.split("-")[0]), "file05.txt",
                       "ghost5.txt")
    ref = fls(img)
    assert ref["/many/ghost5.txt"].realloc and ref["/many/ghost5.txt"].deleted
    hidden = frozenset(p for p, e in ref.items()
                       if (p.count("/") == 1 and int(e.inode.split("-")[0]) < 16) or
                       p.startswith("/$Extend"))
    ours = compare_with_tsk(img, pool, hidden)
    ghost = ours["/many/ghost5.txt"]
    assert not ghost.allocated and "name_reallocated" in ghost.warnings
    assert ghost.sha256 != hashlib.sha256(b"file 5 " * 100).hexdigest()
    assert ours["/many/file05.txt"].allocated
