"""Reading a copy back from tape and checking it: against what was written and against
the bag's own manifests. Only a copy that was read back and matched counts as verified;
a copy that cannot be read (a damaged tar) is a failed copy; a tape that went away
(unmounted or pulled) records nothing, since that says nothing about the copy."""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from workbench.errors import BadInput
from workbench.imaging.record import utc_now
from workbench.package.bags import check_bag, decode_path, read_manifest
from workbench.tape.catalogue import FAILED, VERIFIED, CopyBook, CopyEntry
from workbench.tape.held import is_dead, tape_gone
from workbench.tape.tapes import Tape, still_mounted

BLOCK = 8 << 20


@dataclass(frozen=True)
class TapeProgress:
    bag: str
    barcode: str
    phase: str  # write | verify
    done: int
    total: int


def bag_files(bag: Path) -> list[Path]:
    return sorted(p for p in bag.rglob("*") if p.is_file())


def drop_cache(path: Path) -> None:
    """Make the next read come from the medium, not from memory."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def check_copy(copy: Path, bag_name: str, layout: str, expected: dict[str, str]) -> list[str]:
    """Read the copy back from the tape and compare with what was written and with the
    bag's own manifests."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    if layout == "folder":
        # completeness and Payload-Oxum (no payload hashing), then one read of every file
        problems += check_bag(copy, fast=True)
        for path in bag_files(copy):
            drop_cache(path)
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                while block := fh.read(BLOCK):
                    digest.update(block)
            seen[str(path.relative_to(copy))] = digest.hexdigest()
        listed: dict[str, str] = {}
        for name in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
            if (copy / name).is_file():
                listed |= read_manifest(copy / name)
        for rel, want in listed.items():
            if rel in seen and seen[rel] != want:
                problems.append(f"{bag_name}/{rel}: does not match the bag's manifest")
    else:
        drop_cache(copy)
        texts: dict[str, str] = {}
        try:
            with tarfile.open(copy, mode="r|") as tar:
                for member in tar:
                    content = tar.extractfile(member)
                    if content is not None:
                        rel = member.name.split("/", 1)[1]
                        data = content.read()
                        seen[rel] = hashlib.sha256(data).hexdigest()
                        if rel.startswith(("manifest-sha256", "tagmanifest-sha256")):
                            texts[rel] = data.decode("utf-8")
        except (tarfile.TarError, OSError) as exc:
            if is_dead(exc):  # the LTFS process ended: not the copy's fault
                raise
            return [f"{copy.name}: cannot be read back: {exc}"]
        for text in texts.values():  # the bag's own manifests, inside the tar
            for line in text.splitlines():
                want, _, rel = line.partition("  ")
                if seen.get(decode_path(rel)) != want:
                    problems.append(f"{bag_name}/{rel}: does not match the bag's manifest")
    for rel, want in expected.items():
        if seen.get(rel) != want:
            problems.append(f"{bag_name}/{rel}: read back differs from what was written")
    for rel in sorted(set(seen) - set(expected)):
        if not rel.startswith("tagmanifest-"):  # tag manifests are listed in no manifest
            problems.append(f"{bag_name}/{rel}: on tape but not in the bag")
    return problems


def bag_size_on_tape(copy: Path) -> int:
    """Bytes of a folder copy on tape (the size the plan counted), -1 when it is not
    there."""
    if copy.is_dir():
        return sum(p.stat().st_size for p in copy.rglob("*") if p.is_file())
    return -1


def copy_path(tape: Tape, bag_name: str, layout: str) -> Path:
    return tape.mount / (bag_name if layout == "folder" else f"{bag_name}.tar")


def damaged_in_staging(bag: Path, written: dict[str, str]) -> list[str]:
    """Files whose bytes, as read from the staging bag while writing, differ from the
    bag's manifests: the source is damaged, and writing it to more tapes helps nobody."""
    listed = manifest_digests(bag, "folder")
    return sorted(rel for rel, digest in written.items()
                  if rel in listed and listed[rel] != digest)


def verify_copy(bag_name: str, tape: Tape, catalogue: CopyBook,
                expected: dict[str, str] | None = None,
                progress: Callable[[TapeProgress], None] | None = None) -> CopyEntry:
    """Read a copy back and record verified or failed. Without expected digests (a later
    re-check), the bag's own manifests on the tape are the reference."""
    previous = catalogue.current().get((bag_name, tape.barcode))
    if previous is None:
        raise BadInput("error.no_copy", bag=bag_name, barcode=tape.barcode)
    copy = copy_path(tape, bag_name, previous.layout)
    if progress:
        progress(TapeProgress(bag_name, tape.barcode, "verify", 0, previous.bytes))
    try:
        if not copy.exists():
            problems = [f"{copy} is missing from the tape"]
        else:
            if expected is None:  # a later re-check: the bag's manifests on the tape
                expected = manifest_digests(copy, previous.layout)
            problems = check_copy(copy, bag_name, previous.layout, expected)
    except (tarfile.TarError, OSError, KeyError, UnicodeDecodeError) as exc:
        if is_dead(exc):  # the LTFS process ended mid-read: record nothing
            raise tape_gone(tape, dead=True) from exc
        problems = [f"{copy.name}: cannot be read back: {exc}"]  # damage: a failed copy
    if problems and not still_mounted(tape):  # the tape went, not the copy: record nothing
        raise tape_gone(tape)
    entry = replace(previous, result=FAILED if problems else VERIFIED, verified=utc_now(),
                    detail="; ".join(problems[:5]))
    catalogue.add(entry)
    return entry


def manifest_digests(copy: Path, layout: str) -> dict[str, str]:
    if layout == "folder":
        return read_manifest(copy / "manifest-sha256.txt") | read_manifest(
            copy / "tagmanifest-sha256.txt")
    with tarfile.open(copy, mode="r:") as tar:
        out: dict[str, str] = {}
        for name in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
            fh = tar.extractfile(f"{copy.stem}/{name}")
            for line in (fh.read().decode("utf-8") if fh else "").splitlines():
                digest, _, rel = line.partition("  ")
                out[rel] = digest
        return out
