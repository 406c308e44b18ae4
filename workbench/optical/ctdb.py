"""Asking the CUETools DB (CTDB) about a disc's audio: the lookup by TOC and the match of
the disc's CTDB CRC (accuraterip.checksum_disc) against the entries it returns.

CTDB files a disc under its TOC: each track's start (LBA of INDEX 01; a data track's
with a "-" before it) and the lead-out, joined by ":". Each entry of the answer is one
rip, with how many submissions agree (confidence) and the CRC-32 of the whole disc's
audio less its first and last ten sectors (crc32); a pressing may have several entries.
"""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from workbench.optical import accuraterip
from workbench.optical.accuraterip import LookupFailed, Verdict
from workbench.optical.toc import Disc

CTDB_URL = "http://db.cuetools.net/lookup2.php"
Fetch = Callable[[str], bytes | None]


@dataclass(frozen=True)
class CtdbEntry:
    id: str
    confidence: int
    crc32: int
    track_crcs: tuple[int, ...]


@dataclass(frozen=True)
class CtdbVerdict:
    verdict: str  # a Verdict value
    confidence: int = 0  # of the entry whose CRC is the disc's
    total: int = 0  # of every entry for this TOC

    def __str__(self) -> str:
        if self.verdict == Verdict.ACCURATE:
            return f"accurate (confidence {self.confidence} of {self.total})"
        return "not in database" if self.verdict == Verdict.NOT_IN_DATABASE else "mismatch"


def toc_param(disc: Disc) -> str:
    """The TOC as CTDB files it: track starts (data tracks marked "-"), the lead-out."""
    tracks = sorted(disc.tracks, key=lambda t: t.start)
    starts = [f"{'' if t.audio else '-'}{t.start}" for t in tracks]
    return ":".join([*starts, str(disc.leadout)])


def lookup_url(disc: Disc) -> str:
    query = urllib.parse.urlencode({"version": 3, "ctdb": 1, "fuzzy": 1,
                                    "toc": toc_param(disc)}, safe=":-")
    return f"{CTDB_URL}?{query}"


def parse(answer: bytes) -> list[CtdbEntry]:
    """The entries of a lookup2.php answer (XML); ValueError when it is not one."""
    try:
        root = ET.fromstring(answer)
    except ET.ParseError as exc:
        raise ValueError(f"not an XML answer: {exc}") from exc
    if root.tag.rsplit("}", 1)[-1] != "ctdb":
        raise ValueError(f"not a CTDB answer: <{root.tag}>")
    entries = []
    for node in root:
        if node.tag.rsplit("}", 1)[-1] != "entry":
            continue  # metadata and the like
        try:
            entries.append(CtdbEntry(
                node.get("id", ""), int(node.get("confidence", "0")),
                int(node.get("crc32", ""), 16),
                tuple(int(c, 16) for c in node.get("trackcrcs", "").split())))
        except ValueError:
            continue  # an entry without its CRC says nothing
    return entries


def match(crc: int, entries: list[CtdbEntry]) -> CtdbVerdict:
    total = sum(e.confidence for e in entries)
    same = sum(e.confidence for e in entries if e.crc32 == crc)
    if same:
        return CtdbVerdict(Verdict.ACCURATE.value, same, total)
    return CtdbVerdict((Verdict.MISMATCH if entries else Verdict.NOT_IN_DATABASE).value,
                       0, total)


def lookup(disc: Disc, crc: int, fetch: Fetch | None = None,
           timeout: float = 10) -> CtdbVerdict:
    """Ask CTDB about the disc and judge its CRC; LookupFailed when it cannot be asked."""
    url = lookup_url(disc)
    body = fetch(url) if fetch else accuraterip.fetch_url(url, timeout)
    if not body:
        return CtdbVerdict(Verdict.NOT_IN_DATABASE.value)
    try:
        return match(crc, parse(body))
    except ValueError as exc:
        raise LookupFailed("error.ctdb_lookup", url=url, reason=str(exc)) from exc
