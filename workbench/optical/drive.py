"""Asking an optical drive: SCSI MMC commands through Linux SG_IO (the kernel's CDROM
ioctls as the fallback), their answers parsed by mmc.py.

The drive is opened read-only and only commands that read are sent (and SET CD SPEED,
and the tray's eject): nothing here writes a disc. Why SG_IO and not libcdio or cdrdao:
READ CD with C2 pointers, the full TOC (sessions and their lead-outs, the disc type byte)
and GET CONFIGURATION are one ioctl away, with no C library to build on each station.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from workbench.imaging.sources import SourceGone
from workbench.optical.mmc import (
    C2_BYTES,
    CD_PROFILES,
    LEADOUT,
    MmcError,
    TocEntry,
    disc_from,
    mode_of,
    need,
    parse_current_profile,
    parse_disc_information,
    parse_full_toc,
    parse_session_info,
    parse_toc,
    sector_mode,
)
from workbench.optical.toc import RAW_SECTOR, Disc, Mode


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
        need(head, 2, name)
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
