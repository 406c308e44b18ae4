"""TSK-read volumes (ext4, NTFS) compared with The Sleuth Kit's own fls/icat and with a
mounted file system: holes and unwritten extents read as zeros, NTFS bytes past the
initialised size as zeros, reallocated deleted names marked, symbolic links as links,
and a file whose data cannot be read fully carries an error."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IS_ROOT
from tests.fsfixtures import tool
from workbench.config import Settings
from workbench.identify.engine import identify_image
from workbench.identify.model import ZERO, FileEntry, Image
from workbench.identify.pool import IdentifyPool
from workbench.identify.tsk import TskReader
from workbench.identify.volumes import find_volumes

OLD, NEW = b"old owner " * 100, b"new owner " * 45


@pytest.fixture(scope="module")
def pool():
    with IdentifyPool(0) as p:
        yield p


# ---- the reference: Sleuth Kit command-line tools -------------------------------------

@dataclass
class FlsEntry:
    kind: str  # fls's "r/r", "d/d", "l/l" ...
    inode: str
    deleted: bool
    realloc: bool


_FLS = re.compile(r"^(\S+/\S+) (\* )?([0-9-]+)(\(realloc\))?:\t(.*)$")


def fls(img: Path, *args: str, skip: frozenset[str] = frozenset()) -> dict[str, FlsEntry]:
    """fls -r -p: path -> entry, without TSK's virtual entries ($OrphanFiles, $MBR ...)
    and the inodes in skip."""
    out = subprocess.run([tool("fls"), "-r", "-p", *args, str(img)], check=True,
                         capture_output=True).stdout.decode("utf-8", "replace")
    listing = {}
    for line in out.splitlines():
        m = _FLS.match(line)
        assert m, line
        kind, star, inode, realloc, path = m.groups()
        if kind.lower() == "v/v" or path.startswith("$OrphanFiles") or inode in skip:
            continue
        listing.setdefault("/" + path, FlsEntry(kind, inode, bool(star), bool(realloc)))
    return listing


def icat(img: Path, inode: str) -> bytes:
    return subprocess.run([tool("icat"), str(img), inode], check=True,
                          capture_output=True).stdout


# ---- ours ------------------------------------------------------------------------------

def walk(img: Path) -> tuple[list[FileEntry], Any]:
    with Image(img) as image:
        volumes, _ = find_volumes(image)
        reader = TskReader(image, volumes[0], "cp932", None)
        return list(reader.walk()), reader


def entry_bytes(img: Path, entry: FileEntry, reader: Any) -> bytes:
    if entry.extents is None:
        return b"".join(reader.read(entry))
    with Image(img) as image:
        return b"".join(bytes(n) if start == ZERO else image.read(start, n)
                        for start, n in entry.extents)


def compare_with_tsk(img: Path, pool: IdentifyPool, hidden: frozenset[str] = frozenset(),
                     skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every file we list is one fls lists, with the same deleted mark and icat's bytes
    (a reallocated name: marked, not read); every name fls lists is ours. Returns our
    records by path."""
    ref = {p: e for p, e in fls(img, skip=skip).items() if p not in hidden}
    report = identify_image(img, Settings(), pool=pool)
    ours = {f.path: f for f in report.files}
    entries, _ = walk(img)
    dirs = {e.path for e in entries if e.is_dir}
    assert set(ours) | dirs == set(ref), (set(ours) | dirs) ^ set(ref)
    for path, rec in ours.items():
        want = ref[path]
        assert rec.allocated == (not want.deleted), path
        if want.realloc:
            assert "name_reallocated" in rec.warnings and rec.errors, path
            continue
        if rec.link is not None:
            continue
        data = icat(img, want.inode)
        assert (rec.size, rec.sha256) == (len(data), hashlib.sha256(data).hexdigest()), path
        assert not rec.errors, (path, rec.errors)
    return ours


# ---- building images -------------------------------------------------------------------

@contextlib.contextmanager
def mounted(img: Path, target: Path, *cmd: str) -> Iterator[Path]:
    if not IS_ROOT:
        pytest.skip("building this fixture needs a loop mount (root)")
    target.mkdir(exist_ok=True)
    subprocess.run([*cmd, str(img), str(target)], check=True, capture_output=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True, capture_output=True)


def blank(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def debugfs(img: Path, request: str) -> str:
    return subprocess.run([tool("debugfs"), "-w", "-R", request, str(img)], check=True,
                          capture_output=True, text=True).stdout


def ext4_image(tmp: Path) -> Path:
    """Holes (between and after extents), an fallocated (unwritten) range over garbage,
    fast and slow symbolic links, and a deleted name whose inode another file took."""
    img = blank(tmp / "ext4.img", 16 << 20)
    subprocess.run([tool("mkfs.ext4"), "-q", "-b", "1024", "-L", "EXT LABEL", str(img)],
                   check=True, capture_output=True)
    with mounted(img, tmp / "mnt", "mount", "-o", "loop") as m:
        with open(m / "sparse.bin", "wb") as fh:
            fh.write(b"A" * 4096)
            fh.seek(65536)
            fh.write(b"B" * 4096)
            fh.truncate(200000)
        with open(m / "unwritten.bin", "wb") as fh:
            fh.write(b"head")
            os.posix_fallocate(fh.fileno(), 0, 40000)
        (m / "fast").symlink_to("sparse.bin")
        (m / "slow").symlink_to("d" * 100 + "/" + "e" * 100)
        (m / "dir").mkdir()
        (m / "dir" / "first.txt").write_bytes(b"first\n")
    # garbage where the unwritten extent lies: it must still read as zeros
    for line in debugfs(img, "ex /unwritten.bin").splitlines():
        if line.rstrip().endswith("Uninit"):
            first, last = (int(x) for x in line.split()[-5:-2:2])
            with open(img, "r+b") as fh:
                fh.seek(first * 1024)
                fh.write(b"\xaa" * (last - first + 1) * 1024)
    # debugfs unlinks without wiping the name (the kernel now wipes it), so the name
    # stays in the directory; the next file in the same group takes its inode
    src = tmp / "src"
    src.mkdir()
    (src / "old.txt").write_bytes(OLD)
    (src / "new.txt").write_bytes(NEW)
    debugfs(img, f"write {src / 'old.txt'} dir/gone.txt")
    debugfs(img, f"write {src / 'old.txt'} dir/last.txt")
    debugfs(img, "rm dir/gone.txt")
    debugfs(img, f"write {src / 'new.txt'} dir/new_owner_of_the_inode.txt")
    return img


def test_ext4_holes_unwritten_links_and_reused_inodes_agree_with_fls_and_icat(pool,
                                                                            tmp_path):
    tool("mkfs.ext4")
    img = ext4_image(tmp_path)
    ref = fls(img)
    assert ref["/dir/gone.txt"].realloc  # the fixture made what it should
    ours = compare_with_tsk(img, pool)
    gone = ours["/dir/gone.txt"]
    assert not gone.allocated and gone.sha256 != hashlib.sha256(NEW).hexdigest()
    sparse = ours["/sparse.bin"]
    want = b"A" * 4096 + bytes(65536 - 4096) + b"B" * 4096 + bytes(200000 - 69632)
    assert sparse.sha256 == hashlib.sha256(want).hexdigest()
    unwritten = ours["/unwritten.bin"]
    assert unwritten.sha256 == hashlib.sha256(b"head".ljust(40000, b"\0")).hexdigest()
    assert ours["/fast"].link == "sparse.bin" and not ours["/fast"].errors
    assert ours["/slow"].link == "d" * 100 + "/" + "e" * 100 and not ours["/slow"].errors
    entries, _ = walk(img)
    holes = {e.path: e.extents for e in entries if e.path in ("/sparse.bin", "/unwritten.bin")}
    assert all(any(s == ZERO for s, _ in ext or []) for ext in holes.values())


def test_ext4_label_is_blkids(tmp_path):
    img = blank(tmp_path / "l.img", 8 << 20)
    subprocess.run([tool("mkfs.ext4"), "-q", "-L", "Été 2026", str(img)], check=True,
                   capture_output=True)
    blkid = subprocess.run([tool("blkid"), "-o", "value", "-s", "LABEL", str(img)],
                           capture_output=True, text=True).stdout.strip()
    _, reader = walk(img)
    assert reader.label == blkid == "Été 2026"


def test_ext4_damaged_directory_and_file_are_flagged_and_the_rest_listed(tmp_path):
    img = blank(tmp_path / "bad.img", 8 << 20)
    src = tmp_path / "src"
    for folder in ("good", "bad"):
        (src / folder).mkdir(parents=True)
        (src / folder / "f.txt").write_bytes(b"x" * 3000)
    (src / "runaway.bin").write_bytes(b"r" * 5000)
    subprocess.run([tool("mkfs.ext4"), "-q", "-b", "1024", "-d", str(src), str(img)],
                   check=True, capture_output=True)
    # the directory's extent header magic broken; the file's first extent sent far past
    # the end of the volume (i_block[5] is the first extent's start block)
    debugfs(img, "sif /bad block[0] 0")
    debugfs(img, "sif /runaway.bin block[5] 0x7ffffff")
    entries, reader = walk(img)
    by_path = {e.path: e for e in entries}
    assert "/good/f.txt" in by_path and not by_path["/good/f.txt"].errors
    assert by_path["/runaway.bin"].errors  # never silently short or wrong
    assert by_path["/bad"].errors or reader.errors
    assert "/bad/f.txt" not in by_path


# ---- NTFS ------------------------------------------------------------------------------

def reparse(tag: int, target: str, relative: bool | None) -> bytes:
    """A symbolic link (relative given) or junction (relative None) reparse buffer."""
    subst = (target if relative else "\\??\\" + target).encode("utf-16-le")
    shown = target.encode("utf-16-le")
    body = struct.pack("<HHHH", 0, len(subst), len(subst), len(shown))
    body += (struct.pack("<I", 1 if relative else 0) if relative is not None else b"")
    body += subst + shown + (b"\0\0\0\0" if relative is None else b"")
    return struct.pack("<IHH", tag, len(body), 0) + body


def mft_record_offset(img: Path, inode: int) -> int:
    from workbench.identify.ntfs_mft import Mft
    with Image(img) as image:
        volumes, _ = find_volumes(image)
        mft = Mft(image, volumes[0])
        pos = inode * mft.record_size
        for start, n in mft.extents:
            if pos < n:
                return start + pos
            pos -= n
    raise AssertionError(inode)


def patch_init_size(img: Path, inode: int, init: int) -> None:
    """Set the unnamed $DATA attribute's initialised size in the MFT record itself."""
    at = mft_record_offset(img, inode)
    with open(img, "r+b") as fh:
        fh.seek(at)
        rec = fh.read(1024)
        pos = struct.unpack_from("<H", rec, 0x14)[0]
        while True:
            kind, length = struct.unpack_from("<II", rec, pos)
            assert kind != 0xFFFFFFFF
            if kind == 0x80 and rec[pos + 8] == 1 and rec[pos + 9] == 0:
                field = pos + 0x38
                assert field % 512 < 502  # clear of the update sequence's sector ends
                fh.seek(at + field)
                fh.write(struct.pack("<Q", init))
                return
            pos += length


def ntfs_image(tmp: Path, cluster: int | None = None) -> Path:
    img = blank(tmp / "ntfs.img", (192 if cluster else 64) << 20)  # a sparse file
    args = ["-c", str(cluster)] if cluster else []
    subprocess.run([tool("mkntfs"), "-q", "-F", "-f", "-L", "NTFS LABEL", *args, str(img)],
                   check=True, capture_output=True)
    options = [] if cluster else ["-o", "compression"]  # NTFS compresses 4 KiB clusters
    with mounted(img, tmp / "mnt", tool("ntfs-3g"), *options) as m:
        if not cluster:  # a folder whose new files NTFS compresses
            (m / "packed").mkdir()
            attrib = struct.unpack("<I", os.getxattr(m / "packed", "system.ntfs_attrib"))[0]
            os.setxattr(m / "packed", "system.ntfs_attrib", struct.pack("<I", attrib | 0x800))
            (m / "packed" / "text.txt").write_bytes(b"compress me please " * 5000)
        (m / "docs").mkdir()
        (m / "docs" / "a.txt").write_bytes(b"hello " * 1000)
        (m / "tiny.txt").write_bytes(b"resident\n")
        (m / "日本語.txt").write_bytes(b"jp")
        with open(m / "extended.bin", "wb") as fh:  # ntfs-3g: initialised size 10000
            fh.write(b"T" * 10000)
            fh.truncate(300000)
        (m / "patched.bin").write_bytes(b"X" * 40000)
        (m / "big.bin").write_bytes(os.urandom(3 << 20))
        os.setxattr(m / "tiny.txt", "user.stream", b"an alternate data stream")
        (m / "interix").symlink_to("docs/a.txt")  # ntfs-3g writes an Interix link
        for name, data in (("rel.lnk", reparse(0xA000000C, "docs\\a.txt", True)),
                           ("abs.lnk", reparse(0xA000000C, "C:\\Windows\\notepad.exe",
                                               False))):
            (m / name).touch()
            os.setxattr(m / name, "system.ntfs_reparse_data", data)
        (m / "junction").mkdir()
        os.setxattr(m / "junction", "system.ntfs_reparse_data",
                    reparse(0xA0000003, "C:\\Users", None))
        (m / "many").mkdir()
        for i in range(40):
            (m / "many" / f"file{i:02d}.txt").write_bytes(f"file {i} ".encode() * 100)
        (m / "many" / "file39.txt").unlink()  # deleted; its MFT entry left free
    return img


def test_ntfs_agrees_with_fls_and_icat(pool, tmp_path):
    img = ntfs_image(tmp_path)
    inode = int(fls(img)["/patched.bin"].inode.split("-")[0])
    patch_init_size(img, inode, 5000)  # 35000 bytes of 'X' on disk past it
    hidden = frozenset(p for p, e in fls(img).items()
              if (p.count("/") == 1 and int(e.inode.split("-")[0]) < 16) or
              p.startswith("/$Extend"))
    ours = compare_with_tsk(img, pool, hidden)
    assert ours["/patched.bin"].sha256 == hashlib.sha256(
        b"X" * 5000 + bytes(35000)).hexdigest()
    assert ours["/extended.bin"].sha256 == hashlib.sha256(
        b"T" * 10000 + bytes(290000)).hexdigest()
    assert ours["/packed/text.txt"].sha256 == hashlib.sha256(
        b"compress me please " * 5000).hexdigest()
    assert ours["/tiny.txt"].size == 9  # the alternate stream is not the file's data
    assert not ours["/many/file39.txt"].allocated
    assert ours["/rel.lnk"].link == "docs\\a.txt"
    assert ours["/abs.lnk"].link == "C:\\Windows\\notepad.exe"
    assert ours["/junction"].link == "C:\\Users"
    assert ours["/interix"].link == "docs/a.txt"
    with mounted(img, tmp_path / "ro", tool("ntfs-3g"), "-o", "ro") as m:
        assert os.readlink(m / "rel.lnk") == "docs/a.txt"  # ntfs-3g agrees on targets
        assert os.readlink(m / "interix") == "docs/a.txt"


def test_ntfs_label_is_blkids(tmp_path):
    img = blank(tmp_path / "n.img", 8 << 20)
    subprocess.run([tool("mkntfs"), "-q", "-F", "-f", "-L", "ラベル Vol", str(img)],
                   check=True, capture_output=True)
    blkid = subprocess.run([tool("blkid"), "-o", "value", "-s", "LABEL", str(img)],
                           capture_output=True, text=True).stdout.strip()
    _, reader = walk(img)
    assert reader.label == blkid == "ラベル Vol"


def test_ext4_fifo_is_a_special_file_as_fls_says(tmp_path, pool):
    """A FIFO has a name and no content: listed as such (fls shows p/p), never as an
    empty regular file."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "plain.txt").write_bytes(b"plain\n")
    os.mkfifo(tree / "pipe")
    img = tmp_path / "fifo.img"
    subprocess.run([tool("mkfs.ext4"), "-q", "-F", "-d", str(tree), str(img), "8M"],
                   check=True, capture_output=True)
    fls = subprocess.run([tool("fls"), "-r", "-p", str(img)], check=True, capture_output=True,
                         text=True).stdout
    assert any(line.startswith("p/p") and line.endswith("\tpipe") for line in fls.splitlines())
    files = {f.path: f for f in identify_image(img, Settings(), pool=pool).files}
    assert "special_file" in files["/pipe"].warnings and files["/pipe"].size == 0
    assert "special_file" not in files["/plain.txt"].warnings
