"""Classic HFS (Mac floppies and MO disks) through machfs, which reads the whole volume
into memory. Names are stored in a Mac code page: with a Japanese station code page they
are decoded as MacJapanese (Shift_JIS is the closest Python codec), else MacRoman. Data
forks are identified; resource forks are not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from workbench.identify.model import FileEntry, Image, Volume, decode_name, named, walk_guard

MAX_VOLUME = 4 << 30  # machfs holds the volume in memory
_MAC_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)


def _mac_date(seconds: int | None) -> str | None:
    return (_MAC_EPOCH + timedelta(seconds=seconds)).isoformat() if seconds else None


class HfsReader:
    def __init__(self, image: Image, volume: Volume, codepage: str,
                 deadline: float | None = None) -> None:
        import machfs

        if volume.size > MAX_VOLUME:
            raise ValueError("classic HFS volume too large to read in memory")
        self.volume, self.deadline = volume, deadline
        self.codec = "shift_jis" if codepage.replace("-", "_").lower() in (
            "cp932", "shift_jis", "sjis", "ms932") else "mac_roman"
        self.errors: list[str] = []
        data = image.read(volume.offset, volume.size)
        self.vol = machfs.Volume()
        self.vol.read(data)
        # machfs does not read the name back: drVN, a Pascal string in the MDB
        name = data[1024 + 37:1024 + 37 + min(data[1024 + 36], 27)]
        self.label = decode_name(name, self.codec)[0]
        self.kind = "hfs"

    def _decode(self, name: str) -> tuple[str, bytes, bool]:
        raw = name.encode("mac_roman", errors="replace")
        text, clean = decode_name(raw, self.codec)
        return text, raw, clean

    def walk(self) -> Iterator[FileEntry]:
        yield from self._walk(self.vol, "", 0)

    def _walk(self, folder: Any, parent: str, depth: int) -> Iterator[FileEntry]:
        """folder: a machfs Volume or Folder (machfs ships no type information)."""
        import machfs

        if not walk_guard(self.deadline, depth, parent, self.errors):
            return
        for name, node in folder.items():
            text, raw, clean = self._decode(name)
            path, hexraw, warnings = named(parent, text, raw, clean)
            if isinstance(node, machfs.Folder):
                yield FileEntry(self.volume.index, path, 0, is_dir=True,
                                modified=_mac_date(node.mddate), created=_mac_date(node.crdate),
                                name_raw=hexraw, warnings=warnings)
                yield from self._walk(node, path, depth + 1)
            else:
                yield FileEntry(self.volume.index, path, len(node.data),
                                modified=_mac_date(node.mddate), created=_mac_date(node.crdate),
                                name_raw=hexraw, warnings=warnings, key=node.data)

    def read(self, entry: FileEntry, chunk: int = 1 << 20) -> Iterator[bytes]:
        data = entry.key  # the data fork (a bytearray in machfs) that _walk put there
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"{entry.path}: not an entry of this HFS reader")
        view = memoryview(data)
        for pos in range(0, len(view), chunk):
            yield bytes(view[pos:pos + chunk])
