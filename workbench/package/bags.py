"""BagIt 1.0 (RFC 8493): write bags from known digests, read and validate them.

A bag is built under a temporary name (".NAME.partial") and renamed into place only
after it validates, so a crash never leaves a half bag that looks complete. Payload
files already on the bag's file system are hard-linked (no bytes copied; the packaging
step then removes the staging name, so the bag alone holds the file); across file
systems, and for files marked link=False, they are copied with inline hashing that must
match the known digests.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.atomic import fsync_dir
from workbench.errors import Aborted, BadInput
from workbench.package.bagtext import Problem, describe
from workbench.package.rfc8493 import check

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
COPY_CHUNK = 8 << 20
ALGORITHM_NAMES = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha512": "sha512"}


def encode_path(path: str) -> str:
    """Only CR, LF and % are percent-encoded in manifest paths (RFC 8493 2.1.3)."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_path(path: str) -> str:
    out, i = [], 0
    while i < len(path):
        if path[i] == "%" and path[i + 1:i + 3].upper() in ("25", "0D", "0A"):
            out.append({"25": "%", "0D": "\r", "0A": "\n"}[path[i + 1:i + 3].upper()])
            i += 3
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def check_names(names: list[str]) -> None:
    """Refuse paths a bag must not hold: absolute, '..', '~', and names equal after NFC
    normalisation (they would collide on some file systems)."""
    seen: dict[str, str] = {}
    for name in names:
        parts = name.split("/")
        if name.startswith("/") or ".." in parts or name.startswith("~") or "" in parts:
            raise BadInput("error.bag_bad_name", name=repr(name))
        key = unicodedata.normalize("NFC", name)
        if key in seen:
            raise BadInput("error.bag_nfc_clash", first=repr(seen[key]), second=repr(name))
        seen[key] = name


@dataclass
class PayloadFile:
    source: Path
    name: str  # relative to data/
    digests: dict[str, str] = field(default_factory=dict)  # known digests, never re-hashed
    link: bool = True  # False: always a copy (a file staging rewrites, such as the map)


@dataclass
class TagFile:
    name: str  # relative to the bag, e.g. metadata/job.json
    data: bytes


def _hash_file(path: Path, algorithms: tuple[str, ...]) -> dict[str, str]:
    hashes = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as fh:
        while chunk := fh.read(COPY_CHUNK):
            for h in hashes.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashes.items()}


def copy_hashed(source: Path, target: Path, algorithms: tuple[str, ...],
                progress: Callable[[int], None] | None = None) -> dict[str, str]:
    """Copy as one sequential stream in large blocks, hashing what was written."""
    hashes = {a: hashlib.new(a) for a in algorithms}
    try:
        with open(source, "rb") as src, open(target, "wb") as dst:
            while chunk := src.read(COPY_CHUNK):
                dst.write(chunk)
                for h in hashes.values():
                    h.update(chunk)
                if progress:
                    progress(len(chunk))
            dst.flush()
            os.fsync(dst.fileno())
    except OSError as exc:
        if exc.filename is None:  # a write or fsync: name the file it was writing
            exc.filename = str(target)
        raise
    return {a: h.hexdigest() for a, h in hashes.items()}


def _place(item: PayloadFile, target: Path, algorithms: tuple[str, ...]) -> dict[str, str]:
    """Link when on the same file system (digests known), else copy and check."""
    missing = tuple(a for a in algorithms if a not in item.digests)
    try:
        if not item.link:
            raise OSError(errno.EXDEV, "copied on purpose")
        os.link(item.source, target)
        digests = dict(item.digests)
        if missing:
            digests.update(_hash_file(target, missing))
        return {a: digests[a] for a in algorithms}
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
    digests = copy_hashed(item.source, target, tuple(dict.fromkeys((*algorithms,
                                                                    *item.digests))))
    for algorithm, known in item.digests.items():
        if digests[algorithm] != known:
            target.unlink()
            raise BadInput("error.bag_copy_mismatch", file=str(item.source),
                           algorithm=algorithm, known=known, got=digests[algorithm])
    return {a: digests[a] for a in algorithms}


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _manifest(entries: dict[str, str]) -> bytes:
    return "".join(f"{digest}  {encode_path(name)}\n"
                   for name, digest in sorted(entries.items())).encode("utf-8")


def render_info(info: list[tuple[str, str]]) -> bytes:
    lines = []
    for label, value in info:
        value = " ".join(str(value).split())  # one line per field; order kept
        lines.append(f"{label}: {value}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _stop_if(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Aborted("error.cancelled")


def write_bag(target: Path, payload: list[PayloadFile], tags: list[TagFile],
              info: list[tuple[str, str]], algorithms: tuple[str, ...],
              validate: Callable[[Path], list[str]],
              cancel: threading.Event | None = None) -> Path:
    """Build the bag at target (atomically). info must not hold Payload-Oxum: it is
    computed here. validate(partial_bag) returns problems; any problem aborts. A cancel
    stops between payload files and before the check (Aborted; the partial bag goes)."""
    check_names([p.name for p in payload])  # as given: '/abs', '~x' are refused
    check_names([f"data/{p.name}" for p in payload] + [t.name for t in tags])
    partial = target.with_name(f".{target.name}.partial")
    if partial.exists():  # a crash while bagging: links and copies only, rebuild
        shutil.rmtree(partial)
    (partial / "data").mkdir(parents=True)
    try:
        manifests: dict[str, dict[str, str]] = {a: {} for a in algorithms}
        octets = 0
        for item in payload:
            _stop_if(cancel)
            dest = partial / "data" / item.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            digests = _place(item, dest, algorithms)
            octets += dest.stat().st_size
            for a in algorithms:
                manifests[a][f"data/{item.name}"] = digests[a]
        tag_files: dict[str, bytes] = {"bagit.txt": BAGIT_TXT.encode()}
        oxum = f"{octets}.{len(payload)}"
        tag_files["bag-info.txt"] = render_info([*info, ("Payload-Oxum", oxum)])
        for a in algorithms:
            tag_files[f"manifest-{a}.txt"] = _manifest(manifests[a])
        for tag in tags:
            tag_files[tag.name] = tag.data
        for name, data in tag_files.items():
            _write(partial / name, data)
        for a in algorithms:
            _write(partial / f"tagmanifest-{a}.txt", _manifest(
                {name: hashlib.new(a, data).hexdigest() for name, data in tag_files.items()}))
        for folder in {partial, partial / "data", *(p.parent for p in partial.rglob("*"))}:
            fsync_dir(folder)
        _stop_if(cancel)
        problems = validate(partial)
        if problems:
            raise BadInput("error.bag_invalid", bag=str(partial), problems="; ".join(problems))
        if target.exists():
            raise BadInput("error.bag_exists", bag=str(target))
        os.rename(partial, target)
        fsync_dir(target.parent)
        return target
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


# -- reading and checking --------------------------------------------------------------

def read_info(bag: Path) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    for line in (bag / "bag-info.txt").read_text(encoding="utf-8").splitlines():
        if line[:1] in (" ", "\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + " " + line.strip())
        elif ":" in line:
            label, _, value = line.partition(":")
            fields.append((label.strip(), value.strip()))
    return fields


def read_manifest(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, _, name = line.partition(" ")
            entries[decode_path(name.lstrip(" *"))] = digest.lower()
    return entries


def check_bag(bag: Path, fast: bool = False) -> list[str]:
    """Every error found, as RFC 8493 defines a valid bag (empty list: valid), in words.
    fast checks completeness and Payload-Oxum without re-hashing the payload. The one
    validator of any bag (rfc8493) does it: paths leading out of the bag are refused,
    never read."""
    report = check(bag, fast=fast)
    problems = [describe(p) for p in report.errors]
    if report.to_fetch:
        problems.append(describe(Problem("to_fetch", detail=str(len(report.to_fetch)))))
    return problems
