"""A laid-out flux capture as a Source: the imaging engine reads it like any drive.

So a flux-imaged carrier goes through the same engine as every other: the map, the
digests made while reading, the job record, resume, the fingerprint, and after it
identification, damaged files, the bag, tape and statistics. A read that touches a
sector no revolution gave with a good CRC (or whose ID was never found) fails with
ReadError, as a drive's would; the engine's trim and scrape passes then find each bad
sector's exact bytes (the source's sector size divides every sector on the disk).
"""

from __future__ import annotations

import errno

from workbench.flux.layout import Layout
from workbench.imaging.sources import DriveIdentity, ReadError, Source


class FluxSource(Source):
    def __init__(self, layout: Layout, path: str, identity: DriveIdentity) -> None:
        super().__init__()
        self.layout = layout
        self.path = path
        self.size = layout.size
        self.sector_size = layout.granule
        self.identity = identity

    def read(self, pos: int, size: int) -> bytes:
        self.read_calls += 1
        end = min(pos + size, self.size)
        if pos >= end:
            raise ReadError(pos, size, errno.EINVAL)
        if self.layout.touches_bad(pos, end - pos):
            raise ReadError(pos, end - pos)
        data = self.layout.read(pos, end - pos)
        self.bytes_read += len(data)
        return data


def flux_identity(path: str, source_format: str, captured: bool, drive: str = "") -> DriveIdentity:
    """Who read the carrier: a Greaseweazle (captured here) or a capture brought in."""
    if captured:
        return DriveIdentity(path=path, vendor="Greaseweazle", model=f"drive {drive}".strip(),
                             kind="flux", transport="flux")
    return DriveIdentity(path=path, vendor="", model=f"flux capture ({source_format})",
                         kind="flux", transport="flux")
