"""The format report: one record per file and per volume, a summary, and one writer per
output format (CSV for spreadsheets, JSON for machines)."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

SCHEMA = "workbench-formats"
SCHEMA_VERSION = 1


@dataclass(slots=True)  # one per file, 100,000s per volume: no per-record __dict__
class FileRecord:
    id: int
    volume: int
    path: str
    size: int
    modified: str | None = None
    created: str | None = None
    accessed: str | None = None
    allocated: bool = True
    sha256: str = ""
    md5: str = ""
    puid: str = ""
    format_name: str = ""
    format_version: str = ""
    mime: str = ""
    basis: str = "none"
    other_puids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    damaged: bool | None = False  # None: unknown (data location not known)
    bytes_lost: int = 0
    name_raw_hex: str | None = None
    errors: list[str] = field(default_factory=list)
    link: str | None = None  # a symbolic link's target
    container: int | None = None  # an archive member: the id of its archive's record
    virus: str = ""  # the virus scan: the signature found, "not scanned", "" when clean


@dataclass
class VolumeRecord:
    index: int
    offset: int
    size: int
    scheme: str
    partition_type: str
    fs_type: str
    label: str = ""  # the file system's label, as blkid reports LABEL
    files: int = 0
    directories: int = 0
    complete: bool = True
    errors: list[str] = field(default_factory=list)
    partition_label: str = ""  # the partition's name (GPT, APM, PC-98): blkid's PARTLABEL
    blkid_type: str = ""  # the TYPE blkid reports (vfat, ext4, iso9660, ...)
    sessions: list[int] = field(default_factory=list)  # an ISO's session start LBAs


@dataclass
class FormatReport:
    image: str
    image_size: int
    workbench_version: str
    signatures: str = ""  # the PRONOM signature and container signature versions used
    fido_version: str = ""
    map: str | None = None
    image_format: dict[str, str] = field(default_factory=dict)
    started: str = ""
    ended: str = ""
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION
    volumes: list[VolumeRecord] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # False when a listing stopped short (time limit, a reader that failed part-way, a
    # volume not reached): the report then lists only part of the image's files
    complete: bool = True
    # emulation readiness: platform, boot records, executables, emulators (emulation.py)
    environment: dict[str, Any] = field(default_factory=dict)
    # the virus check (workbench/scan/virus.py): scanner, signatures, infected files, or
    # "not_scanned" and why; empty in reports made before it
    virus_scan: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        files = self.files
        by_sha: dict[str, list[str]] = defaultdict(list)
        for f in files:
            if f.sha256 and f.size:
                by_sha[f.sha256].append(f.path)
        dates = sorted(f.modified for f in files if f.modified)
        return {
            "files": len(files),
            "bytes": sum(f.size for f in files),
            "volumes": len(self.volumes),
            "by_puid": dict(Counter(f.puid or "UNKNOWN" for f in files).most_common()),
            "by_format": dict(Counter(f.format_name or "Unidentified" for f in files)
                              .most_common()),
            "by_mime": dict(Counter(f.mime or "unknown" for f in files).most_common()),
            "by_basis": dict(Counter(f.basis for f in files).most_common()),
            "unidentified": [f.path for f in files if not f.puid and f.link is None],
            "links": [f.path for f in files if f.link is not None],
            "extension_only": [f.path for f in files if f.basis == "extension"],
            "multiple_ids": [f.path for f in files if "multiple_ids" in f.warnings],
            "extension_mismatch": [f.path for f in files if "extension_mismatch" in f.warnings],
            "duplicates": {sha: paths for sha, paths in by_sha.items() if len(paths) > 1},
            "zero_byte": [f.path for f in files if f.size == 0],
            "deleted": [f.path for f in files if not f.allocated],
            "date_range": [dates[0], dates[-1]] if dates else [],
            "damaged": [{"path": f.path, "bytes_lost": f.bytes_lost} for f in files
                        if f.damaged],
            "damage_unknown": [f.path for f in files if f.damaged is None],
            "incomplete_volumes": [v.index for v in self.volumes if not v.complete],
            "infected": [{"path": f.path, "signature": f.virus} for f in files
                         if f.virus and f.virus != "not scanned"],
            "errors": len(self.errors) + sum(len(v.errors) for v in self.volumes)
            + sum(1 for f in files if f.errors),
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["summary"] = self.summary()
        return data


# Characters that change how a name looks without showing themselves: bidi controls
# (a name that reads "txt.exe" backwards), zero-width characters, line and paragraph
# separators. Flagged in the report and shown escaped (\\u202e) in CSV, Markdown and lists.
INVISIBLE = frozenset(
    "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2028\u2029"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff\u180e")
INVISIBLE_WARNING = "invisible_characters"
# A cell a spreadsheet would run as a formula (OWASP CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def has_invisible(text: str) -> bool:
    return any(ch in INVISIBLE for ch in text)


def escape_invisible(text: str) -> str:
    """Bidi, zero-width and separator characters as visible \\uXXXX escapes."""
    if not has_invisible(text):
        return text
    return "".join(f"\\u{ord(ch):04x}" if ch in INVISIBLE else ch for ch in text)


def neutralise(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula gets a leading single quote
    (OWASP); invisible characters are escaped. Numbers pass unchanged."""
    if not isinstance(value, str):
        return value
    value = escape_invisible(value)
    return "'" + value if value.startswith(FORMULA_START) else value


def safe_row(cells: list[object]) -> list[object]:
    return [neutralise(c) for c in cells]


CSV_COLUMNS = ["ID", "VOLUME", "PATH", "NAME", "SIZE", "MODIFIED", "CREATED", "ALLOCATED",
               "SHA256", "MD5", "PUID", "FORMAT_NAME", "FORMAT_VERSION", "MIME_TYPE", "BASIS",
               "OTHER_PUIDS", "WARNINGS", "DAMAGED", "BYTES_LOST", "RAW_NAME_HEX", "ERRORS",
               "LINK_TARGET", "CONTAINER", "VIRUS"]


def write_csv(report: FormatReport, out: TextIO, bom: bool = True) -> None:
    """DROID/siegfried-like columns; a BOM so spreadsheets read UTF-8 names right."""
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for f in report.files:
        damaged = "unknown" if f.damaged is None else ("yes" if f.damaged else "no")
        warnings = f.warnings + ([INVISIBLE_WARNING] if has_invisible(f.path)
                                 and INVISIBLE_WARNING not in f.warnings else [])
        writer.writerow(safe_row([f.id, f.volume, f.path, f.path.rsplit("/", 1)[-1], f.size,
                         f.modified or "", f.created or "", "yes" if f.allocated else "no",
                         f.sha256, f.md5, f.puid, f.format_name, f.format_version, f.mime,
                         f.basis, ";".join(f.other_puids), ";".join(warnings), damaged,
                         f.bytes_lost, f.name_raw_hex or "", "; ".join(f.errors),
                         f.link or "", "" if f.container is None else f.container,
                         f.virus]))


def write_json(report: FormatReport, out: TextIO) -> None:
    json.dump(report.to_dict(), out, ensure_ascii=False, indent=2)
    out.write("\n")


WRITERS: dict[str, Callable[[FormatReport, TextIO], None]] = {
    "csv": write_csv, "json": write_json}
