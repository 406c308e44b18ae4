"""Reading a bag back from tape: in tape order, hashed as it is read, checked against the
bag's own manifests, into a partial folder renamed only when everything matched.

A folder copy's files are read in the order they lie on the tape: LTFS exposes a file's
first block as the extended attribute `ltfs.startblock` (`user.ltfs.startblock` on
Linux); without it (a folder standing in for a tape) the order they were written, which
is the sorted order stage.py writes them in. A tar copy is one stream already.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from workbench.atomic import fsync_dir
from workbench.package.bags import check_bag, decode_path
from workbench.tape.held import is_dead
from workbench.tape.readback import BLOCK, copy_path, drop_cache
from workbench.tape.tapes import Tape

START_BLOCK = ("user.ltfs.startblock", "ltfs.startblock")


def start_block(path: Path) -> int | None:
    """Where a file starts on an LTFS tape (None when the mount does not say)."""
    for name in START_BLOCK:
        try:
            return int(os.getxattr(path, name).decode("ascii").strip())
        except (OSError, ValueError, AttributeError):
            continue
    return None


def tape_order(copy: Path) -> list[Path]:
    """A folder copy's files in the order the tape holds them."""
    files = sorted(p for p in copy.rglob("*") if p.is_file())
    blocks = {p: start_block(p) for p in files}
    if all(b is not None for b in blocks.values()):
        return sorted(files, key=lambda p: (blocks[p] or 0, str(p)))
    return files


def _manifests(texts: dict[str, str]) -> dict[str, dict[str, str]]:
    """Algorithm -> {path: digest} of every manifest and tag manifest text."""
    out: dict[str, dict[str, str]] = {}
    for name, text in texts.items():
        algorithm = name.rsplit("-", 1)[1][:-4]
        for line in text.splitlines():
            if line.strip():
                digest, _, rel = line.partition(" ")
                out.setdefault(algorithm, {})[decode_path(rel.lstrip(" *"))] = digest.lower()
    return out


def _is_manifest(rel: str) -> bool:
    return "/" not in rel and rel.startswith(("manifest-", "tagmanifest-")) \
        and rel.endswith(".txt")


class _Reader:
    """Copies files from the tape, hashing each with every algorithm the bag uses."""

    def __init__(self, algorithms: set[str], total: int,
                 progress: Callable[[int, int], None], cancel: threading.Event) -> None:
        self.algorithms = sorted(a for a in algorithms if a in hashlib.algorithms_available)
        self.total, self.progress, self.cancel = total, progress, cancel
        self.done = 0
        self.seen: dict[str, dict[str, str]] = {}
        self.texts: dict[str, str] = {}

    def copy(self, rel: str, src: IO[bytes], target: Path) -> None:
        hashes = {a: hashlib.new(a) for a in self.algorithms}
        keep = _is_manifest(rel)
        kept = bytearray()
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            while block := src.read(BLOCK):
                if self.cancel.is_set():
                    raise KeyboardInterrupt
                out.write(block)
                for h in hashes.values():
                    h.update(block)
                if keep:
                    kept += block
                self.done += len(block)
                self.progress(self.done, self.total)
            out.flush()
            os.fsync(out.fileno())
        self.seen[rel] = {a: h.hexdigest() for a, h in hashes.items()}
        if keep:
            self.texts[rel] = kept.decode("utf-8", "replace")


def _algorithms_on_tape(names: list[str]) -> set[str]:
    return {n.rsplit("-", 1)[1][:-4] for n in names if _is_manifest(n)} or {"sha256"}


def read_bag(tape: Tape, bag_name: str, layout: str, size: int, target: Path,
             progress: Callable[[int, int], None] | None = None,
             cancel: threading.Event | None = None) -> list[str]:
    """Copy one bag from a tape to target (a folder that must not exist) and check it.
    Returns the problems found (empty: the bag at target is whole and valid). Nothing is
    left at target when a problem is found; a crash leaves only `.NAME.partial`, which
    the next try removes."""
    cancel = cancel or threading.Event()
    tick = progress or (lambda done, total: None)
    source = copy_path(tape, bag_name, layout)
    partial = target.with_name(f".{target.name}.partial")
    if partial.exists():
        shutil.rmtree(partial)
    if not source.exists():
        return [f"{source} is missing from the tape"]
    partial.mkdir(parents=True)
    try:
        if layout == "folder":
            order = tape_order(source)
            rels = [str(p.relative_to(source)) for p in order]
            reader = _Reader(_algorithms_on_tape(rels), size, tick, cancel)
            for path, rel in zip(order, rels, strict=True):
                drop_cache(path)
                with open(path, "rb") as fh:
                    reader.copy(rel, fh, partial / rel)
        else:
            drop_cache(source)
            reader = _Reader({"md5", "sha1", "sha256", "sha512"}, size, tick, cancel)
            problems = _read_tar(source, bag_name, partial, reader)
            if problems:
                shutil.rmtree(partial, ignore_errors=True)
                return problems
        problems = _compare(reader, bag_name) + check_bag(partial, fast=True)
        if problems:
            shutil.rmtree(partial, ignore_errors=True)
            return problems
        for folder in {partial, *(p.parent for p in partial.rglob("*"))}:
            fsync_dir(folder)
        os.rename(partial, target)
        fsync_dir(target.parent)
        return []
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _read_tar(source: Path, bag_name: str, partial: Path, reader: _Reader) -> list[str]:
    problems: list[str] = []
    try:
        with tarfile.open(source, mode="r|") as tar:
            for member in tar:
                top, _, rel = member.name.partition("/")
                if member.isdir():
                    continue
                if top != bag_name or not member.isfile() or not rel or \
                        rel.startswith("/") or ".." in rel.split("/"):
                    problems.append(f"{source.name}: unexpected member {member.name!r}")
                    continue
                content = tar.extractfile(member)
                if content is not None:
                    reader.copy(rel, content, partial / rel)
    except (tarfile.TarError, OSError) as exc:
        if is_dead(exc):  # the LTFS process ended: the copy is not at fault
            raise
        problems.append(f"{source.name}: cannot be read back: {exc}")
    return problems


def _compare(reader: _Reader, bag_name: str) -> list[str]:
    """Every file read against every manifest that lists it; a payload or tag file no
    manifest lists (besides the tag manifests) is a problem too."""
    problems: list[str] = []
    listed = _manifests(reader.texts)
    if not listed:
        return [f"{bag_name}: no manifest on the tape"]
    for algorithm, entries in sorted(listed.items()):
        for rel, want in sorted(entries.items()):
            got = reader.seen.get(rel, {}).get(algorithm)
            if got is None:
                problems.append(f"{bag_name}/{rel}: listed in the manifests, not on the tape")
            elif got != want:
                problems.append(f"{bag_name}/{rel}: does not match the bag's "
                                f"{algorithm} manifest")
    named = {rel for entries in listed.values() for rel in entries}
    for rel in sorted(set(reader.seen) - named):
        if not rel.startswith("tagmanifest-"):
            problems.append(f"{bag_name}/{rel}: on the tape but in no manifest")
    return problems
