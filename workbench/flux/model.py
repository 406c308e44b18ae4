"""The types the flux readers, the decoder and the layout share.

A capture holds, per physical track, every revolution the hardware recorded: the time
between flux transitions in sample ticks. The decoder turns a track into the sectors its
ID fields announce, voting across revolutions; the layout turns the decoded tracks into a
sector image, a ddrescue map and, for disks that are not uniform, a D88 access copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from workbench.errors import WorkbenchError
from workbench.i18n import translate


@dataclass(frozen=True)
class Revolution:
    """One turn of the disk, index pulse to index pulse."""

    intervals: NDArray[np.uint32]  # sample ticks between transitions; the first from the index
    tail: int = 0  # ticks from the last transition to the closing index pulse

    @property
    def ticks(self) -> int:
        """The revolution's length in sample ticks."""
        return int(self.intervals.sum(dtype=np.uint64)) + self.tail


@dataclass(frozen=True)
class TrackFlux:
    """Every revolution captured of one physical track."""

    cylinder: int  # physical head position (as stepped; a 40-track disk in an 80-track
    head: int      # drive read with double step still says its own cylinder)
    sample_hz: float  # ticks per second (SCP: 40 MHz; KryoFlux: ~24.027 MHz)
    revolutions: tuple[Revolution, ...]


@dataclass(frozen=True)
class TrackDamage:
    """Why a track's flux could not be read from its file (the BadInput the reader
    raised for it: its message key and fields), so one damaged track of a set costs
    that track only."""

    key: str
    params: dict[str, str]

    @classmethod
    def of(cls, error: WorkbenchError) -> TrackDamage:
        return cls(error.key, {k: str(v) for k, v in error.params.items()})

    def message(self, lang: str | None = None) -> str:
        return translate(self.key, dict(self.params), lang)

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "params": dict(self.params)}


@dataclass
class FluxCapture:
    """A whole capture as read from its files, track by track."""

    tracks: dict[tuple[int, int], TrackFlux]  # (cylinder, head) -> flux
    source_format: str  # "scp", "kryoflux" or "hfe"
    notes: list[str] = field(default_factory=list)  # what the reader noticed (typed words later)
    # tracks whose flux the file holds damaged (not in tracks): flux kept, not decoded
    damaged: dict[tuple[int, int], TrackDamage] = field(default_factory=dict)


class Encoding(StrEnum):
    FM = "FM"
    MFM = "MFM"
    UNKNOWN = "unknown"  # flux is there but neither IBM FM nor IBM MFM (GCR, Amiga, protection)
    UNFORMATTED = "unformatted"  # no flux, or noise without any structure


@dataclass(frozen=True)
class SectorId:
    """An ID field as written on the disk (C, H, R, N); the data is 128 << n bytes."""

    c: int
    h: int
    r: int
    n: int

    @property
    def size(self) -> int:
        return 128 << min(self.n, 8)


@dataclass(frozen=True)
class SectorRead:
    """One sector of a track after voting across revolutions."""

    id: SectorId
    encoding: Encoding
    data: bytes | None  # the data every good revolution agreed on (or the vote's winner);
    #                     None when no revolution gave it with a correct CRC
    good: int  # revolutions that gave the data with a correct CRC
    seen: int  # revolutions where its ID field was found with a correct CRC
    disagree: bool = False  # good-CRC revolutions gave different data (recorded, not hidden)
    deleted: bool = False  # written with a deleted-data address mark
    offset_us: float = 0.0  # where its ID field starts after the index (physical order)
    raw: bytes | None = None  # bad CRC on every revolution: the bytes most often read
    #                           (never in the image; a fingerprint of the disk)


@dataclass(frozen=True)
class TrackDecode:
    """What one physical track gave."""

    cylinder: int
    head: int
    encoding: Encoding  # of most sectors; a track may mix (sectors say their own)
    sectors: tuple[SectorRead, ...]  # in physical order (as met after the index)
    revolutions: int  # used
    data_rate_kbps: float = 0.0  # found from the flux (250 DD, 300, 500 HD, 1000 ED)
    rpm: float = 0.0  # from the index-to-index time
    note: str = ""  # a short machine word for what was odd ("no-address-marks", ...)
    damage: TrackDamage | None = None  # its flux file is damaged there: nothing decoded
