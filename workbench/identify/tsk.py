"""NTFS, exFAT, ext2/3/4 and HFS+ through pytsk3 (The Sleuth Kit), read from the image
through a read-only callback. Names come as TSK gives them (UTF-8); block runs of the
data attribute become image extents (holes and unwritten extents as zeros, NTFS bytes
past the initialised size as zeros); resident and compressed data is read through TSK.

What a name stands for follows `fls`: a deleted name whose inode (or MFT entry) now
belongs to another file is listed as deleted, marked name_reallocated, and not read.
An NTFS volume TSK cannot open (clusters over 64 KiB) is read by ntfs_reader instead."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from workbench.identify import ntfs_facts, ntfs_mft, tsk_labels, tsk_runs
from workbench.identify.model import (
    FileEntry,
    Image,
    Volume,
    decode_name,
    named,
    safe_component,
    walk_guard,
)
from workbench.identify.ntfs_mft import Mft, NtfsError
from workbench.identify.ntfs_reader import NtfsReader
from workbench.identify.tsk_exfat import ExfatVolume

_SKIP = {b".", b".."}
_NTFS_SYSTEM = 16  # MFT entries below this are NTFS's own files ($MFT ... $Extend)
_HFS_SYSTEM = 16  # HFS+ catalog IDs below this are the B-trees and reserved files
REALLOCATED = "name_reallocated"

# pytsk3 ships no type information: its objects (Img_Info, FS_Info, Directory, File,
# Attribute) are Any here.


def _stamp(seconds: int | None) -> str | None:
    if not seconds:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def _img_info(image: Image, volume: Volume) -> Any:
    import pytsk3

    class VolumeImg(pytsk3.Img_Info):
        def __init__(self) -> None:
            super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

        def read(self, offset: int, size: int) -> bytes:
            end = min(offset + size, volume.size)
            return image.read(volume.offset + offset, max(0, end - offset)).ljust(size, b"\0")

        def get_size(self) -> int:
            return volume.size

    return VolumeImg()


def TskReader(image: Image, volume: Volume, codepage: str,
              deadline: float | None = None) -> TskVolumeReader | NtfsReader:
    """TSK's reader, or for an NTFS volume TSK cannot open the workbench's own."""
    try:
        return TskVolumeReader(image, volume, codepage, deadline)
    except ValueError as exc:
        if volume.fs_type != "ntfs":
            raise
        try:
            reader = NtfsReader(image, volume, codepage, deadline)
        except NtfsError as own:
            raise ValueError(f"{exc}; the workbench's NTFS reader cannot either: {own}"
                             ) from own
        reader.errors.insert(0, f"{exc}: read by the workbench's own NTFS reader instead")
        return reader


class TskVolumeReader:
    def __init__(self, image: Image, volume: Volume, codepage: str,
                 deadline: float | None = None) -> None:
        import pytsk3

        self.tsk = pytsk3
        self._special = {int(getattr(pytsk3, f"TSK_FS_META_TYPE_{k}")) for k in (
            "FIFO", "CHR", "BLK", "SOCK")}
        self.image, self.volume, self.deadline = image, volume, deadline
        self.errors: list[str] = []
        self._img = _img_info(image, volume)
        try:
            self.fs = pytsk3.FS_Info(self._img, offset=0)
        except OSError as exc:
            raise ValueError(f"The Sleuth Kit cannot open this {volume.fs_type} volume "
                             f"({_why(image, volume)}): {exc}") from exc
        self.block = self.fs.info.block_size
        self.kind = volume.fs_type
        self.mft: Mft | None = None
        self.exfat: ExfatVolume | None = None
        self.label = self._label()

    def _label(self) -> str:
        kind, image, volume = self.kind, self.image, self.volume
        if kind == "ext":
            return tsk_labels.ext_label(image, volume)
        if kind == "exfat":
            self.exfat = ExfatVolume(image, volume)
            return self.exfat.label
        if kind == "hfsplus":
            return tsk_labels.hfsplus_label(image, volume)
        if kind == "ntfs":
            try:
                self.mft = Mft(image, volume)
            except NtfsError as exc:
                self.errors.append(f"MFT: {exc} (initialised sizes and links not checked)")
                return ""
            return ntfs_facts.volume_label(self.mft)
        return ""

    def walk(self) -> Iterator[FileEntry]:
        try:
            root = self.fs.open_dir(path="/")
        except OSError as exc:
            self.errors.append(f"/: {exc}")
            return
        yield from self._walk(root, "", 0, {self.fs.info.root_inum})

    def _children(self, directory: Any, parent: str) -> list[Any]:
        """The directory's entries; when TSK fails part-way, those read so far."""
        out: list[Any] = []
        try:
            for f in directory:
                out.append(f)
        except OSError as exc:
            self.errors.append(f"{parent or '/'}: listed {len(out)} entries, then: {exc}")
        return out

    def _walk(self, directory: Any, parent: str, depth: int,
              visited: set[int]) -> Iterator[FileEntry]:
        if not walk_guard(self.deadline, depth, parent, self.errors):
            return
        for f in self._children(directory, parent):
            entry = self._entry(f, parent)
            if entry is None:
                continue
            yield entry
            g: Any = entry.key  # the File with the metadata (None: there was none)
            if g is None or REALLOCATED in entry.warnings:
                continue
            if not entry.is_dir:
                yield from self._streams(g, entry)
                continue
            addr = g.info.meta.addr
            if addr in visited:
                self.errors.append(f"{entry.path}: directory loop")
                continue
            visited.add(addr)
            try:
                sub = g.as_directory()
            except OSError as exc:
                entry.errors.append(f"directory not read: {exc}")
                self.errors.append(f"{entry.path}: {exc}")
                continue
            yield from self._walk(sub, entry.path, depth + 1, visited)

    def _hidden(self, f: Any, parent: str) -> bool:
        """TSK's virtual entries and the file systems' own files, which fls also lists."""
        tsk, meta = self.tsk, f.info.meta
        if int(f.info.name.type) in (int(tsk.TSK_FS_NAME_TYPE_VIRT),
                                     int(tsk.TSK_FS_NAME_TYPE_VIRT_DIR)):
            return True
        if meta is not None and int(meta.type) in (int(tsk.TSK_FS_META_TYPE_VIRT),
                                                    int(tsk.TSK_FS_META_TYPE_VIRT_DIR)):
            return True
        if parent or meta is None:
            return False
        if self.kind == "ntfs":
            return int(meta.addr) < _NTFS_SYSTEM
        if self.kind == "hfsplus":
            return int(meta.addr) < _HFS_SYSTEM and f.info.name.name.startswith(b"$")
        if self.kind == "exfat":
            return self._exfat_system(f)
        return False

    def _exfat_system(self, f: Any) -> bool:
        name = f.info.name.name.decode("utf-8", errors="replace")
        if name.endswith(" (Volume Label Entry)") and int(f.info.meta.size) == 0:
            return True  # TSK shows the label entry (0x83) as an empty file
        if name in ("$ALLOC_BITMAP", "$UPCASE_TABLE"):
            runs = list(self._runs(self._data_attr(f)))
            return bool(runs) and self.exfat is not None and \
                runs[0][1] in self.exfat.system_sectors
        return False

    def _entry(self, f: Any, parent: str) -> FileEntry | None:
        tsk = self.tsk
        name, meta = f.info.name, f.info.meta
        raw = name.name
        if raw in _SKIP or self._hidden(f, parent):
            return None
        text, clean = decode_name(raw, "utf-8")
        path, name_raw, warnings = named(parent, text, raw, clean)
        name_alloc = bool(int(name.flags) & int(tsk.TSK_FS_NAME_FLAG_ALLOC))
        if meta is None and not name_alloc:
            f = self._deleted_file(f)
            meta = None if f is None else f.info.meta
        if meta is None:  # a name whose metadata TSK could not (or would not) load
            entry = FileEntry(self.volume.index, path, 0, allocated=False, name_raw=name_raw,
                              warnings=[*warnings, "no_metadata"], extents=[])
            entry.is_dir = int(name.type) == int(tsk.TSK_FS_NAME_TYPE_DIR)
            entry.errors.append("no metadata for this name: content not read")
            return entry
        meta_alloc = bool(int(meta.flags) & int(tsk.TSK_FS_META_FLAG_ALLOC))
        is_dir = int(meta.type) == int(tsk.TSK_FS_META_TYPE_DIR)
        entry = FileEntry(
            self.volume.index, path, 0 if is_dir else int(meta.size), is_dir=is_dir,
            modified=_stamp(meta.mtime), created=_stamp(getattr(meta, "crtime", 0)),
            accessed=_stamp(meta.atime), allocated=name_alloc and meta_alloc,
            name_raw=name_raw, warnings=warnings, key=f)
        if not name_alloc and meta_alloc:
            # fls's "(realloc)": the inode is another file's now; its bytes are not ours
            entry.warnings.append(REALLOCATED)
            entry.errors.append("deleted name whose inode now belongs to another file: "
                                "content not read")
            entry.size, entry.extents = 0, []
            return entry
        if name_alloc and not meta_alloc:
            entry.warnings.append("inode_unallocated")
        if int(meta.type) in self._special:  # FIFO, device, socket: a name, no content
            entry.warnings.append("special_file")
            entry.size, entry.extents = 0, []
            return entry
        if not is_dir:
            self._content(f, entry)
        elif self.mft is not None:
            self._junction(f, entry)
        return entry

    def _junction(self, f: Any, entry: FileEntry) -> None:
        """An NTFS directory that is a reparse point (a junction or a directory symbolic
        link) is listed as a link to its target, not walked."""
        assert self.mft is not None
        try:
            facts = ntfs_facts.facts(self.mft, self.mft.record(int(f.info.meta.addr)))
        except NtfsError:
            return
        if facts.link is not None:
            entry.is_dir, entry.link, entry.extents = False, facts.link, []

    def _deleted_file(self, f: Any) -> Any:
        """The MFT entry of a deleted NTFS name, which TSK 4.12+ leaves out when its
        sequence number moved on. Freeing an entry adds one to it: one more than the name
        says is the same file, deleted; an entry in use again is another file's (marked
        as a reallocated name by the caller)."""
        name = f.info.name
        if self.kind != "ntfs":
            return None
        try:
            g = self.fs.open_meta(inode=int(name.meta_addr))
        except OSError:
            return None
        meta = g.info.meta
        if meta is None:
            return None
        if int(meta.flags) & int(self.tsk.TSK_FS_META_FLAG_ALLOC):
            return g
        return g if int(meta.seq) == int(name.meta_seq) + 1 else None

    def _content(self, f: Any, entry: FileEntry) -> None:
        tsk, meta = self.tsk, f.info.meta
        facts = ntfs_facts.Facts()
        if self.mft is not None:
            try:
                facts = ntfs_facts.facts(self.mft, self.mft.record(int(meta.addr)))
            except NtfsError as exc:
                facts.warnings.append(f"MFT record not read ({exc})")
        if self.exfat is not None:
            facts.init_size = self.exfat.valid_length(int(meta.addr), entry.size)
            if facts.init_size is None and entry.size:
                entry.warnings.append("valid_data_length_unknown")
        entry.errors += facts.errors
        entry.warnings += facts.warnings
        link = facts.link
        if link is None and int(meta.type) == int(tsk.TSK_FS_META_TYPE_LNK):
            link = self._link_target(f)
        if link is None and facts.system and 8 <= entry.size <= 4096:
            head = self._read_all(f, entry.size)
            if head is not None and head.startswith(ntfs_facts.INTERIX):
                link = head[len(ntfs_facts.INTERIX):].decode("utf-16-le", errors="replace")
        if link is not None:
            entry.link, entry.extents = link, []
            return
        if facts.errors:
            entry.extents = []
            return
        entry.extents = self._extents(self._data_attr(f), entry, facts.init_size)

    def _link_target(self, f: Any) -> str | None:
        target = f.info.meta.link
        if target:  # TSK fills it for fast (in-inode) symlinks
            return str(target, "utf-8", "replace") if isinstance(target, bytes) else str(target)
        data = self._read_all(f, min(int(f.info.meta.size), 4096))
        return None if data is None else data.decode("utf-8", errors="replace")

    def _read_all(self, f: Any, size: int) -> bytes | None:
        if size <= 0:
            return b""
        try:
            data = f.read_random(0, size)
        except OSError:
            return None
        return data if len(data) == size else None

    def _data_attrs(self, f: Any) -> Iterator[tuple[bytes, Any]]:
        """(stream name, attribute) of each data attribute: b"" for the file's data, else
        an NTFS alternate data stream."""
        tsk = self.tsk
        kinds = (int(tsk.TSK_FS_ATTR_TYPE_NTFS_DATA), int(tsk.TSK_FS_ATTR_TYPE_DEFAULT),
                 int(tsk.TSK_FS_ATTR_TYPE_HFS_DATA))
        for attr in f:
            if int(attr.info.type) in kinds:
                name = attr.info.name
                yield (b"" if name in (None, b"", b"$Data") else bytes(name)), attr

    def _data_attr(self, f: Any) -> Any:
        return next((attr for name, attr in self._data_attrs(f) if not name), None)

    def _runs(self, attr: Any) -> Iterator[tsk_runs.Run]:
        if attr is None or not int(attr.info.flags) & int(self.tsk.TSK_FS_ATTR_NONRES):
            return
        zero = int(self.tsk.TSK_FS_ATTR_RUN_FLAG_SPARSE) | int(
            self.tsk.TSK_FS_ATTR_RUN_FLAG_FILLER)
        for run in attr:
            flags, addr = int(run.flags), int(run.addr)
            # block 0 never holds file data but on NTFS ($Boot, a system file)
            hole = bool(flags & zero) or (addr == 0 and self.kind != "ntfs")
            yield int(run.offset), None if hole else addr, int(run.len)

    def _extents(self, attr: Any, entry: FileEntry,
                 init_size: int | None) -> list[tuple[int, int]] | None:
        """Image byte ranges of a data attribute; None when TSK must read it (resident,
        compressed, encrypted)."""
        tsk = self.tsk
        if attr is None:
            if entry.size:
                entry.errors.append("no data attribute found")
            return []
        flags = int(attr.info.flags)
        if flags & (int(tsk.TSK_FS_ATTR_COMP) | int(tsk.TSK_FS_ATTR_ENC)):
            return None
        if not flags & int(tsk.TSK_FS_ATTR_NONRES):
            return None
        extents, errors = tsk_runs.extents(self._runs(attr), self.block, entry.size,
                                           self.volume.offset, self.volume.size, init_size)
        entry.errors += errors
        return extents

    def _streams(self, f: Any, entry: FileEntry) -> Iterator[FileEntry]:
        """An NTFS file's alternate data streams, listed as fls lists them (path:name)."""
        if self.mft is None or entry.link is not None or REALLOCATED in entry.warnings:
            return
        for name, attr in self._data_attrs(f):
            if not name or int(attr.info.type) != int(self.tsk.TSK_FS_ATTR_TYPE_NTFS_DATA):
                continue
            text, clean = decode_name(name, "utf-8")
            stream = FileEntry(entry.volume, f"{entry.path}:{safe_component(text)[0]}",
                               int(attr.info.size), modified=entry.modified,
                               created=entry.created, accessed=entry.accessed,
                               allocated=entry.allocated,
                               warnings=["alternate_data_stream"] + ([] if clean else
                                                                      ["undecodable_name"]),
                               key=(f, int(attr.info.type), int(attr.info.id)))
            init = None
            try:
                pieces = self.mft.attrs(self.mft.record(int(f.info.meta.addr)),
                                        ntfs_mft.DATA, text)
                init = pieces[0].init_size if pieces and not pieces[0].resident else None
            except NtfsError as exc:
                stream.warnings.append(f"MFT record not read ({exc})")
            stream.extents = self._extents(attr, stream, init)
            yield stream

    def read(self, entry: FileEntry, chunk: int = 1 << 20) -> Iterator[bytes]:
        """Data of a file whose extents are unknown (resident or compressed)."""
        key: Any = entry.key  # the pytsk3 File (or File, attribute type, id) _walk put there
        f, where = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        pos = 0
        while pos < entry.size:
            data = f.read_random(pos, min(chunk, entry.size - pos), *where)
            if not data:
                break
            yield data
            pos += len(data)


def _why(image: Image, volume: Volume) -> str:
    """A likely reason TSK refuses a volume, from what it is known to refuse."""
    if volume.fs_type == "ntfs":
        try:
            mft = Mft(image, volume)
        except NtfsError as exc:
            return str(exc)
        if mft.cluster > 65536:
            return f"{mft.cluster // 1024} KiB clusters, over the 64 KiB TSK reads"
    return "not recognised"
