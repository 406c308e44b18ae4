"""A disc as the drive tells it: SCSI MMC commands through Linux SG_IO, and their answers
parsed into the TOC model (toc.Disc).

The parsers are pure functions of the bytes a drive returns, so they are tested on answers
recorded from real drives; DriveReader is the thin part that asks a drive for them. It
opens the drive read-only and sends only commands that read: nothing here writes a disc.
Why SG_IO and not libcdio or cdrdao: READ CD with C2 pointers, the full TOC (sessions and
their lead-outs, the disc type byte) and GET CONFIGURATION are one ioctl away, and the
kernel's CDROM ioctls remain as the fallback when SG_IO is refused.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import stat
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from workbench.imaging.sources import SourceGone
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


def _need(data: bytes, size: int, what: str) -> None:
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
    _need(data, 4, "READ TOC")
    body = _declared(data, 2)
    out = []
    for i in range(4, len(body) - 7, 8):
        adr_ctl, number = body[i + 1], body[i + 2]
        lba = int.from_bytes(body[i + 4:i + 8], "big", signed=True)
        out.append(TocEntry(number, adr_ctl & 0x0F, adr_ctl >> 4, lba))
    return out


def parse_session_info(data: bytes) -> tuple[int, int]:
    """READ TOC format 1: (first track number of the last session, its LBA)."""
    _need(data, 12, "READ TOC session info")
    return data[6], int.from_bytes(data[8:12], "big", signed=True)


def parse_full_toc(data: bytes) -> FullToc:
    """READ TOC format 2 (the raw TOC, addresses always MSF): per session its points A0
    (first track, disc type), A1 (last track) and A2 (lead-out), and the tracks' starts."""
    _need(data, 4, "READ TOC full TOC")
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
    _need(data, 12, "READ DISC INFORMATION")
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
    _need(data, 8, "GET CONFIGURATION")
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


# -- commands -------------------------------------------------------------------------
def cdb_read_toc(fmt: int, length: int, track: int = 0, msf: bool = False) -> bytes:
    return bytes([0x43, 0x02 if msf else 0, fmt & 0x0F, 0, 0, 0, track,
                  length >> 8 & 0xFF, length & 0xFF, 0])


def cdb_disc_information(length: int) -> bytes:
    return bytes([0x51, 0, 0, 0, 0, 0, 0, length >> 8 & 0xFF, length & 0xFF, 0])


def cdb_current_profile(length: int = 8) -> bytes:
    # RT 01: the header and the features that are current; only the header is read
    return bytes([0x46, 0x01, 0, 0, 0, 0, 0, length >> 8 & 0xFF, length & 0xFF, 0])


def cdb_read_cd(lba: int, count: int, c2: bool = False) -> bytes:
    """READ CD: any sector type; sync, all headers, user data and EDC/ECC (2352 bytes),
    then the C2 error pointers (294 bytes) when asked."""
    return (bytes([0xBE, 0]) + lba.to_bytes(4, "big", signed=True)
            + count.to_bytes(3, "big") + bytes([0xF8 | (0x02 if c2 else 0), 0, 0]))


def cdb_set_speed(kb_per_s: int) -> bytes:
    read = min(max(kb_per_s, 0), 0xFFFF)  # 0xFFFF: as fast as the drive can
    return bytes([0xBB, 0, read >> 8, read & 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0])


# -- SG_IO ----------------------------------------------------------------------------
SG_IO = 0x2285
SG_DXFER_FROM_DEV = -3
SG_DXFER_NONE = -1
DRIVER_SENSE = 0x08
# linux/cdrom.h
CDROMREADTOCHDR, CDROMREADTOCENTRY, CDROMEJECT = 0x5305, 0x5306, 0x5309
CDROMMULTISESSION, CDROM_DRIVE_STATUS = 0x5310, 0x5326
CDROM_LBA, CDS_NO_DISC, CDS_TRAY_OPEN = 0x01, 1, 2
TOCENTRY = struct.Struct("=BBBxiB3x")  # struct cdrom_tocentry: track, adr|ctrl, format, addr
MULTISESSION = struct.Struct("=iBB2x")  # struct cdrom_multisession: addr, xa_flag, format
REFUSED = (errno.ENOTTY, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)


class SgIoHdr(ctypes.Structure):
    """struct sg_io_hdr from <scsi/sg.h> (88 bytes on 64-bit Linux)."""

    _fields_ = [
        ("interface_id", ctypes.c_int), ("dxfer_direction", ctypes.c_int),
        ("cmd_len", ctypes.c_ubyte), ("mx_sb_len", ctypes.c_ubyte),
        ("iovec_count", ctypes.c_ushort), ("dxfer_len", ctypes.c_uint),
        ("dxferp", ctypes.c_void_p), ("cmdp", ctypes.c_void_p), ("sbp", ctypes.c_void_p),
        ("timeout", ctypes.c_uint), ("flags", ctypes.c_uint), ("pack_id", ctypes.c_int),
        ("usr_ptr", ctypes.c_void_p), ("status", ctypes.c_ubyte),
        ("masked_status", ctypes.c_ubyte), ("msg_status", ctypes.c_ubyte),
        ("sb_len_wr", ctypes.c_ubyte), ("host_status", ctypes.c_ushort),
        ("driver_status", ctypes.c_ushort), ("resid", ctypes.c_int),
        ("duration", ctypes.c_uint), ("info", ctypes.c_uint),
    ]


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


class _Refused(Exception):
    """The kernel does not take SG_IO on this device."""


def decode_sense(sense: bytes) -> tuple[int, int, int] | None:
    """(key, ASC, ASCQ) of fixed (0x70/71) or descriptor (0x72/73) sense data."""
    if not sense:
        return None
    code = sense[0] & 0x7F
    if code in (0x70, 0x71) and len(sense) >= 14:
        return sense[2] & 0x0F, sense[12], sense[13]
    if code in (0x72, 0x73) and len(sense) >= 4:
        return sense[1] & 0x0F, sense[2], sense[3]
    return None


def _no_medium(key: int, asc: int) -> bool:
    return key == 0x02 and asc == 0x3A


@dataclass
class DriveReader:
    """An optical drive, opened read-only (O_NONBLOCK: no medium is no reason to fail)."""

    path: str
    timeout_ms: int = 30000
    fd: int = field(default=-1, init=False)

    def __post_init__(self) -> None:
        try:
            mode = os.stat(self.path).st_mode
        except FileNotFoundError:
            raise SourceGone("vanished", f"{self.path} does not exist") from None
        if not (stat.S_ISBLK(mode) or stat.S_ISCHR(mode)):
            raise MmcError(f"{self.path} is not an optical drive: not a device",
                           command="open")
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except PermissionError:
            raise SourceGone("permission", f"{self.path}: permission denied") from None
        except OSError as exc:
            if exc.errno in (errno.ENXIO, errno.ENODEV, errno.ENOENT):
                raise SourceGone("vanished", f"{self.path}: {exc.strerror}") from None
            raise MmcError(f"{self.path}: {exc.strerror}", command="open",
                           errno_=exc.errno) from None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> DriveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one command ------------------------------------------------------------------
    def _sg(self, cdb: bytes, length: int, name: str, timeout_ms: int | None = None) -> bytes:
        for attempt in range(2):
            try:
                return self._sg_once(cdb, length, name, timeout_ms)
            except MmcError as exc:
                # UNIT ATTENTION (a medium was changed, the drive was reset): once more
                if exc.sense_key != 0x06 or attempt:
                    raise
        raise AssertionError("unreachable")

    def _sg_once(self, cdb: bytes, length: int, name: str, timeout_ms: int | None) -> bytes:
        buf = ctypes.create_string_buffer(max(length, 1))
        cmd = ctypes.create_string_buffer(cdb, len(cdb))
        sense = ctypes.create_string_buffer(64)
        hdr = SgIoHdr(interface_id=ord("S"),
                      dxfer_direction=SG_DXFER_FROM_DEV if length else SG_DXFER_NONE,
                      cmd_len=len(cdb), mx_sb_len=len(sense), dxfer_len=length,
                      dxferp=ctypes.addressof(buf), cmdp=ctypes.addressof(cmd),
                      sbp=ctypes.addressof(sense), timeout=timeout_ms or self.timeout_ms)
        try:
            fcntl.ioctl(self.fd, SG_IO, hdr)
        except OSError as exc:
            if exc.errno in REFUSED:
                raise _Refused(exc.strerror) from None
            if exc.errno == errno.ENOMEDIUM:
                raise SourceGone("no_medium", self.path) from None
            if exc.errno in (errno.ENODEV, errno.ENXIO):
                raise SourceGone("vanished", self.path) from None
            raise MmcError(f"{self.path}: {name}: {exc.strerror}", command=name,
                           errno_=exc.errno) from None
        decoded = decode_sense(sense.raw[:hdr.sb_len_wr])
        # sense key 0 or 1 (recovered error): the data came
        if decoded is not None and decoded[0] > 1 and (hdr.status or
                                                       hdr.driver_status & DRIVER_SENSE):
            key, asc, ascq = decoded
            if _no_medium(key, asc):
                raise SourceGone("no_medium", self.path)
            raise MmcError(f"{self.path}: {name} failed, sense {key:X}/{asc:02X}/{ascq:02X}",
                           command=name, sense_key=key, asc=asc, ascq=ascq)
        if (hdr.status and decoded is None) or hdr.host_status \
                or hdr.driver_status & ~DRIVER_SENSE:
            raise MmcError(f"{self.path}: {name} failed (SCSI status 0x{hdr.status:02X}, "
                           f"host 0x{hdr.host_status:02X}, "
                           f"driver 0x{hdr.driver_status:02X})", command=name)
        return buf.raw[:length - max(hdr.resid, 0)]

    def _sized(self, cdb_of: Callable[[int], bytes], name: str, header: int = 4) -> bytes:
        """Ask for the header, then for as much as its length field says."""
        head = self._sg(cdb_of(header), header, name)
        _need(head, 2, name)
        total = int.from_bytes(head[:2], "big") + 2
        return self._sg(cdb_of(total), total, name) if total > len(head) else head

    # -- MMC --------------------------------------------------------------------------
    def read_toc(self) -> bytes:
        return self._sized(lambda n: cdb_read_toc(0, n), "READ TOC")

    def read_full_toc(self) -> bytes:
        return self._sized(lambda n: cdb_read_toc(2, n, msf=True), "READ FULL TOC")

    def read_session_info(self) -> bytes:
        return self._sg(cdb_read_toc(1, 12), 12, "READ TOC session info")

    def disc_information(self) -> bytes:
        return self._sg(cdb_disc_information(34), 34, "READ DISC INFORMATION")

    def current_profile(self) -> bytes:
        return self._sg(cdb_current_profile(8), 8, "GET CONFIGURATION")

    def read_cd(self, lba: int, count: int, c2: bool = False) -> tuple[bytes, bytes | None]:
        """count raw sectors from lba, and their C2 error bits when c2 is asked."""
        per = RAW_SECTOR + (C2_BYTES if c2 else 0)
        data = self._sg(cdb_read_cd(lba, count, c2), per * count, "READ CD",
                        timeout_ms=max(self.timeout_ms, 60000))
        if not c2:
            return data, None
        sectors = [data[i:i + per] for i in range(0, len(data), per)]
        return (b"".join(s[:RAW_SECTOR] for s in sectors),
                b"".join(s[RAW_SECTOR:] for s in sectors))

    def set_speed(self, kb_per_s: int) -> None:
        self._sg(cdb_set_speed(kb_per_s), 0, "SET CD SPEED")

    def eject(self) -> None:
        try:
            fcntl.ioctl(self.fd, CDROMEJECT)
        except OSError as exc:
            raise MmcError(f"{self.path}: eject: {exc.strerror}", command="eject",
                           errno_=exc.errno) from None

    # -- the whole disc ---------------------------------------------------------------
    def read_disc(self) -> Disc:
        """The disc's TOC, type and class; data tracks' modes from one raw sector each."""
        try:
            return self._read_disc_mmc()
        except _Refused:
            return self._read_disc_ioctl()

    @staticmethod
    def _try(read: Callable[[], bytes]) -> bytes | None:
        try:
            return read()
        except MmcError:
            return None

    def _read_disc_mmc(self) -> Disc:
        raw_profile = self._try(self.current_profile)
        code = int.from_bytes(raw_profile[6:8], "big") if raw_profile else None
        profile = parse_current_profile(raw_profile) if raw_profile else None
        raw_info = self._try(self.disc_information)
        info = parse_disc_information(raw_info) if raw_info else None
        if info is not None and info.status == "blank":
            return disc_from([], None, info, profile)
        is_cd = code is None or code in CD_PROFILES
        raw_full = self._try(self.read_full_toc) if is_cd else None
        full = parse_full_toc(raw_full) if raw_full else None
        raw_toc = self.read_toc() if full is None else self._try(self.read_toc)
        toc = parse_toc(raw_toc) if raw_toc else []
        last = None
        if full is None and is_cd:
            raw_last = self._try(self.read_session_info)
            last = parse_session_info(raw_last) if raw_last else None
        disc = disc_from(toc, full, info, profile, last_session=last)
        if not is_cd:
            return disc
        modes = {}
        for track in disc.data_tracks:
            try:
                sector, _ = self.read_cd(track.start, 1)
            except MmcError:
                continue  # an unreadable first sector leaves the mode untold
            mode = mode_of(sector_mode(sector))
            if mode in (Mode.MODE1, Mode.MODE2):  # no sync, mode 0: the mode stays untold
                modes[track.number] = mode.value
        return disc_from(toc, full, info, profile, last_session=last, modes=modes)

    def _ioctl(self, request: int, arg: bytes | int, name: str) -> bytes | int:
        try:
            return fcntl.ioctl(self.fd, request, arg)
        except OSError as exc:
            if exc.errno == errno.ENOMEDIUM:
                raise SourceGone("no_medium", self.path) from None
            if exc.errno in REFUSED:
                raise MmcError(f"{self.path} is not an optical drive: the kernel refused "
                               f"SG_IO and the CD-ROM ioctls ({exc.strerror})",
                               command=name, errno_=exc.errno) from None
            raise MmcError(f"{self.path}: {name}: {exc.strerror}", command=name,
                           errno_=exc.errno) from None

    def _read_disc_ioctl(self) -> Disc:
        """Without SG_IO: the kernel's TOC (format 0) and its last-session start."""
        status = self._ioctl(CDROM_DRIVE_STATUS, 0, "CDROM_DRIVE_STATUS")
        if status in (CDS_NO_DISC, CDS_TRAY_OPEN):
            raise SourceGone("no_medium", self.path)
        head = self._ioctl(CDROMREADTOCHDR, bytes(2), "CDROMREADTOCHDR")
        assert isinstance(head, bytes)
        first, last = head[0], head[1]
        toc = []
        for number in [*range(first, last + 1), LEADOUT]:
            got = self._ioctl(CDROMREADTOCENTRY,
                              TOCENTRY.pack(number, 0, CDROM_LBA, 0, 0), "CDROMREADTOCENTRY")
            assert isinstance(got, bytes)
            _, adr_ctl, _, lba, _ = TOCENTRY.unpack(got)
            # the bit-fields cdte_adr:4, cdte_ctrl:4 lie low nibble first
            toc.append(TocEntry(number, adr_ctl >> 4, adr_ctl & 0x0F, lba))
        ms = self._ioctl(CDROMMULTISESSION, MULTISESSION.pack(0, 0, CDROM_LBA),
                         "CDROMMULTISESSION")
        assert isinstance(ms, bytes)
        start, _, _ = MULTISESSION.unpack(ms)
        later = [e.number for e in toc if e.number != LEADOUT and e.lba == start]
        last_session = (later[0], start) if later and start > 0 else None
        return disc_from(toc, last_session=last_session)
