"""A disc as the drive tells it: the answers of SCSI MMC commands (READ TOC formats 0, 1
and 2, READ DISC INFORMATION, GET CONFIGURATION, a raw sector's header) parsed into the
TOC model (toc.Disc).

The parsers are pure functions of the bytes a drive returns, so they are tested on answers
recorded from real drives; drive.DriveReader is the thin part that asks a drive for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from workbench.optical.sector import sector_form
from workbench.optical.toc import (
    FIRST_SESSION_GAP,
    LATER_SESSION_GAP,
    MSF_OFFSET,
    RAW_SECTOR,
    Disc,
    Mode,
    Session,
    Track,
)

LEADOUT = 0xAA  # the lead-out's "track number" in a TOC
TRANSITION_GAP = 150  # the 2 s pregap a track must have where audio and data meet
C2_BYTES = 294  # one bit per byte of a 2352-byte sector
SYNC = b"\x00" + b"\xff" * 10 + b"\x00"

# READ DISC INFORMATION byte 2, bits 1-0 and 3-2
DISC_STATUS = ("blank", "incomplete", "complete", "other")
SESSION_STATE = ("empty", "incomplete", "damaged", "complete")

# GET CONFIGURATION current profile -> the disc's type (MMC-6 table 97)
PROFILES = {
    0x08: "CD-ROM", 0x09: "CD-R", 0x0A: "CD-RW",
    0x10: "DVD-ROM", 0x11: "DVD-R", 0x12: "DVD-RAM", 0x13: "DVD-RW", 0x14: "DVD-RW",
    0x15: "DVD-R DL", 0x16: "DVD-R DL", 0x1A: "DVD+RW", 0x1B: "DVD+R",
    0x2A: "DVD+RW DL", 0x2B: "DVD+R DL",
    0x40: "BD-ROM", 0x41: "BD-R", 0x42: "BD-R", 0x43: "BD-RE",
}
CD_PROFILES = frozenset({0x08, 0x09, 0x0A})


class MmcError(Exception):
    """A drive command failed: the command, and the sense key/ASC/ASCQ when the drive
    gave them (errno when the kernel refused it)."""

    def __init__(self, message: str, *, command: str = "", sense_key: int | None = None,
                 asc: int | None = None, ascq: int | None = None,
                 errno_: int | None = None) -> None:
        super().__init__(message)
        self.command, self.errno = command, errno_
        self.sense_key, self.asc, self.ascq = sense_key, asc, ascq

    @property
    def sense(self) -> str:
        if self.sense_key is None:
            return ""
        return f"{self.sense_key:X}/{self.asc or 0:02X}/{self.ascq or 0:02X}"


# -- parsed answers -------------------------------------------------------------------
@dataclass(frozen=True)
class TocEntry:
    """One track descriptor: its number (LEADOUT for the lead-out), Q control and ADR,
    the LBA of its INDEX 01, and its session (0 where the answer does not say)."""

    number: int
    control: int
    adr: int
    lba: int
    session: int = 0

    @property
    def data(self) -> bool:
        return bool(self.control & 4)


@dataclass(frozen=True)
class TocSession:
    number: int
    first_track: int
    last_track: int
    leadout: int
    disc_type: int  # A0 PSEC: 0x00 CD-DA/CD-ROM, 0x10 CD-i, 0x20 CD-ROM XA


@dataclass(frozen=True)
class FullToc:
    sessions: tuple[TocSession, ...]
    tracks: tuple[TocEntry, ...]


@dataclass(frozen=True)
class DiscInformation:
    status: str  # blank | incomplete | complete | other
    erasable: bool
    sessions: int  # as the drive counts them: an open disc's empty session included
    last_session: str  # empty | incomplete | damaged | complete
    first_track: int
    last_session_first_track: int
    last_session_last_track: int
    disc_type: int | None  # the TOC's disc type byte, None when undefined (0xFF)

    @property
    def closed_sessions(self) -> int:
        """Sessions with a TOC entry: an empty or open last session has none yet."""
        return self.sessions - (0 if self.last_session == "complete" else 1)


def need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise MmcError(f"{what}: the drive returned {len(data)} bytes, "
                       f"fewer than the {size} its header needs")


def _declared(data: bytes, width: int) -> bytes:
    """The part of an answer its length field covers (a buffer may hold more)."""
    length = int.from_bytes(data[:width], "big") + width
    return data[:min(length, len(data))]


def msf_to_lba(m: int, s: int, f: int) -> int:
    """An absolute MSF to an LBA; minutes 90-99 are the lead-in, before LBA -150."""
    frames = (m * 60 + s) * 75 + f
    return frames - MSF_OFFSET if m < 90 else frames - 450150


def parse_toc(data: bytes) -> list[TocEntry]:
    """READ TOC/PMA/ATIP format 0 in LBA form: the tracks and the lead-out (0xAA)."""
    need(data, 4, "READ TOC")
    body = _declared(data, 2)
    out = []
    for i in range(4, len(body) - 7, 8):
        adr_ctl, number = body[i + 1], body[i + 2]
        lba = int.from_bytes(body[i + 4:i + 8], "big", signed=True)
        out.append(TocEntry(number, adr_ctl & 0x0F, adr_ctl >> 4, lba))
    return out


def parse_session_info(data: bytes) -> tuple[int, int]:
    """READ TOC format 1: (first track number of the last session, its LBA)."""
    need(data, 12, "READ TOC session info")
    return data[6], int.from_bytes(data[8:12], "big", signed=True)


def parse_full_toc(data: bytes) -> FullToc:
    """READ TOC format 2 (the raw TOC, addresses always MSF): per session its points A0
    (first track, disc type), A1 (last track) and A2 (lead-out), and the tracks' starts."""
    need(data, 4, "READ TOC full TOC")
    body = _declared(data, 2)
    points: dict[int, dict[int, bytes]] = {}
    tracks: list[TocEntry] = []
    for i in range(4, len(body) - 10, 11):
        d = body[i:i + 11]
        session, adr, control, point = d[0], d[1] >> 4, d[1] & 0x0F, d[3]
        if adr != 1:  # mode 5 (B0, C0: recordable-disc pointers) and others: not tracks
            continue
        if 1 <= point <= 99:
            tracks.append(TocEntry(point, control, adr, msf_to_lba(d[8], d[9], d[10]),
                                   session))
        elif point in (0xA0, 0xA1, 0xA2):
            points.setdefault(session, {})[point] = d
    sessions = []
    for number in sorted(points):
        p = points[number]
        if not {0xA0, 0xA1, 0xA2} <= p.keys():
            raise MmcError(f"full TOC: session {number} lacks its A0, A1 or A2 point")
        leadout = msf_to_lba(p[0xA2][8], p[0xA2][9], p[0xA2][10])
        sessions.append(TocSession(number, p[0xA0][8], p[0xA1][8], leadout, p[0xA0][9]))
    return FullToc(tuple(sessions), tuple(sorted(tracks, key=lambda t: t.number)))


def parse_disc_information(data: bytes) -> DiscInformation:
    """READ DISC INFORMATION (0x51), standard disc information."""
    need(data, 12, "READ DISC INFORMATION")
    b2 = data[2]
    return DiscInformation(
        status=DISC_STATUS[b2 & 3], erasable=bool(b2 & 0x10), sessions=data[9] << 8 | data[4],
        last_session=SESSION_STATE[b2 >> 2 & 3], first_track=data[3],
        last_session_first_track=data[10] << 8 | data[5],
        last_session_last_track=data[11] << 8 | data[6],
        disc_type=None if data[8] == 0xFF else data[8])


def profile_name(profile: int) -> str:
    return PROFILES.get(profile, f"profile 0x{profile:02X}")


def parse_current_profile(data: bytes) -> str:
    """GET CONFIGURATION (0x46) header: the current profile as the disc's type; "" when
    the drive has no current profile (no medium)."""
    need(data, 8, "GET CONFIGURATION")
    profile = int.from_bytes(data[6:8], "big")
    return profile_name(profile) if profile else ""


def sector_mode(raw: bytes) -> str:
    """What a raw 2352-byte sector holds, from its sync, header and XA subheader (the
    one rule, in sector.sector_form): audio, mode0, mode1, mode2_form1, mode2_form2 or
    mode2 (formless)."""
    if len(raw) < RAW_SECTOR:
        return "audio"
    return sector_form(bytes(raw[:RAW_SECTOR]))


def mode_of(sector: str) -> Mode:
    """The track mode a sector_mode answer stands for."""
    if sector == "audio":
        return Mode.AUDIO
    if sector == "mode1":
        return Mode.MODE1
    return Mode.MODE2 if sector.startswith("mode2") else Mode.DATA


# -- the Disc -------------------------------------------------------------------------
def _session_plan(toc: list[TocEntry], full: FullToc | None, info: DiscInformation | None,
                  last_session: tuple[int, int] | None
                  ) -> tuple[list[TocEntry], list[Session]]:
    """Tracks with their sessions, and the sessions with their lead-outs."""
    if full is not None and full.tracks:
        sessions = [Session(s.number, s.first_track, s.last_track, s.leadout)
                    for s in full.sessions]
        return list(full.tracks), sessions
    tracks = [e for e in toc if e.number != LEADOUT]
    if not tracks:
        return [], []
    leadout = next((e.lba for e in toc if e.number == LEADOUT), tracks[-1].lba)
    if last_session is None or last_session[0] <= tracks[0].number:
        return ([TocEntry(e.number, e.control, e.adr, e.lba, 1) for e in tracks],
                [Session(1, tracks[0].number, tracks[-1].number, leadout)])
    # Format 0 and the last session's start: earlier sessions cannot be told apart, so
    # they are one; the one before the last ends a recorder's gap before it.
    first_last, start_last = last_session
    number = max(2, info.closed_sessions if info else 2)
    gap = FIRST_SESSION_GAP if number == 2 else LATER_SESSION_GAP
    early = [TocEntry(e.number, e.control, e.adr, e.lba, 1) for e in tracks
             if e.number < first_last]
    late = [TocEntry(e.number, e.control, e.adr, e.lba, number) for e in tracks
            if e.number >= first_last]
    return early + late, [Session(1, early[0].number, early[-1].number, start_last - gap),
                          Session(number, first_last, late[-1].number, leadout)]


def disc_from(toc: list[TocEntry], full: FullToc | None = None,
              info: DiscInformation | None = None, profile: str | None = None, *,
              last_session: tuple[int, int] | None = None,
              modes: Mapping[int, str] | None = None) -> Disc:
    """The Disc the drive's answers describe. toc: READ TOC format 0; full: format 2 (its
    sessions win when given); info: READ DISC INFORMATION; profile: the disc type from
    GET CONFIGURATION; last_session: READ TOC format 1 (or CDROMMULTISESSION), used only
    without a full TOC; modes: track number -> Mode value for data tracks whose sector
    was read (else Mode.DATA)."""
    modes = modes or {}
    blank = info is not None and info.status == "blank"
    entries, sessions = ([], []) if blank else _session_plan(toc, full, info, last_session)
    leadouts = {s.number: s.leadout for s in sessions}
    tracks: list[Track] = []
    for i, e in enumerate(entries):
        nxt = entries[i + 1] if i + 1 < len(entries) else None
        same_session = nxt is not None and nxt.session == e.session
        if same_session and nxt is not None:
            end = nxt.lba - (TRANSITION_GAP if nxt.data != e.data else 0)
        else:
            end = leadouts.get(e.session, e.lba)
        prev = tracks[-1] if tracks else None
        if prev is None:
            pregap = max(e.lba, 0)  # before track 1's INDEX 01 (a hidden track): its pregap
        elif prev.session != e.session:
            pregap = TRANSITION_GAP  # a session's first track: the last 2 s of the gap
        else:
            pregap = TRANSITION_GAP if prev.audio == e.data else 0
        mode = modes.get(e.number, Mode.DATA.value) if e.data else Mode.AUDIO.value
        tracks.append(Track(number=e.number, session=e.session, mode=str(mode), start=e.lba,
                            length=max(0, end - e.lba), pregap=pregap, control=e.control))
    toc_type: int | None = None
    if full is not None and full.sessions:
        toc_type = full.sessions[0].disc_type
    elif info is not None and not blank:
        toc_type = info.disc_type
    disc = Disc(tracks=tracks, sessions=sessions, disc_type=profile or "", blank=blank,
                toc_type=toc_type, read_from="drive")
    disc.disc_class = disc.classify()
    return disc
