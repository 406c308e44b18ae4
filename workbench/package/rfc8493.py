"""Validating any bag as RFC 8493 (BagIt 1.0) and its drafts 0.93 to 0.97 define it.

Valid: complete, and every checksum of every manifest verified. Incomplete: files that
fetch.txt lists are not here yet (never fetched by us). Everything else found is a
typed Problem (an error, or a warning that leaves the bag valid).

Safety (RFC 8493 7.2): a path from a manifest or fetch.txt that leads outside the bag
is refused as text; files are opened only after their real path is inside the bag, and
only regular files are read (a FIFO in a bag would block a naive reader forever).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from workbench.package.bagtext import (
    Declaration,
    ManifestLine,
    Problem,
    parse_fetch,
    parse_info,
    parse_manifest,
    read_declaration,
    read_tag_lines,
)

CHUNK = 4 << 20
# normalised algorithm names (RFC 8493 2.4) -> hashlib
ALGORITHMS = {"md5": "md5", "sha1": "sha1", "sha224": "sha224", "sha256": "sha256",
              "sha384": "sha384", "sha512": "sha512", "sha3224": "sha3_224",
              "sha3256": "sha3_256", "sha3384": "sha3_384", "sha3512": "sha3_512",
              "blake2b": "blake2b", "blake2s": "blake2s"}
SYSTEM_FILES = {".ds_store", "thumbs.db", "desktop.ini", ".spotlight-v100", ".trashes",
                ".fseventsd", "ehthumbs.db"}
_MANIFEST = re.compile(r"(tag)?manifest-([^/]+)\.txt")


@dataclass
class BagReport:
    bag: Path
    version: tuple[int, int] | None = None
    encoding: str | None = None
    info: list[tuple[str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    to_fetch: list[str] = field(default_factory=list)  # listed in fetch.txt, not here
    hashed: bool = False  # payload checksums verified (not a fast check)
    profile: str = ""  # the BagIt profile checked too (its identifier), if any

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.error]

    @property
    def verdict(self) -> str:
        if self.errors:
            return "invalid"
        if self.to_fetch:
            return "incomplete"
        if any(p.code == "second_opinion" for p in self.problems):
            return "disputed"  # valid here, but bagit-python (and the tools on it) refuse it
        return "valid" if self.hashed else "complete"

    def info_values(self, label: str) -> list[str]:
        return [v for k, v in self.info if k.lower() == label.lower()]


def _nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def _inside(root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


class _Payload:
    """The files under data/: regular files, and links to regular files in the bag."""

    def __init__(self, bag: Path, report: BagReport) -> None:
        self.files: dict[str, int] = {}  # "data/..." -> size
        self.by_nfc: dict[str, list[str]] = {}
        root = os.path.realpath(bag)
        data = bag / "data"
        if not data.is_dir() or data.is_symlink():
            report.problems.append(Problem("no_payload_dir", "data/"))
            return

        def walk_error(exc: OSError) -> None:
            report.problems.append(Problem("unreadable", str(exc.filename or "data/"),
                                           exc.strerror or str(exc)))

        for folder, dirs, names in os.walk(data, onerror=walk_error):
            rel_folder = Path(folder).relative_to(bag).as_posix()
            for name in sorted(names + [d for d in dirs if os.path.islink(os.path.join(
                    folder, d))]):
                full = os.path.join(folder, name)
                rel = f"{rel_folder}/{name}"
                try:
                    st = os.lstat(full)
                    if stat.S_ISLNK(st.st_mode):
                        if not _inside(root, full):
                            report.problems.append(Problem("payload_link_outside", rel))
                            continue
                        st = os.stat(full)
                except OSError as exc:
                    report.problems.append(Problem("unreadable", rel, exc.strerror or ""))
                    continue
                if not stat.S_ISREG(st.st_mode):
                    report.problems.append(Problem("payload_not_regular", rel))
                    continue
                self.files[rel] = st.st_size
                self.by_nfc.setdefault(_nfc(rel), []).append(rel)
                if name.lower() in SYSTEM_FILES or name.startswith("._"):
                    report.problems.append(Problem("system_file", rel, error=False))

    def resolve(self, path: str, report: BagReport) -> str | None:
        """The file a manifest path names: exact, else the one file equal to it after
        Unicode normalisation (RFC 8493 6.2.2: tolerate a changed normalisation)."""
        if path in self.files:
            return path
        same = self.by_nfc.get(_nfc(path), [])
        if len(same) == 1:
            report.problems.append(Problem("normalisation_differs", path, same[0],
                                           error=False))
            return same[0]
        return None


def _algorithm(manifest: str) -> str:
    match = _MANIFEST.fullmatch(manifest)
    return match[2] if match else ""


def _hash(path: Path, algorithms: set[str]) -> dict[str, str]:
    hashes = {a: hashlib.new(ALGORITHMS[a]) for a in algorithms}
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            for h in hashes.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashes.items()}


def _entries(bag: Path, name: str, decl: Declaration, report: BagReport
             ) -> list[ManifestLine]:
    assert decl.encoding is not None and decl.version is not None
    lines, problems = read_tag_lines(bag, name, decl.encoding)
    report.problems += problems
    if lines is None:
        return []
    entries, problems = parse_manifest(lines, name, decl.version)
    report.problems += problems
    for entry in entries:
        report.problems += entry.path.problems
    return [e for e in entries if e.path.path is not None]


def _listing(entries: list[ManifestLine], name: str, key: dict[str, str],
             version: tuple[int, int], report: BagReport) -> dict[str, str]:
    """path -> checksum, each file once; key maps a manifest path to the file it names
    (after normalisation), so two spellings of one file are one file listed twice."""
    listed: dict[str, str] = {}
    folded: dict[str, str] = {}
    for entry in entries:
        path = key.get(entry.path.path or "", entry.path.path or "")
        if path in listed:
            if listed[path] != entry.checksum:
                report.problems.append(Problem("listed_twice_conflict", path, name))
            else:  # RFC 8493: "exactly once"; 0.97 did not say
                report.problems.append(Problem("listed_twice", path, name,
                                               error=version >= (1, 0)))
            continue
        listed[path] = entry.checksum
        fold = _nfc(path).casefold()
        if fold in folded and folded[fold] != path:
            report.problems.append(Problem("names_differ_in_case", path, folded[fold],
                                           error=False))
        folded.setdefault(fold, path)
    return listed


def _check_payload(bag: Path, decl: Declaration, report: BagReport, payload: _Payload,
                   fetch: set[str], fast: bool, names: list[str]) -> dict[str, dict[str, str]]:
    assert decl.version is not None
    manifests: dict[str, dict[str, str]] = {}
    missing: dict[str, str] = {}
    for name in names:
        algorithm = _algorithm(name)
        entries = []
        for entry in _entries(bag, name, decl, report):
            path = entry.path.path or ""
            if not path.startswith("data/"):  # refused: never looked for, never read
                report.problems.append(Problem("manifest_outside_payload", path, name))
            else:
                entries.append(entry)
        key = {}
        for entry in entries:
            path = entry.path.path or ""
            found = payload.resolve(path, report)
            raw = entry.path.raw
            if found is None and raw != path and raw in payload.files:
                # a 1.0 bag from a tool that does not percent-encode (bagit-python's
                # issue 157): the name as written is there, the decoded one is not
                report.problems.append(Problem("path_not_encoded", raw, name, error=False))
                found = raw
            key[path] = found or path
            if found is None and path not in missing:
                missing[path] = name
        manifests[algorithm] = _listing(entries, name, key, decl.version, report)
        if algorithm not in ALGORITHMS:
            report.problems.append(Problem("algorithm_unsupported", name, algorithm))
    for path, name in missing.items():
        if path in fetch or _nfc(path) in fetch:
            report.to_fetch.append(path)
        else:
            report.problems.append(Problem("missing", path, name))
    if decl.version >= (1, 0):  # every payload file in every payload manifest
        for name, listed in zip(names, manifests.values(), strict=True):
            report.problems += [Problem("not_in_manifest", f, name)
                                for f in payload.files if f not in listed]
    else:  # 0.97: in at least one
        everywhere = set().union(*manifests.values()) if manifests else set()
        report.problems += [Problem("not_in_manifest", f, ", ".join(names))
                            for f in payload.files if f not in everywhere]
    if not fast:
        for path in payload.files:
            want = {a: m[path] for a, m in manifests.items() if path in m and a in ALGORITHMS}
            if want:
                _verify(bag, path, want, report)
        report.hashed = True
    return manifests


def _verify(bag: Path, path: str, want: dict[str, str], report: BagReport) -> None:
    try:
        got = _hash(bag / path, set(want))
    except OSError as exc:
        report.problems.append(Problem("unreadable", path, exc.strerror or str(exc)))
        return
    for algorithm, digest in sorted(want.items()):
        if got[algorithm] != digest:
            report.problems.append(Problem("checksum_mismatch", path, algorithm))


def _check_tags(bag: Path, decl: Declaration, report: BagReport, names: list[str],
                payload_manifests: list[str]) -> None:
    assert decl.version is not None
    root = os.path.realpath(bag)
    for name in names:
        algorithm = _algorithm(name)
        entries = []
        for entry in _entries(bag, name, decl, report):
            path = entry.path.path or ""
            if path.startswith("data/"):
                report.problems.append(Problem("tagmanifest_lists_payload", path, name))
            elif _MANIFEST.fullmatch(path) and path.startswith("tag"):
                report.problems.append(Problem("tagmanifest_lists_tagmanifest", path, name,
                                               error=False))
                entries.append(entry)
            else:
                entries.append(entry)
        listed = _listing(entries, name, {}, decl.version, report)
        if decl.version >= (1, 0):
            absent = [m for m in payload_manifests if m not in listed]
            if absent:
                report.problems.append(Problem("tagmanifest_incomplete", name,
                                               ", ".join(absent), error=False))
        if algorithm not in ALGORITHMS:
            report.problems.append(Problem("algorithm_unsupported", name, algorithm))
        for path, digest in listed.items():
            full = bag / path
            if not _inside(root, str(full)):  # through a link: refused, not read
                report.problems.append(Problem("path_outside", f"{name}: {path}"))
            elif not os.path.lexists(full):
                report.problems.append(Problem("missing", path, name))
            elif not full.is_file():
                report.problems.append(Problem("payload_not_regular", path))
            elif algorithm in ALGORITHMS:
                _verify(bag, path, {algorithm: digest}, report)


def _check_fetch(bag: Path, decl: Declaration, report: BagReport) -> set[str]:
    assert decl.encoding is not None and decl.version is not None
    if not (bag / "fetch.txt").is_file():
        return set()
    lines, problems = read_tag_lines(bag, "fetch.txt", decl.encoding)
    report.problems += problems
    entries, problems = parse_fetch(lines or [], decl.version)
    report.problems += problems
    paths: set[str] = set()
    for entry in entries:
        report.problems += entry.path.problems
        path = entry.path.path
        if path is None:
            continue
        if not path.startswith("data/"):
            report.problems.append(Problem("fetch_outside_payload", path))
            continue
        paths.add(path)
    return paths


def _check_info(bag: Path, decl: Declaration, report: BagReport, payload: _Payload) -> None:
    assert decl.encoding is not None and decl.version is not None
    name = "package-info.txt" if decl.version <= (0, 95) else "bag-info.txt"
    if not (bag / name).is_file():
        return  # optional (RFC 8493 2.2.2)
    lines, problems = read_tag_lines(bag, name, decl.encoding)
    report.problems += problems
    report.info, problems = parse_info(lines or [], name, decl.version)
    report.problems += problems
    oxums = report.info_values("Payload-Oxum")
    if len(oxums) > 1:
        report.problems.append(Problem("oxum_repeated", name))
    if not oxums:
        return
    match = re.fullmatch(r"(\d+)\.(\d+)", oxums[0])
    if not match:
        report.problems.append(Problem("oxum_malformed", name, oxums[0]))
    elif not report.to_fetch:  # with holes the sum cannot match yet
        here = f"{sum(payload.files.values())}.{len(payload.files)}"
        if f"{int(match[1])}.{int(match[2])}" != here:
            report.problems.append(Problem("oxum_mismatch", oxums[0], here))


def check(bag: Path, fast: bool = False) -> BagReport:
    """Every problem of bag as RFC 8493 defines a valid bag. fast: completeness and
    Payload-Oxum only, payload not re-hashed (tag manifests still are)."""
    report = BagReport(Path(bag))
    if not report.bag.is_dir():
        report.problems.append(Problem("not_a_directory", str(bag)))
        return report
    if not (report.bag / "bagit.txt").is_file():
        report.problems.append(Problem("no_declaration", str(bag)))
        return report
    decl = read_declaration(report.bag)
    report.problems += decl.problems
    report.version, report.encoding = decl.version, decl.encoding
    if decl.version is None or decl.encoding is None:
        return report  # the rest cannot be read without them
    try:
        root_names = sorted(os.listdir(report.bag))
    except OSError as exc:
        report.problems.append(Problem("unreadable", str(bag), exc.strerror or str(exc)))
        return report
    manifests = [n for n in root_names if _MANIFEST.fullmatch(n) and not n.startswith("tag")]
    tagmanifests = [n for n in root_names if _MANIFEST.fullmatch(n) and n.startswith("tag")]
    payload = _Payload(report.bag, report)
    if not manifests:
        report.problems.append(Problem("no_payload_manifest", str(bag)))
    fetch = _check_fetch(report.bag, decl, report)
    listed = _check_payload(report.bag, decl, report, payload, fetch, fast, manifests)
    for path in sorted(fetch):
        if decl.version >= (1, 0) and not all(path in m for m in listed.values()):
            report.problems.append(Problem("fetch_not_in_manifest", path))
    _check_tags(report.bag, decl, report, tagmanifests, manifests)
    _check_info(report.bag, decl, report, payload)
    report.problems = list(dict.fromkeys(report.problems))  # one finding, said once
    return report
