"""Where ingested files come from: a folder (a mounted disc or disk, read-only), or a disc
or disk image (an ISO, a UDF or FAT image, or a block device) read with the file-system
readers of workbench.identify: nothing is mounted, nothing is written to the source.

A source lists its files (SourceFile: the path as the checksum lists name it, the parts
for the payload name, the size) and reads each one as blocks. A block that cannot be read
is zero-filled and its range noted: an unreadable file follows the partial rules of bad
sectors (kept, marked, the outcome partial).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.ingest.names import decode_component, unescape_reader

BLOCK = 8 << 20
SMALL = 64 << 10  # a block that failed is read again in pieces this size


@dataclass
class SourceFile:
    path: str  # '/'-separated, relative, as checksum lists name it
    parts: list[str]  # components for the payload name
    size: int
    escaped: bool = False  # parts already escaped by a file-system reader
    raw: str = ""  # the name's bytes as hex when they are not plain UTF-8
    errors: list[str] = field(default_factory=list)
    bad: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) zeroed
    key: Any = None
    alts: list[str] = field(default_factory=list)  # other names a list may use for it


def _raw_name(prefix: list[str], rel: str, name_raw: str | None) -> list[str]:
    """The name from its bytes on the medium as a list written on Linux names it (UTF-8,
    undecodable bytes as surrogate escapes): a reader that decoded them otherwise (a
    legacy code page) would never match that list."""
    if not name_raw:
        return []
    try:
        last = bytes.fromhex(name_raw).decode("utf-8", "surrogateescape")
    except ValueError:
        return []
    parent = unescape_reader(rel).rpartition("/")[0]
    return ["/".join([*prefix, *([parent] if parent else []), last])]


def _private_use_as_bytes(part: str, name_raw: str | None, codepage: str) -> str:
    """A name the reader decoded with the legacy code page (its bytes are not UTF-8):
    a character the code page maps to the private-use area (cp932 reads 0xFF as U+F8F3,
    a user-defined character as U+E000...) is invisible in a file name, so for the
    payload name it is given back as its bytes, escaped as undecodable bytes are: the
    same #FF a folder read of the same disc gives. part: as the reader escaped it."""
    if not name_raw or not any(unicodedata.category(ch) == "Co" for ch in part):
        return part
    try:
        bytes.fromhex(name_raw).decode("utf-8")
        return part  # a UTF-8 name: its private-use characters are its own
    except (ValueError, UnicodeDecodeError):
        pass
    out = []
    for ch in part:
        if unicodedata.category(ch) == "Co":
            try:
                out.append("".join(f"\\u{0xDC00 + b:04x}" for b in ch.encode(codepage)))
                continue
            except (UnicodeEncodeError, LookupError):
                pass
        out.append(ch)
    return "".join(out)


@dataclass
class Skipped:
    path: str
    why: str  # symlink | special | unreadable_folder | ...


class FolderSource:
    kind = "folder"

    def __init__(self, root: Path, codepage: str = "cp932") -> None:
        if not root.is_dir():
            raise BadInput("ingest.not_a_source", path=str(root))
        self.root, self.codepage = root, codepage
        self.skipped: list[Skipped] = []
        self.errors: list[str] = []

    def files(self) -> list[SourceFile]:
        out: list[SourceFile] = []
        root = os.fsencode(self.root)

        def failed(exc: OSError) -> None:
            self.skipped.append(Skipped(os.fsdecode(exc.filename or b"?"), "unreadable_folder"))

        for top, dirs, names in os.walk(root, onerror=failed):
            dirs.sort()
            for name in sorted(names):
                full = os.path.join(top, name)
                rel_raw = os.path.relpath(full, root)
                rel = decode_component(rel_raw)
                try:
                    st = os.lstat(full)
                except OSError as exc:
                    self.skipped.append(Skipped(rel, f"unreadable: {exc.strerror}"))
                    continue
                if stat.S_ISLNK(st.st_mode):
                    self.skipped.append(Skipped(rel, "symlink"))
                    continue
                if not stat.S_ISREG(st.st_mode):
                    self.skipped.append(Skipped(rel, "special"))
                    continue
                parts = rel.split("/")
                raw = rel_raw.hex() if not _clean(rel_raw) else ""
                out.append(SourceFile(rel, parts, st.st_size, raw=raw, key=full))
            for name in list(dirs):  # a symlink to a folder is not followed (os.walk)
                if os.path.islink(os.path.join(top, name)):
                    self.skipped.append(Skipped(decode_component(os.path.relpath(
                        os.path.join(top, name), root)), "symlink"))
        return out

    def blocks(self, f: SourceFile) -> Iterator[bytes]:
        pread = _pread
        fd = os.open(f.key, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            offset = 0
            while offset < f.size:
                want = min(BLOCK, f.size - offset)
                try:
                    data = pread(fd, want, offset)
                except OSError as exc:
                    data = self._pieces(fd, f, offset, want, exc, pread)
                if not data:
                    f.errors.append(f"ends at {offset} of {f.size} bytes (the file shrank)")
                    f.bad.append((offset, f.size - offset))
                    data = bytes(f.size - offset)
                yield data
                offset += len(data)
        finally:
            os.close(fd)

    @staticmethod
    def prefetch(f: SourceFile) -> None:
        """Ask the kernel to start reading a coming file (POSIX_FADV_WILLNEED): the disk
        reads it while the one before is hashed and written."""
        try:
            fd = os.open(f.key, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return  # said when it is read
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)

    @staticmethod
    def _pieces(fd: int, f: SourceFile, offset: int, want: int, first: OSError,
                pread: Callable[[int, int, int], bytes]) -> bytes:
        """Read a failed block again in small pieces; what still fails is zero-filled."""
        out = bytearray()
        for at in range(offset, offset + want, SMALL):
            n = min(SMALL, offset + want - at)
            try:
                piece = pread(fd, n, at)
            except OSError as exc:
                if exc.errno not in (errno.EIO, errno.ENXIO, errno.EBADMSG, errno.ETIMEDOUT,
                                     errno.ENODATA):
                    raise
                piece = b""
            if len(piece) < n:
                f.bad.append((at + len(piece), n - len(piece)))
                piece += bytes(n - len(piece))
            out += piece
        if f.bad:
            f.errors.append(f"read errors ({first.strerror}): "
                            f"{sum(n for _, n in f.bad)} bytes zero-filled")
        return bytes(out)

    def close(self) -> None:
        pass


def _pread(fd: int, n: int, at: int) -> bytes:
    """os.pread, looked up when called (tests put a failing disk in its place)."""
    return os.pread(fd, n, at)


def _clean(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


class ImageSource:
    """A disc or disk image (or a block device) read with the identify readers."""

    kind = "image"

    def __init__(self, path: Path, codepage: str) -> None:
        from workbench.identify.model import Image
        self.path, self.codepage = path, codepage
        try:
            self.image = Image(path)
        except OSError as exc:
            raise BadInput("ingest.not_a_source", path=str(path)) from exc
        if self.image.size == 0:  # a block device: fstat says 0
            self.image.size = os.lseek(self.image.fd, 0, os.SEEK_END)
        self.skipped: list[Skipped] = []
        self.errors: list[str] = []
        self.readers: list[Any] = []
        self.volumes: list[dict[str, Any]] = []

    def files(self) -> list[SourceFile]:
        from workbench.identify.engine import _reader_for
        from workbench.identify.volumes import find_volumes
        volumes, errors = find_volumes(self.image, codepage=self.codepage)
        self.errors += errors
        readable = [(v, _reader_for(v.fs_type)) for v in volumes if v.fs_type]
        readable = [(v, r) for v, r in readable if r is not None]
        if not readable:
            raise BadInput("ingest.no_file_system", path=str(self.path))
        out: list[SourceFile] = []
        for volume, reader_class in readable:
            assert reader_class is not None
            reader = reader_class(self.image, volume, self.codepage, None)
            self.readers.append(reader)
            self.volumes.append({"index": volume.index, "fs_type": reader.kind,
                                 "label": volume.report_label(reader.label),
                                 "offset": volume.offset, "size": volume.size})
            prefix = [f"volume{volume.index}-{volume.fs_type}"] if len(readable) > 1 else []
            folders: dict[str, str] = {}  # a folder's path -> its name's raw bytes (hex)
            for entry in reader.walk():
                rel = entry.path.strip("/")
                if entry.is_dir:
                    if entry.name_raw:
                        folders[rel] = entry.name_raw
                    continue
                if entry.link is not None or (entry.extents is None and not hasattr(
                        reader, "read")):
                    self.skipped.append(Skipped(rel, "symlink" if entry.link else "no data"))
                    continue
                parts = rel.split("/")
                raws = [folders.get("/".join(parts[:i + 1])) for i in range(len(parts) - 1)]
                parts = [_private_use_as_bytes(p, r, self.codepage)
                         for p, r in zip(parts, [*raws, entry.name_raw], strict=True)]
                out.append(SourceFile("/".join([*prefix, unescape_reader(rel)]),
                                      [*prefix, *parts], entry.size, escaped=True,
                                      raw=entry.name_raw or "", errors=list(entry.errors),
                                      key=(entry, reader), alts=_raw_name(prefix, rel,
                                                                          entry.name_raw)))
            self.errors += [f"volume {volume.index}: {e}" for e in reader.errors]
        return out

    def blocks(self, f: SourceFile) -> Iterator[bytes]:
        from workbench.identify.model import ZERO
        entry, reader = f.key
        done = 0
        if entry.extents is not None:
            for start, n in entry.extents:
                if start == ZERO:
                    for at in range(0, n, BLOCK):
                        yield bytes(min(BLOCK, n - at))
                    done += n
                    continue
                for pos in range(start, start + n, BLOCK):
                    data = self.image.read(pos, min(BLOCK, start + n - pos))
                    if not data:
                        break
                    done += len(data)
                    yield data
        else:
            for data in reader.read(entry):
                done += len(data)
                yield data
        if done < f.size:  # the image ends before the file does: zeros, marked bad
            f.errors.append("file data lies beyond the end of the image")
            f.bad.append((done, f.size - done))
            yield bytes(f.size - done)

    def close(self) -> None:
        for reader in self.readers:
            if hasattr(reader, "close"):
                reader.close()
        self.image.close()


def open_source(path: Path, codepage: str) -> FolderSource | ImageSource:
    if path.is_dir():
        return FolderSource(path, codepage)
    if path.exists():
        return ImageSource(path, codepage)
    raise BadInput("ingest.not_a_source", path=str(path))


def image_digest(source: ImageSource, cancel: threading.Event) -> str:
    """The SHA-256 of the whole image (or device), read once in order."""
    digest = hashlib.sha256()
    for at in range(0, source.image.size, BLOCK):
        if cancel.is_set():
            raise KeyboardInterrupt
        digest.update(source.image.read(at, BLOCK))
    return digest.hexdigest()
