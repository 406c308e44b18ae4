"""CUE sheets: read one (with its BIN/ISO files) into a Disc, and write one for a job.

Reads what cdrdao, ImgBurn, redumper and most rippers write: several FILE lines, TRACK
modes AUDIO, MODE1/2048, MODE1/2352 and MODE2/2352, INDEX 00/01, PREGAP and POSTGAP
(not in the file), CATALOG, ISRC, FLAGS, and `REM SESSION nn` for multi-session discs.
Tracks are laid on the disc in order from LBA 0; a new session starts after the gap a
recorder leaves (toc.FIRST_SESSION_GAP, then LATER_SESSION_GAP).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import BadInput
from workbench.optical.toc import (
    DATA_SECTOR,
    FIRST_SESSION_GAP,
    LATER_SESSION_GAP,
    RAW_SECTOR,
    Disc,
    Mode,
    Session,
    Track,
    frames_of,
    msf,
)

# CUE track type -> (mode, bytes per sector in the file)
TRACK_TYPES = {
    "AUDIO": (Mode.AUDIO, RAW_SECTOR),
    "MODE1/2048": (Mode.MODE1, DATA_SECTOR),
    "MODE1/2352": (Mode.MODE1, RAW_SECTOR),
    "MODE2/2352": (Mode.MODE2, RAW_SECTOR),
}


@dataclass(frozen=True)
class TrackFile:
    """Where a track's sectors are in the image files: the file, the bytes per sector
    there, and the file sector at which the track's pregap starts (its start minus
    pregap_in_file sectors)."""

    number: int
    path: Path
    sector_size: int
    offset: int  # file sector of the track's INDEX 01
    pregap_in_file: int  # sectors of INDEX 00 before it, in the file


@dataclass
class CueSheet:
    path: Path
    disc: Disc
    files: dict[int, TrackFile]  # track number -> where its sectors are


def _fail(path: Path, line: int, text: str, allowed: str) -> BadInput:
    return BadInput("error.bad_cue", file=str(path), line=line, text=text[:80],
                    allowed=allowed)


def read_cue(path: Path) -> CueSheet:
    """Parse a CUE sheet and the sizes of its files into a Disc."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadInput("error.file_missing", file=str(path)) from None
    text = raw.decode("utf-8-sig", errors="replace")
    entries: list[dict] = []  # one per TRACK, in order
    file: Path | None = None
    session, catalog = 1, ""
    for n, line in enumerate(text.splitlines(), 1):
        try:
            words = shlex.split(line, posix=True)
        except ValueError:
            raise _fail(path, n, line, "balanced quotes") from None
        if not words:
            continue
        key = words[0].upper()
        if key == "REM":
            if len(words) >= 3 and words[1].upper() == "SESSION" and words[2].isdigit():
                session = int(words[2])
            elif len(words) >= 3 and words[1].upper() == "LEAD-OUT" and entries:
                try:
                    entries[-1]["leadout"] = frames_of(words[2])
                except ValueError:
                    raise _fail(path, n, line, "REM LEAD-OUT mm:ss:ff") from None
            continue
        if key == "FILE":
            if len(words) < 2:
                raise _fail(path, n, line, 'FILE "name" BINARY')
            file = (path.parent / words[1])
            if len(words) > 2 and words[2].upper() not in ("BINARY", "MOTOROLA"):
                raise _fail(path, n, line, "FILE ... BINARY (WAVE and MP3 files are not "
                            "disc images)")
            if len(words) > 2 and words[2].upper() == "MOTOROLA":
                raise _fail(path, n, line, "little-endian BINARY files")
        elif key == "TRACK":
            if file is None or len(words) < 3 or not words[1].isdigit():
                raise _fail(path, n, line, "TRACK nn TYPE after a FILE line")
            kind = words[2].upper()
            if kind not in TRACK_TYPES:
                raise _fail(path, n, line, ", ".join(TRACK_TYPES))
            entries.append({"number": int(words[1]), "type": kind, "file": file,
                            "session": session, "index": {}, "pregap": 0, "postgap": 0,
                            "control": 0, "isrc": "", "line": n})
        elif key in ("INDEX", "PREGAP", "POSTGAP", "FLAGS", "ISRC"):
            if not entries:
                raise _fail(path, n, line, f"{key} after a TRACK line")
            entry = entries[-1]
            try:
                if key == "INDEX":
                    entry["index"][int(words[1])] = frames_of(words[2])
                elif key in ("PREGAP", "POSTGAP"):
                    entry[key.lower()] = frames_of(words[1])
                elif key == "FLAGS":
                    flags = {w.upper() for w in words[1:]}
                    entry["control"] = (2 if "DCP" in flags else 0) | \
                        (1 if "PRE" in flags else 0) | (8 if "4CH" in flags else 0)
                else:
                    entry["isrc"] = words[1] if len(words) > 1 else ""
            except (IndexError, ValueError):
                raise _fail(path, n, line, f"{key} with mm:ss:ff times") from None
        elif key == "CATALOG" and len(words) > 1:
            catalog = words[1]
        # TITLE, PERFORMER, SONGWRITER, CDTEXTFILE: metadata, not layout
    if not entries:
        raise BadInput("error.bad_cue", file=str(path), line=0, text="",
                       allowed="at least one TRACK")
    return _lay_out(path, entries, catalog)


def _lay_out(path: Path, entries: list[dict], catalog: str) -> CueSheet:
    sizes: dict[Path, int] = {}
    for e in entries:
        if e["file"] not in sizes:
            try:
                sizes[e["file"]] = e["file"].stat().st_size
            except FileNotFoundError:
                raise BadInput("error.cue_file_missing", cue=str(path),
                               file=str(e["file"])) from None
        if 1 not in e["index"]:
            raise _fail(path, e["line"], f"TRACK {e['number']:02d}", "an INDEX 01 line")
        sector = TRACK_TYPES[e["type"]][1]
        if any(x["file"] == e["file"] and TRACK_TYPES[x["type"]][1] != sector
               for x in entries):
            raise _fail(path, e["line"], e["type"], "one sector size per FILE")
        if sizes[e["file"]] % sector:
            raise BadInput("error.cue_file_size", file=str(e["file"]),
                           size=f"{sizes[e['file']]:,}", sector=sector)
    tracks: list[Track] = []
    files: dict[int, TrackFile] = {}
    sessions: list[Session] = []
    base: dict[Path, int] = {}  # the disc LBA of each file's first sector
    cursor = 0  # the disc LBA after the previous track and its postgap
    for i, e in enumerate(entries):
        mode, sector = TRACK_TYPES[e["type"]]
        nxt = entries[i + 1] if i + 1 < len(entries) else None
        index1 = e["index"][1]
        index0 = min(e["index"].get(0, index1), index1)
        new_session = bool(tracks) and e["session"] != tracks[-1].session
        if new_session:
            last = tracks[-1]
            sessions.append(Session(last.session, _first_of(tracks, last.session),
                                    last.number, last.end))
        gap = FIRST_SESSION_GAP if len(sessions) == 1 else LATER_SESSION_GAP
        if e["file"] in base:  # tracks of one file lie on the disc as in the file
            start = base[e["file"]] + index1
        elif not tracks:
            # track 1's INDEX 01 is LBA 0, its 2 s pregap before it; a file that holds
            # more before INDEX 01 than those 150 sectors holds a hidden track (HTOA)
            start = max(0, index1 - index0 - 150)
        elif new_session:
            start = cursor + gap
        else:
            start = cursor + e["pregap"] + index1 - index0
        base.setdefault(e["file"], start - index1)
        if e.get("leadout") is not None:
            end_in_file = e["leadout"]  # REM LEAD-OUT: the session ends here
        elif nxt is not None and nxt["file"] == e["file"]:
            end_in_file = min(nxt["index"].get(0, nxt["index"][1]), nxt["index"][1])
            if nxt["session"] != e["session"]:  # the recorder's gap is in the file
                later = FIRST_SESSION_GAP if not sessions else LATER_SESSION_GAP
                end_in_file = nxt["index"][1] - later
        else:
            end_in_file = sizes[e["file"]] // sector
        if end_in_file <= index1:
            raise _fail(path, e["line"], f"TRACK {e['number']:02d}",
                        "INDEX times in order, each track at least one sector")
        # a new session's pregap is the last 150 sectors of the recorder's gap
        # (track 1: the hidden track's sectors before it, as a drive's TOC shows them)
        pregap = 150 if new_session else (e["pregap"] + index1 - index0 if tracks else start)
        tracks.append(Track(number=e["number"], session=e["session"], mode=mode.value,
                            start=start, length=end_in_file - index1, pregap=pregap,
                            control=e["control"] | (0 if mode == Mode.AUDIO else 4),
                            isrc=e["isrc"]))
        files[e["number"]] = TrackFile(e["number"], e["file"], sector, index1,
                                       index1 - index0)
        cursor = start + (end_in_file - index1) + e["postgap"]
    last = tracks[-1]
    sessions.append(Session(last.session, _first_of(tracks, last.session), last.number,
                            last.end))
    disc = Disc(tracks=tracks, sessions=sessions, mcn=catalog, read_from="cue")
    return CueSheet(path, disc, files)


def _first_of(tracks: list[Track], session: int) -> int:
    return min(t.number for t in tracks if t.session == session)


def write_cue(disc: Disc, files: dict[int, tuple[str, int]]) -> str:
    """A CUE sheet for a job's files. files: track number -> (file name, the file
    sector where the track's INDEX 01 is). Read back by read_cue it gives the same
    TOC: a session's end inside a file is written as REM LEAD-OUT."""
    lines = []
    if disc.mcn:
        lines.append(f"CATALOG {disc.mcn}")
    current_file, session = "", 0
    for i, track in enumerate(disc.tracks):
        name, offset = files[track.number]
        if len(disc.sessions) > 1 and track.session != session:
            lines.append(f"REM SESSION {track.session:02d}")
        session = track.session
        if name != current_file:
            lines.append(f'FILE "{name}" BINARY')
            current_file = name
        kind = "AUDIO" if track.audio else \
            ("MODE1/2048" if name.endswith(".iso") else
             "MODE2/2352" if track.mode == Mode.MODE2 else "MODE1/2352")
        lines.append(f"  TRACK {track.number:02d} {kind}")
        flags = [f for bit, f in ((2, "DCP"), (1, "PRE"), (8, "4CH")) if track.control & bit]
        if flags and track.audio:
            lines.append("    FLAGS " + " ".join(flags))
        if track.isrc:
            lines.append(f"    ISRC {track.isrc}")
        in_file = min(offset, track.pregap)
        if track.pregap > in_file and i > 0 and disc.tracks[i - 1].session == track.session:
            lines.append(f"    PREGAP {msf(track.pregap - in_file)}")  # not in the file
        if in_file:
            lines.append(f"    INDEX 00 {msf(offset - in_file)}")
        lines.append(f"    INDEX 01 {msf(offset)}")
        nxt = disc.tracks[i + 1] if i + 1 < len(disc.tracks) else None
        if nxt is not None and files[nxt.number][0] == name and nxt.session != track.session:
            lines.append(f"  REM LEAD-OUT {msf(offset + track.length)}")
    return "\n".join(lines) + "\n"
