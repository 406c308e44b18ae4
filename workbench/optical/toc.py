"""A disc's table of contents: sessions, tracks, lead-outs, disc type, and its class.

Positions are logical block addresses (LBA, 75 sectors a second; LBA 0 is MSF 00:02:00).
A track's start is its INDEX 01; its length runs to the next track's pregap or to its
session's lead-out. The same model comes from a drive (mmc.py), from a CUE sheet
(cue.py) and from a job record (to_dict/from_dict), so every later step reads one shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

RAW_SECTOR = 2352  # a CD sector as the drive gives it raw (audio, or a whole data sector)
DATA_SECTOR = 2048  # user data of a Mode 1 or Mode 2 Form 1 sector
FRAMES_PER_SECOND = 75
MSF_OFFSET = 150  # LBA 0 is 00:02:00
SAMPLES_PER_SECTOR = 588  # 16-bit stereo: 2352 / 4
# A session after the first starts after its predecessor's lead-out (6,750 sectors for
# the first, 2,250 for later ones) and the new lead-in (4,500) and pregap (150): on a
# CD-R this 11,400-sector gap cannot be read, and is not part of the disc's data.
FIRST_SESSION_GAP = 11400
LATER_SESSION_GAP = 6900


class Mode(StrEnum):
    AUDIO = "audio"
    MODE1 = "mode1"  # 2048 bytes of data, ECC
    MODE2 = "mode2"  # XA: Form 1 (2048, ECC) or Form 2 (2324, video and sound)
    DATA = "data"  # a data track whose mode the drive did not tell


class DiscClass(StrEnum):
    SINGLE_SESSION = "single_session_data"
    MULTI_SESSION = "multi_session_data"
    MIXED_MODE = "mixed_mode"  # data track 1, audio tracks after it, one session
    ENHANCED = "enhanced_cd"  # CD-Extra: audio session first, data session after it
    AUDIO = "audio"
    VIDEO_CD = "vcd_cdi"  # Video CD, Super Video CD, CD-i: Mode 2 tracks of video
    BLANK = "blank"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Track:
    number: int
    session: int
    mode: str  # a Mode value
    start: int  # LBA of INDEX 01
    length: int  # sectors from start to the next track's pregap or the lead-out
    pregap: int = 0  # sectors of INDEX 00 before start
    control: int = 0  # Q-channel control nibble: 4 data, 1 pre-emphasis, 2 copy permitted
    isrc: str = ""

    @property
    def end(self) -> int:
        return self.start + self.length

    @property
    def audio(self) -> bool:
        return self.mode == Mode.AUDIO


@dataclass(frozen=True)
class Session:
    number: int
    first_track: int
    last_track: int
    leadout: int  # LBA where this session's lead-out starts


@dataclass
class Disc:
    """What a disc holds, as its TOC (and the drive) say."""

    tracks: list[Track] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    # pressed/recordable/rewritable and the family: CD-ROM, CD-R, CD-RW, DVD-ROM,
    # DVD-R, DVD-RW, DVD+R, DVD+RW, DVD-RAM, BD-ROM, BD-R, BD-RE; "" when unknown
    disc_type: str = ""
    disc_class: str = DiscClass.UNKNOWN.value
    blank: bool = False
    mcn: str = ""  # the media catalogue number (UPC/EAN) when the disc has one
    # the TOC's disc type byte (point A0): 0x00 CD-DA or CD-ROM, 0x10 CD-i, 0x20 XA
    toc_type: int | None = None
    read_from: str = ""  # drive | cue: where this TOC came from

    # -- what the disc holds -------------------------------------------------------
    @property
    def data_tracks(self) -> list[Track]:
        return [t for t in self.tracks if not t.audio]

    @property
    def audio_tracks(self) -> list[Track]:
        return [t for t in self.tracks if t.audio]

    @property
    def leadout(self) -> int:
        """The last lead-out: where the disc's recorded area ends."""
        if self.sessions:
            return self.sessions[-1].leadout
        return max((t.end for t in self.tracks), default=0)

    def track(self, number: int) -> Track:
        for t in self.tracks:
            if t.number == number:
                return t
        raise KeyError(number)

    def session_of(self, number: int) -> Session | None:
        for s in self.sessions:
            if s.number == number:
                return s
        return None

    def classify(self, video: bool = False) -> str:
        """The disc's class from its TOC. video: the first track holds a Video CD or
        CD-i signature (the caller read it), which the TOC alone cannot tell."""
        if self.blank or not self.tracks:
            return DiscClass.BLANK.value
        audio, data = self.audio_tracks, self.data_tracks
        first_session = [t for t in self.tracks if t.session == self.tracks[0].session]
        if video or self.toc_type == 0x10:
            return DiscClass.VIDEO_CD.value
        if not data:
            return DiscClass.AUDIO.value
        if not audio:
            sessions = {t.session for t in self.tracks}
            return (DiscClass.MULTI_SESSION if len(sessions) > 1
                    else DiscClass.SINGLE_SESSION).value
        if all(t.audio for t in first_session) and any(not t.audio for t in self.tracks
                                                       if t.session > first_session[0].session):
            return DiscClass.ENHANCED.value
        if not first_session[0].audio:
            return DiscClass.MIXED_MODE.value
        return DiscClass.UNKNOWN.value

    def gaps(self) -> list[tuple[int, int]]:
        """(start LBA, sectors) of everything below the last data track's end that no
        data track covers: audio tracks, pregaps and the gaps between sessions. They
        are not part of the data image's domain: never read as data, never bad."""
        return uncovered(self.data_tracks)

    @property
    def data_end(self) -> int:
        """The end of the last data track: how far the data image reaches."""
        return max((t.end for t in self.data_tracks), default=0)

    # -- records -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Disc:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        values["tracks"] = [Track(**t) for t in data.get("tracks", [])]
        values["sessions"] = [Session(**s) for s in data.get("sessions", [])]
        return cls(**values)


REWRITABLE = ("CD-RW", "DVD-RW", "DVD+RW", "DVD+RW DL", "DVD-RAM", "BD-RE")


def disc_kind(disc_type: str) -> str:
    """pressed, recordable or rewritable, from a disc type as the drive names it; ""
    when the type is not known (a CUE/BIN image, a drive that does not say)."""
    if not disc_type:
        return ""
    if disc_type in REWRITABLE or disc_type.startswith(("DVD-RW", "BD-RE")):
        return "rewritable"
    if disc_type.endswith(("-ROM", "ROM")):
        return "pressed"
    if disc_type.startswith(("CD-R", "DVD-R", "DVD+R", "BD-R")):
        return "recordable"
    return ""


def uncovered(tracks: list[Track]) -> list[tuple[int, int]]:
    """(start LBA, sectors) of what lies below the last of tracks' ends and none of
    them covers."""
    out: list[tuple[int, int]] = []
    pos = 0
    for start, end in sorted((t.start, t.end) for t in tracks):
        if start > pos:
            out.append((pos, start - pos))
        pos = max(pos, end)
    return out


def data_session_starts(disc: Disc, numbers: list[int]) -> list[int]:
    """The start LBA of each session's first track among the tracks numbered: where a
    data session's volume descriptors are (16 sectors on)."""
    firsts: dict[int, int] = {}
    for t in disc.tracks:
        if t.number in numbers:
            firsts[t.session] = min(t.start, firsts.get(t.session, t.start))
    return sorted(firsts.values())


def msf(lba: int, absolute: bool = False) -> str:
    """mm:ss:ff of a sector count (absolute: an LBA on the disc, 150 frames in)."""
    frames = lba + (MSF_OFFSET if absolute else 0)
    return f"{frames // 4500:02d}:{frames // 75 % 60:02d}:{frames % 75:02d}"


def frames_of(text: str) -> int:
    """Frames of mm:ss:ff (a CUE sheet's INDEX, PREGAP and POSTGAP times)."""
    parts = text.strip().split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not mm:ss:ff: {text!r}")
    m, s, f = (int(p) for p in parts)
    if s >= 60 or f >= 75:
        raise ValueError(f"not mm:ss:ff: {text!r}")
    return (m * 60 + s) * 75 + f
