"""The copy: every file of the source read once, hashed while it is written into the job
folder, then checked against every checksum list that names it.

Per file: verified (every listed digest matches), mismatch (a listed digest differs and
the file read without error), damaged (read errors: zero-filled ranges), unlisted (no
list names it). A name a list gives that the source does not hold is missing. The
outcome is success only when nothing is mismatched, damaged, missing or unreadable;
anything else is partial, each problem named.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.atomic import write_atomic
from workbench.ingest.checksums import (
    MAX_LIST,
    ChecksumList,
    Listed,
    is_list,
    looks_like_list,
    parse,
)
from workbench.ingest.names import NameBook
from workbench.ingest.sources import FolderSource, ImageSource, SourceFile

VERIFIED, MISMATCH, DAMAGED, UNLISTED = "verified", "mismatch", "damaged", "unlisted"
REPORT = "ingest.json"
PREFETCH = 64 << 20  # bytes of coming files the kernel is asked to read ahead
FILES = "files"
SNIFF_MAX = 1 << 20
HINT = re.compile(r"sum|hash|md5|sha|check|digest|fixity", re.IGNORECASE)


@dataclass(frozen=True)
class IngestProgress:
    files: int
    total_files: int
    done: int
    total: int
    path: str


@dataclass
class FileResult:
    path: str  # in the source, as the lists name it
    name: str  # in the bag, under data/
    size: int
    digests: dict[str, str]
    status: str
    expected: list[dict[str, Any]] = field(default_factory=list)  # list, line, algorithm..
    raw: str = ""  # the source name's bytes (hex) when not plain UTF-8
    errors: list[str] = field(default_factory=list)
    bad: list[list[int]] = field(default_factory=list)


@dataclass
class IngestReport:
    item_id: str
    source: dict[str, Any]
    started: str
    ended: str = ""
    files: list[FileResult] = field(default_factory=list)
    lists: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)  # listed, not found
    skipped: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    decision: str = ""  # who accepted mismatches, and when
    virus_scan: dict[str, Any] = field(default_factory=dict)  # ingest/guard.py's scan
    # files read as checksum lists by their contents (checksum lines inside, a name
    # hinting at one) though their name is not a list name: said
    look_like_lists: list[str] = field(default_factory=list)

    def of(self, status: str) -> list[FileResult]:
        return [f for f in self.files if f.status == status]

    @property
    def outcome(self) -> str:
        unreadable = [s for s in self.skipped if s["why"].startswith("unreadable")]
        if self.of(MISMATCH) or self.of(DAMAGED) or self.missing or unreadable or \
                self.unread_lines or self.nothing_verified or self.unverified:
            return "partial"
        return "success"

    @property
    def nothing_verified(self) -> bool:
        """No file was checked against a list (none found, or none names a file): the
        digests are computed, nothing is verified, so the ingest is never plain success."""
        return bool(self.files) and not self.of(VERIFIED) and not self.of(MISMATCH)

    @property
    def unverified(self) -> list[FileResult]:
        """Payload files no list names: digests computed, not verified (a list covering 1
        of 8 files is no more a check of the 7 than no list at all). The lists themselves
        are payload (part of the disc) but nothing lists a list, so they are not counted."""
        lists = {str(lst["path"]) for lst in self.lists}
        return [f for f in self.of(UNLISTED) if f.path not in lists]

    @property
    def unread_lines(self) -> int:
        """Lines of the checksum lists that could not be read: what they say was not
        checked, so the ingest is never plain success."""
        return sum(len(lst.get("ignored_lines", [])) for lst in self.lists)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> str:
        # one file a line, each by the C encoder (indent= takes the pure-Python one:
        # seconds for 20,000 files; dataclasses.asdict is slower still)
        mark = "\0files\0"  # where the files go: a string no value can equal
        data = {**self.__dict__, "files": mark, "outcome": self.outcome}
        head = json.dumps(data, ensure_ascii=False, indent=1)
        files = ",\n  ".join(json.dumps(f.__dict__, ensure_ascii=False) for f in self.files)
        return head.replace(json.dumps(mark), f"[\n  {files}\n ]" if files else "[]",
                            1) + "\n"

    @classmethod
    def load(cls, path: Path) -> IngestReport | None:
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        data.pop("outcome", None)
        data["files"] = [FileResult(**f) for f in data.get("files", [])]
        return cls(**data)


def shown(path: str) -> str:
    """A source path as records hold it (UTF-8): an undecodable byte as \\xNN (the
    exact bytes are kept as hex beside it)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _read_lists(source: FolderSource | ImageSource, files: list[SourceFile],
                extra: tuple[str, ...], sniffed: list[SourceFile]) -> list[ChecksumList]:
    out = []
    for f in files:
        if (is_list(f.path.rpartition("/")[2], extra) and f.size <= MAX_LIST) or \
                any(f is g for g in sniffed):
            data = b"".join(source.blocks(f))
            f.errors, f.bad = [], []  # read again when copied: said then
            out.append(parse(f.path, data, getattr(source, "codepage", "cp932")))
    return out


def look_like_lists(source: FolderSource | ImageSource, files: list[SourceFile],
                    extra: tuple[str, ...]) -> list[SourceFile]:
    """Small files not read as lists whose name hints at one (sum, hash, md5, sha,
    check, digest, fixity) and whose first line is a checksum line."""
    out = []
    for f in files:
        name = f.path.rpartition("/")[2]
        if f.size > SNIFF_MAX or is_list(name, extra) or not HINT.search(name):
            continue
        with contextlib.suppress(OSError):
            head = next(iter(source.blocks(f)), b"")[:4096]
            f.errors, f.bad = [], []
            if looks_like_list(head):
                out.append(f)
    return out


def _index(lists: list[ChecksumList], paths: dict[str, str]) -> tuple[
        dict[str, list[Listed]], list[Listed]]:
    """Listed entries by source path (paths: each name a list may use -> the file's
    path): the exact name, else the only one equal to it ignoring case (ISO 9660 names,
    lists written on Windows). Also what no file is."""
    folded: dict[str, list[str]] = {}
    for name, p in paths.items():
        if p not in folded.setdefault(name.casefold(), []):
            folded[name.casefold()].append(p)
    by_path: dict[str, list[Listed]] = {}
    missing = []
    for lst in lists:
        for e in lst.entries:
            target = next((paths[n] for n in (e.name, *e.alts) if n in paths), None)
            if target is None and len(folded.get(e.name.casefold(), [])) == 1:
                target = folded[e.name.casefold()][0]
            if target is None:
                missing.append(e)
            else:
                by_path.setdefault(target, []).append(e)
    return by_path, missing


def copy_files(source: FolderSource | ImageSource, item_id: str, job: Path,
               provenance: dict[str, Any], started: str, extra_lists: tuple[str, ...] = (),
               progress: Callable[[IngestProgress], None] | None = None,
               cancel: threading.Event | None = None,
               files: list[SourceFile] | None = None) -> IngestReport:
    """Copy every file into job/files/, hashing as it is read; compare with the lists.
    files: the source's files when the caller has listed them already."""
    cancel = cancel or threading.Event()
    files = source.files() if files is None else files
    sniffed = look_like_lists(source, files, extra_lists)
    lists = _read_lists(source, files, extra_lists, sniffed)
    known = {a: f.path for f in files for a in f.alts} | {f.path: f.path for f in files}
    listed, missing = _index(lists, known)
    report = IngestReport(item_id, provenance, started, lists=[
        {"path": shown(lst.path), "entries": len(lst.entries), "ignored_lines": lst.ignored,
         "encoding": lst.encoding,
         "outside": [shown(o) for o in lst.outside]} for lst in lists],
        missing=[{**asdict(m), "name": shown(m.name), "list_path": shown(m.list_path)}
                 for m in missing],
        skipped=[{"path": shown(s.path), "why": s.why} for s in source.skipped],
        errors=list(source.errors),
        look_like_lists=[shown(f.path) for f in sniffed])
    names = NameBook()
    target_root = job / FILES
    target_root.mkdir(parents=True, exist_ok=True)
    total = sum(f.size for f in files)
    done = 0
    prefetch = getattr(source, "prefetch", None)
    ahead = 0  # files[: ahead] were announced to the kernel
    pending = 0  # bytes of files[number: ahead], kept as it goes (a sum over the window
    # each file is quadratic: 20,000 small files all fit in the window)
    made: set[Path] = {target_root}
    for number, f in enumerate(files, 1):
        if cancel.is_set():
            raise KeyboardInterrupt
        if number - 1 < ahead:
            pending -= f.size  # being read now: out of the window
        while prefetch is not None and ahead < len(files) and pending < PREFETCH:
            prefetch(files[ahead])
            if ahead >= number:
                pending += files[ahead].size
            ahead += 1
        name = names.name(f.parts, f.escaped)
        expected = listed.get(f.path, [])
        algorithms = sorted({"sha256", *(e.algorithm for e in expected)})
        hashes = {a: hashlib.new(a) for a in algorithms}
        target = target_root / name
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        with open(target, "wb") as out:
            for block in source.blocks(f):
                if cancel.is_set():
                    raise KeyboardInterrupt
                out.write(block)
                for h in hashes.values():
                    h.update(block)
                done += len(block)
                if progress:
                    progress(IngestProgress(number - 1, len(files), done, total, f.path))
        digests = {a: h.hexdigest() for a, h in hashes.items()}
        checks = [{"list": shown(e.list_path), "line": e.line, "algorithm": e.algorithm,
                   "digest": e.digest, "ok": digests[e.algorithm] == e.digest}
                  for e in expected]
        status = DAMAGED if f.bad else MISMATCH if any(not c["ok"] for c in checks) \
            else VERIFIED if checks else UNLISTED
        report.files.append(FileResult(shown(f.path), name, f.size, digests, status, checks, f.raw,
                                       list(f.errors), [list(b) for b in f.bad]))
    sync_folder(target_root)
    return report


def sync_folder(folder: Path) -> None:
    """Every file written under folder on its disk: one syncfs of that file system (not a
    fsync per file: thousands of small files would wait for the disk thousands of
    times). Before it nothing is recorded as copied; a crash before it copies again."""
    import ctypes
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def save(report: IngestReport, job: Path) -> None:
    write_atomic(job / REPORT, report.to_json())
