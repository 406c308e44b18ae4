"""exFAT through TSK (label as blkid reports it, its system entries not listed as files,
the valid data length honoured) and NTFS with 2 MiB clusters, which TSK cannot open, read
by the workbench's own NTFS reader and compared with an ntfs-3g mount."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT
from tests.fsfixtures import tool
from tests.test_tsk_content import blank, compare_with_tsk, fls, mounted, ntfs_image, walk
from workbench.identify.ntfs_reader import NtfsReader


@pytest.fixture(scope="module")
def pool():
    from workbench.identify.pool import IdentifyPool
    with IdentifyPool(0) as p:
        yield p


def blkid_label(img: Path) -> str:
    return subprocess.run([tool("blkid"), "-o", "value", "-s", "LABEL", str(img)],
                          capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def exfat_mounted(img: Path, target: Path, *opts: str) -> Iterator[Path]:
    """exfat-fuse wants a block device: a loop device over the image."""
    fuse = tool("mount.exfat-fuse")
    if not IS_ROOT:
        pytest.skip("building this fixture needs a loop device (root)")
    loop = subprocess.run(["losetup", "-f", "--show", str(img)], check=True,
                          capture_output=True, text=True).stdout.strip()
    try:
        target.mkdir(exist_ok=True)
        subprocess.run([fuse, *opts, loop, str(target)], check=True, capture_output=True)
        try:
            yield target
        finally:
            subprocess.run(["umount", str(target)], check=True, capture_output=True)
    finally:
        subprocess.run(["losetup", "-d", loop], check=True, capture_output=True)


def exfat_image(tmp: Path) -> Path:
    img = blank(tmp / "exfat.img", 8 << 20)
    subprocess.run([tool("mkfs.exfat"), "-L", "EX VOL", str(img)], check=True,
                   capture_output=True)
    with exfat_mounted(img, tmp / "mnt") as m:
        (m / "sub").mkdir()
        (m / "sub" / "a.txt").write_bytes(b"hello\n")
        # user files named like the entries TSK makes up: these are real and listed
        (m / "$UPCASE_TABLE").write_bytes(b"mine\n")
        (m / "EX VOL (Volume Label Entry)").write_bytes(b"mine too\n")
        (m / "grown.bin").write_bytes(b"A" * 100)
        (m / "photo.bin").write_bytes(os.urandom(300000))
    return img


def set_valid_length(img: Path, name: str, valid: int) -> None:
    """Shrink a root file's valid data length (entry set checksum mended) and leave stale
    bytes past it on disk, as a camera that stopped writing would."""
    data = bytearray(img.read_bytes())
    bps, spc = 1 << data[108], 1 << data[109]
    heap, _count, root = struct.unpack_from("<III", data, 88)

    def at(cluster: int) -> int:
        return (heap + (cluster - 2) * spc) * bps

    for i in range(at(root), at(root) + bps * spc, 32):
        if data[i] != 0x85:
            continue
        n = data[i + 1]
        text = b"".join(data[i + 32 * k + 2:i + 32 * k + 32] for k in range(2, n + 1))
        if text.decode("utf-16-le")[:data[i + 32 + 3]] != name:
            continue
        first, = struct.unpack_from("<I", data, i + 32 + 20)
        struct.pack_into("<Q", data, i + 32 + 8, valid)
        checksum = 0
        for k in range(32 * (n + 1)):
            if k not in (2, 3):
                checksum = (((checksum << 15) | (checksum >> 1)) + data[i + k]) & 0xFFFF
        struct.pack_into("<H", data, i + 2, checksum)
        data[at(first) + valid:at(first) + bps * spc] = b"\xee" * (bps * spc - valid)
        img.write_bytes(bytes(data))
        return
    raise AssertionError(name)


def test_exfat_label_system_entries_and_content_agree_with_tsk(pool, tmp_path):
    img = exfat_image(tmp_path)
    listed = subprocess.run([tool("fls"), str(img)], check=True, capture_output=True,
                            text=True).stdout.splitlines()
    # TSK's made-up entries come first in the root; the user's look-alikes after
    system = [line.split(":\t", 1) for line in listed[:3]]
    assert [name for _, name in system] == ["EX VOL (Volume Label Entry)", "$ALLOC_BITMAP",
                                            "$UPCASE_TABLE"]
    skip = frozenset(head.split()[-1] for head, _ in system)
    _, reader = walk(img)
    assert reader.label == blkid_label(img) == "EX VOL"
    ours = compare_with_tsk(img, pool, skip=skip)
    assert ours["/$UPCASE_TABLE"].sha256 == hashlib.sha256(b"mine\n").hexdigest()
    assert ours["/EX VOL (Volume Label Entry)"].size == 9
    assert len([p for p in ours if "Volume Label" in p or "UPCASE" in p]) == 2
    # every file's stream entry found where TSK's numbering says, in sub-folders too
    assert "/sub/a.txt" in ours
    assert not [p for p, r in ours.items() if "valid_data_length_unknown" in r.warnings]


def test_exfat_bytes_past_the_valid_data_length_are_zeros(tmp_path):
    img = exfat_image(tmp_path)
    size = 100
    with exfat_mounted(img, tmp_path / "grow") as m, open(m / "grown.bin", "r+b") as fh:
        fh.truncate(100000)
    set_valid_length(img, "grown.bin", size)
    entries, reader = walk(img)
    grown = next(e for e in entries if e.path == "/grown.bin")
    from tests.test_tsk_content import entry_bytes
    assert entry_bytes(img, grown, reader) == b"A" * size + bytes(100000 - size)
    # TSK (and exfat-fuse 1.3) ignore the valid data length and show the stale bytes
    icat = subprocess.run([tool("icat"), str(img), fls(img)["/grown.bin"].inode],
                          check=True, capture_output=True).stdout
    assert icat[size:size + 4] == b"\xee" * 4


def test_ntfs_with_2_mib_clusters_read_without_tsk(tmp_path):
    tool("mkntfs")
    img = ntfs_image(tmp_path, cluster=2 << 20)
    fls_run = subprocess.run([tool("fls"), str(img)], capture_output=True)
    assert fls_run.returncode != 0  # TSK cannot open it: the reason for our reader
    entries, reader = walk(img)
    assert isinstance(reader, NtfsReader)
    assert "2048 KiB clusters" in reader.errors[0]
    assert reader.label == blkid_label(img) == "NTFS LABEL"
    ours = {e.path: e for e in entries}
    from tests.test_tsk_content import entry_bytes
    with mounted(img, tmp_path / "ro", tool("ntfs-3g"), "-o", "ro") as m:
        want = {}
        for folder, dirs, files in os.walk(m):
            for name in dirs + files:
                full = Path(folder) / name
                want["/" + str(full.relative_to(m))] = full
        # ntfs-3g lists reparse points it cannot follow as links too; ours match them
        assert set(want) == {p for p in ours if ":" not in p}
        for path, full in want.items():
            entry = ours[path]
            if full.is_symlink() or entry.link is not None:
                assert entry.link is not None, path
                continue
            if full.is_dir():
                assert entry.is_dir, path
                continue
            data = full.read_bytes()
            got = entry_bytes(img, entry, reader)
            assert (entry.size, hashlib.sha256(got).digest()) == (
                len(data), hashlib.sha256(data).digest()), path
            assert not entry.errors, (path, entry.errors)
    assert ours["/extended.bin"].extents is not None
    assert shutil.which("ntfs-3g")


def test_ntfs_own_reader_flags_a_damaged_record_and_keeps_the_rest(tmp_path):
    from workbench.identify.model import Image
    from workbench.identify.ntfs_mft import FILE_NAME, Mft
    from workbench.identify.volumes import find_volumes
    tool("mkntfs")
    img = ntfs_image(tmp_path, cluster=2 << 20)
    with Image(img) as image:
        mft = Mft(image, find_volumes(image)[0][0])
        number = next(n for n in range(mft.count)
                      if any(b"a\0.\0t\0x\0t\0" in a.value
                             for a in mft.record(n).find(FILE_NAME)))
        pos = number * mft.record_size
        at = next(start + pos - done for start, done, n in
                  ((s, sum(x for _, x in mft.extents[:i]), n)
                   for i, (s, n) in enumerate(mft.extents)) if pos - done < n)
    with open(img, "r+b") as fh:  # a torn write: the update sequence no longer matches
        fh.seek(at + 510)
        fh.write(b"\xde\xad")
    entries, reader = walk(img)
    paths = {e.path for e in entries}
    assert "/docs/a.txt" not in paths and "/big.bin" in paths and "/docs" in paths
    assert any(f"MFT record {number}" in err for err in reader.errors)
