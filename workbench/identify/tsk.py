"""NTFS, exFAT, ext2/3/4 and HFS+ through pytsk3 (The Sleuth Kit), read from the image
through a read-only callback. Names come as TSK gives them (UTF-8); block runs of the
data attribute become image extents; resident data is read through TSK."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from workbench.identify.model import FileEntry, Image, Volume, decode_name, named, walk_guard

_SKIP = {b".", b".."}

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


class TskReader:
    def __init__(self, image: Image, volume: Volume, codepage: str,
                 deadline: float | None = None) -> None:
        import pytsk3

        self.tsk = pytsk3
        self.image, self.volume, self.deadline = image, volume, deadline
        self.errors: list[str] = []
        self._img = _img_info(image, volume)
        try:
            self.fs = pytsk3.FS_Info(self._img, offset=0)
        except OSError as exc:
            raise ValueError(f"The Sleuth Kit cannot open this {volume.fs_type} volume: {exc}"
                             ) from exc
        self.block = self.fs.info.block_size
        self.kind = volume.fs_type
        self.label = ""

    def walk(self) -> Iterator[FileEntry]:
        try:
            root = self.fs.open_dir(path="/")
        except OSError as exc:
            self.errors.append(f"/: {exc}")
            return
        yield from self._walk(root, "", 0, {self.fs.info.root_inum})

    def _walk(self, directory: Any, parent: str, depth: int,
              visited: set[int]) -> Iterator[FileEntry]:
        if not walk_guard(self.deadline, depth, parent, self.errors):
            return
        try:
            children = list(directory)
        except OSError as exc:
            self.errors.append(f"{parent or '/'}: {exc}")
            return
        for f in children:
            raw = f.info.name.name
            if raw in _SKIP or f.info.meta is None:
                continue
            if parent == "" and raw.startswith(b"$"):  # NTFS metadata files
                continue
            meta = f.info.meta
            text, clean = decode_name(raw, "utf-8")
            path, name_raw, warnings = named(parent, text, raw, clean)
            is_dir = meta.type == self.tsk.TSK_FS_META_TYPE_DIR
            entry = FileEntry(
                self.volume.index, path, 0 if is_dir else int(meta.size), is_dir=is_dir,
                modified=_stamp(meta.mtime), created=_stamp(getattr(meta, "crtime", 0)),
                accessed=_stamp(meta.atime),
                allocated=not (int(meta.flags) & int(self.tsk.TSK_FS_META_FLAG_UNALLOC)),
                name_raw=name_raw, warnings=warnings,
                key=f)
            if not is_dir:
                entry.extents = self._extents(f, entry.size)
                yield entry
                continue
            yield entry
            if meta.addr in visited:
                self.errors.append(f"{path}: directory loop")
                continue
            visited.add(meta.addr)
            try:
                yield from self._walk(f.as_directory(), path, depth + 1, visited)
            except OSError as exc:
                self.errors.append(f"{path}: {exc}")

    def _extents(self, f: Any, size: int) -> list[tuple[int, int]] | None:
        """Image byte ranges of the default data attribute; None when resident."""
        tsk = self.tsk
        for attr in f:
            kind = attr.info.type
            if kind not in (tsk.TSK_FS_ATTR_TYPE_NTFS_DATA, tsk.TSK_FS_ATTR_TYPE_DEFAULT,
                            tsk.TSK_FS_ATTR_TYPE_HFS_DATA):
                continue
            if attr.info.name not in (None, b"", b"$Data"):
                continue  # an alternate data stream
            if not int(attr.info.flags) & int(tsk.TSK_FS_ATTR_NONRES):
                return None
            runs: list[tuple[int, int]] = []
            left = size
            for run in attr:
                if left <= 0:
                    break
                n = min(run.len * self.block, left)
                if int(run.flags) & int(tsk.TSK_FS_ATTR_RUN_FLAG_SPARSE):
                    left -= n
                    continue
                runs.append((self.volume.offset + run.addr * self.block, n))
                left -= n
            return runs
        return [] if size == 0 else None

    def read(self, entry: FileEntry, chunk: int = 1 << 20) -> Iterator[bytes]:
        """Data of a file whose extents are unknown (resident or compressed)."""
        f: Any = entry.key  # the pytsk3 File that _walk put there
        pos = 0
        while pos < entry.size:
            data = f.read_random(pos, min(chunk, entry.size - pos))
            if not data:
                break
            yield data
            pos += len(data)
