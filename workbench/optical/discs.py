"""A disc as a Source: a CUE sheet with its BIN/ISO files, or an optical drive whose TOC
was read. read(pos, size) gives the 2,048-byte data sectors of data tracks (pos = LBA x
2048); read_raw(lba, count) gives 2,352-byte raw sectors (audio and Mode 2 tracks).
What is not a data sector (an audio track, a gap between sessions) fails as a read,
exactly as a drive's data read of it would."""

from __future__ import annotations

import bisect
import errno
import os
from pathlib import Path
from typing import Any

from workbench.imaging.sources import DeviceSource, DriveIdentity, ReadError, Source
from workbench.optical.cue import CueSheet, TrackFile, read_cue
from workbench.optical.sector import edc_ok_many, user_data
from workbench.optical.toc import DATA_SECTOR, RAW_SECTOR, Disc, Track


class CueSource(Source):
    """A CUE/BIN disc image read as a disc in a drive, TOC included."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.sheet: CueSheet = read_cue(path)
        self.disc = self.sheet.disc
        self.path = str(path)
        self.sector_size = DATA_SECTOR
        self.size = self.disc.leadout * DATA_SECTOR
        self.identity = DriveIdentity(path=str(path), model="CUE/BIN disc image",
                                      kind="file", transport="image")
        self._fds: dict[Path, int] = {}
        # (first LBA in the file, track): the sectors each file gives, pregap included
        spans = []
        for track in self.disc.tracks:
            tf = self.sheet.files[track.number]
            spans.append((track.start - tf.pregap_in_file, track))
        spans.sort(key=lambda x: x[0])
        self._starts = [s for s, _ in spans]
        self._tracks = [t for _, t in spans]
        self.first_readable = min(self._starts, default=0)

    def _fd(self, path: Path) -> int:
        if path not in self._fds:
            self._fds[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        return self._fds[path]

    def _where(self, lba: int) -> tuple[Track, TrackFile, int] | None:
        """The track holding lba, its file, and how many sectors from lba on it holds."""
        i = bisect.bisect_right(self._starts, lba) - 1
        if i < 0:
            return None
        track = self._tracks[i]
        tf = self.sheet.files[track.number]
        if lba >= track.end - tf.postgap:  # past the file: a POSTGAP, or no track
            return None
        return track, tf, track.end - tf.postgap - lba

    def _generated(self, lba: int) -> bool:
        """Is lba in an audio track's PREGAP or POSTGAP, which the CUE sheet adds and no
        file holds? The disc holds silence there."""
        for track in self.disc.audio_tracks if self.disc else []:
            tf = self.sheet.files[track.number]
            if track.start - track.pregap <= lba < track.start - tf.pregap_in_file or \
                    track.end - tf.postgap <= lba < track.end:
                return True
        return False

    def _file_sectors(self, tf: TrackFile, track: Track, lba: int, count: int) -> bytes:
        at = (tf.offset + lba - track.start) * tf.sector_size
        data = os.pread(self._fd(tf.path), count * tf.sector_size, at)
        if len(data) < count * tf.sector_size:
            raise ReadError(lba * DATA_SECTOR, count * DATA_SECTOR)
        return data

    def read(self, pos: int, size: int) -> bytes:
        self.read_calls += 1
        lba, count = pos // DATA_SECTOR, -(-size // DATA_SECTOR)
        out: list[bytes] = []
        while count > 0:
            where = self._where(lba)
            if where is None or where[0].audio:
                break
            track, tf, run = where
            n = min(count, run)
            data = self._file_sectors(tf, track, lba, n)
            if tf.sector_size == DATA_SECTOR:
                out.append(data)
            else:  # raw sectors: what a drive checks (EDC) before it gives their data
                good = 0
                for k, sound in enumerate(edc_ok_many(data)):
                    user = user_data(data[k * RAW_SECTOR:(k + 1) * RAW_SECTOR]) \
                        if sound else None
                    if user is None:
                        break
                    out.append(user)
                    good += 1
                if good < n:
                    lba += good
                    break
            lba, count = lba + n, count - n
        got = b"".join(out)
        if not got:
            raise ReadError(pos, size, errno.EIO)
        self.bytes_read += len(got)
        return got[:size]

    def read_raw(self, lba: int, count: int) -> bytes:
        self.read_calls += 1
        out: list[bytes] = []
        while count > 0:
            where = self._where(lba)
            if where is None and self._generated(lba):
                out.append(bytes(RAW_SECTOR))  # a PREGAP the CUE sheet leaves out: silence
                lba, count = lba + 1, count - 1
                continue
            if where is None or where[1].sector_size != RAW_SECTOR:
                raise ReadError(lba * DATA_SECTOR, count * DATA_SECTOR)
            track, tf, run = where
            n = min(count, run)
            out.append(self._file_sectors(tf, track, lba, n))
            lba, count = lba + n, count - n
        data = b"".join(out)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def attach_drive_toc(source: DeviceSource) -> None:
    """Read an optical drive's TOC and disc type (SCSI MMC through SG_IO, or the
    kernel's CDROM ioctls) and let the source read raw sectors. A drive that tells no
    TOC leaves the source a flat 2,048-byte device, read as before."""
    from workbench.optical.drive import DriveReader
    from workbench.optical.mmc import MmcError
    try:
        reader = DriveReader(source.path)
    except (OSError, MmcError):
        return
    try:
        disc = reader.read_disc()
    except (OSError, MmcError):
        reader.close()
        return
    source.disc = disc
    source.raw_reader = lambda lba, count: reader.read_cd(lba, count)[0]
    source.control = DriveControl(reader, disc)
    if disc.audio_tracks and _gives_c2(reader, disc.audio_tracks[0].start):
        source.raw_c2_reader = lambda lba, count: reader.read_cd(lba, count, c2=True)
    source.on_close.append(reader.close)


def _gives_c2(reader: Any, lba: int) -> bool:
    """Does the drive return C2 error pointers? One raw read asking for them says
    (a drive that cannot refuses the command's C2 field)."""
    from workbench.optical.mmc import MmcError
    try:
        _, c2 = reader.read_cd(lba, 1, c2=True)
    except MmcError:
        return False
    return c2 is not None


# read speeds to step down to after errors, in kB/s (1x: CD 176, DVD 1,385, BD 4,495)
CD_STEPS = ((8, 1411), (4, 706), (1, 176))
DVD_STEPS = ((4, 5540), (2, 2770), (1, 1385))
BD_STEPS = ((2, 8990), (1, 4495))


class DriveControl:
    """Speed and tray of an optical drive, through its MMC reader."""

    def __init__(self, reader: Any, disc: Disc) -> None:
        self.reader = reader
        kind = disc.disc_type[:2]
        self.steps = list(BD_STEPS if kind == "BD" else DVD_STEPS if kind == "DV" else CD_STEPS)

    def slow_down(self) -> str:
        from workbench.optical.mmc import MmcError
        while self.steps:
            times, kb = self.steps.pop(0)
            try:
                self.reader.set_speed(kb)
            except MmcError:
                continue  # a drive that refuses one speed may take the next
            return f"{times}x ({kb:,} kB/s)"
        return ""

    def eject(self) -> bool:
        from workbench.optical.mmc import MmcError
        try:
            self.reader.eject()
        except MmcError:
            return False
        return True
