"""Parse once, decode once: a brought-in capture is read to validate it, to compare it
with the disk already captured, and to decode it with the job's earlier captures (from
its copy in the job folder). Inside `parse_once()` those reads share one parse, and a
track decoded once is not decoded again:

    with parse_once():
        capture_to_bring(...)       # read_capture(path): parsed
        refuse_another_disk(...)    # read_capture(path): the same object, no parse
        bring_in(...)               # the file copied into the job
        decode_job(...)             # read_capture(copy): same bytes, no parse; a track
                                    # only this capture holds: decoded once

Files are matched first by (path, size, mtime, inode), then by content (size and
SHA-256: a copy elsewhere is the same capture). Outside the block nothing is kept, so
memory is held only while one imaging runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.flux.model import FluxCapture, TrackDamage, TrackDecode, TrackFlux


@dataclass
class _Cache:
    by_stat: dict[tuple[Any, ...], tuple[tuple[Any, ...], Path]] = field(default_factory=dict)
    by_content: dict[tuple[Any, ...], tuple[FluxCapture, Path]] = field(default_factory=dict)
    decoded: dict[int, tuple[TrackFlux, TrackDecode]] = field(default_factory=dict)
    parses: int = 0  # how many captures were parsed (the tests and the bench read it)
    hits: int = 0
    decodes: int = 0


_CACHE: ContextVar[_Cache | None] = ContextVar("flux_parse_once", default=None)


@contextmanager
def parse_once() -> Iterator[_Cache]:
    """A scope in which captures are parsed once and tracks decoded once. Nests: an
    inner block uses the outer one's cache."""
    outer = _CACHE.get()
    if outer is not None:
        yield outer
        return
    cache = _Cache()
    token = _CACHE.set(cache)
    try:
        yield cache
    finally:
        _CACHE.reset(token)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file())
    return [path]


def _stat_key(path: Path, files: list[Path]) -> tuple[Any, ...]:
    out: list[Any] = [str(path.resolve())]
    for f in files:
        st = f.stat()
        out.append((f.name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev))
    return tuple(out)


def _content_key(path: Path, files: list[Path]) -> tuple[Any, ...]:
    out: list[Any] = [path.is_dir()]
    for f in files:
        h = hashlib.sha256()
        with open(f, "rb") as fh:
            while block := fh.read(1 << 22):
                h.update(block)
        out.append((f.name if path.is_dir() else "", f.stat().st_size, h.digest()))
    return tuple(out)


def cached_read(path: Path, read: Callable[[Path], FluxCapture]) -> FluxCapture:
    """read(path), or the capture already parsed from these bytes in this scope (its
    notes and damage reasons naming this path)."""
    cache = _CACHE.get()
    if cache is None:
        return read(path)
    try:
        files = _files(path)
        stat = _stat_key(path, files)
    except OSError:
        return read(path)  # the reader says what is wrong with it
    known = cache.by_stat.get(stat)
    content = known[0] if known is not None else _content_key(path, files)
    hit = cache.by_content.get(content)
    if hit is None:
        capture = read(path)
        cache.parses += 1
        cache.by_content[content] = (capture, path)
        cache.by_stat[stat] = (content, path)
        return capture
    cache.hits += 1
    cache.by_stat[stat] = (content, path)
    capture, first = hit
    return capture if first == path else _renamed(capture, first, path)


def _renamed(capture: FluxCapture, old: Path, new: Path) -> FluxCapture:
    """The same capture, its words naming the copy it was read from this time."""
    def swap(text: str) -> str:
        return text.replace(str(old), str(new)).replace(old.name, new.name)
    damaged = {k: TrackDamage(d.key, {p: swap(v) for p, v in d.params.items()})
               for k, d in capture.damaged.items()}
    return replace(capture, notes=[swap(n) for n in capture.notes], damaged=damaged)


def cached_decode(track: TrackFlux, decode: Callable[[TrackFlux], TrackDecode]
                  ) -> TrackDecode:
    """decode(track), or its decode already made in this scope (the same track object:
    a track only one capture holds is the same object in a merge)."""
    cache = _CACHE.get()
    if cache is None:
        return decode(track)
    known = cache.decoded.get(id(track))
    if known is not None and known[0] is track:
        return known[1]
    result = decode(track)
    cache.decodes += 1
    cache.decoded[id(track)] = (track, result)  # the track held: its id stays its own
    return result
