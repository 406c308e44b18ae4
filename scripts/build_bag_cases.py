"""Build bags like the BagIt conformance suite's (valid and invalid, BagIt 0.97 and 1.0,
UTF-16 and ISO-8859-1 tag files, no bag-info, "./data/" paths, percent-encoded names,
paths outside the bag, fetch.txt holes, duplicates, case and Unicode normalisation...),
each with the verdict RFC 8493 gives and the one bagit-python gives.

    python scripts/build_bag_cases.py OUT          build every case under OUT
    python scripts/build_bag_cases.py --suite DIR  our verdict and bagit-python's on a
                                                   checkout of LibraryOfCongress/
                                                   bagit-conformance-suite, with counts
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUTSIDE = "outside-secret.txt"  # made beside the bags: a case that reads it is wrong


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], None]
    expect: str  # our verdict: valid, invalid, incomplete
    warns: bool = False  # warnings expected (a valid bag may still have them)
    bagit_python: str = ""  # bagit-python's verdict when it differs from ours (why: note)
    note: str = ""
    codes: tuple[str, ...] = ()  # problems that must be among ours


@dataclass
class Spec:
    files: dict[str, bytes] = field(default_factory=lambda: {
        "data/hello.txt": b"hello\n", "data/sub/bytes.bin": bytes(range(256))})
    version: str = "1.0"
    encoding: str = "UTF-8"
    algorithms: tuple[str, ...] = ("sha512",)
    info: list[tuple[str, str]] | None = field(default_factory=lambda: [
        ("Bagging-Date", "2026-11-25"), ("Source-Organization", "Case builder")])
    oxum: bool = True
    fetch: list[str] = field(default_factory=list)  # "url length path" lines
    names: Callable[[str], str] | None = None  # manifest spelling of a path
    declaration: str | None = None  # bagit.txt text, instead of the usual two lines
    lines: Callable[[str, list[str]], list[str]] | None = None  # edit a manifest's lines
    absent: tuple[str, ...] = ()  # listed (and counted) but not written
    after: Callable[[Path], None] | None = None  # after the tag manifests
    raw_info: bytes | None = None  # bag-info.txt as these bytes


def file_algorithm(algorithm: str) -> str:
    """RFC 8493 2.4: lower case, letters and digits only (sha3_256 -> sha3256)."""
    return "".join(c for c in algorithm.lower() if c.isalnum())


def encode_1_0(path: str) -> str:
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _text(spec: Spec, text: str) -> bytes:
    return text.encode(spec.encoding)  # Python's "UTF-16" writes the BOM it needs


def write(bag: Path, spec: Spec) -> None:
    if bag.exists():
        shutil.rmtree(bag)
    (bag / "data").mkdir(parents=True)
    names = spec.names or (encode_1_0 if spec.version == "1.0" else lambda p: p)
    for path, data in spec.files.items():
        if path not in spec.absent:
            (bag / path).parent.mkdir(parents=True, exist_ok=True)
            (bag / path).write_bytes(data)
    tags: dict[str, bytes] = {}
    tags["bagit.txt"] = (spec.declaration if spec.declaration is not None else
                         f"BagIt-Version: {spec.version}\n"
                         f"Tag-File-Character-Encoding: {spec.encoding}\n").encode()
    for algorithm in spec.algorithms:
        name = f"manifest-{file_algorithm(algorithm)}.txt"
        lines = [f"{hashlib.new(algorithm, d).hexdigest()}  {names(p)}"
                 for p, d in spec.files.items()]
        if spec.lines:
            lines = spec.lines(name, lines)
        tags[name] = _text(spec, "".join(f"{line}\n" for line in lines))
    if spec.info is not None:
        info = list(spec.info)
        if spec.oxum:
            payload = {p: d for p, d in spec.files.items() if p not in spec.absent}
            info.append(("Payload-Oxum", f"{sum(map(len, payload.values()))}.{len(payload)}"))
        tags["bag-info.txt"] = _text(spec, "".join(f"{k}: {v}\n" for k, v in info))
    if spec.raw_info is not None:
        tags["bag-info.txt"] = spec.raw_info
    if spec.fetch:
        tags["fetch.txt"] = _text(spec, "".join(f"{line}\n" for line in spec.fetch))
    for name, data in tags.items():
        (bag / name).write_bytes(data)
    for algorithm in spec.algorithms:
        lines = [f"{hashlib.new(algorithm, d).hexdigest()}  {n}" for n, d in tags.items()]
        name = f"tagmanifest-{file_algorithm(algorithm)}.txt"
        if spec.lines:
            lines = spec.lines(name, lines)
        (bag / name).write_bytes(_text(spec, "".join(f"{line}\n" for line in lines)))
    if spec.after:
        spec.after(bag)


def case(name: str, expect: str, warns: bool = False, bagit_python: str = "",
         note: str = "", codes: tuple[str, ...] = (), **spec: Any) -> Case:
    return Case(name, lambda bag: write(bag, Spec(**spec)), expect, warns, bagit_python, note,
                codes)


def _append(line: str, only: str = "manifest-") -> Callable[[str, list[str]], list[str]]:
    return lambda name, lines: [*lines, line] if name.startswith(only) else lines


def _flip(path: str) -> Callable[[Path], None]:
    def flip(bag: Path) -> None:
        data = bytearray((bag / path).read_bytes())
        data[0] ^= 0xFF
        (bag / path).write_bytes(bytes(data))
    return flip


def _made_by_bagit_python(bag: Path) -> None:
    import bagit
    if bag.exists():
        shutil.rmtree(bag)
    (bag / "sub").mkdir(parents=True)
    (bag / "hello.txt").write_text("hello\n")
    (bag / "sub" / ".hidden").write_bytes(b"\0" * 10)
    cwd = os.getcwd()  # make_bag changes directory: keep ours
    try:
        bagit.make_bag(str(bag), {"Contact-Name": "Case builder"}, checksums=["sha256"])
    finally:
        os.chdir(cwd)


def _link_outside(bag: Path) -> None:
    (bag / "data" / "hello.txt").unlink()
    os.symlink(bag.parent / OUTSIDE, bag / "data" / "hello.txt")


def _tag_folder_link(bag: Path) -> None:
    os.symlink(bag.parent, bag / "meta")


def _fifo(bag: Path) -> None:
    os.mkfifo(bag / "data" / "pipe")


SECRET = "a file outside every bag: never to be read\n"
NFC = unicodedata.normalize("NFC", "Núñez")
NFD = unicodedata.normalize("NFD", "Núñez")
SHA = "0" * 128

CASES: list[Case] = [
    case("v1.0-basic", "valid"),
    case("v1.0-no-bag-info", "valid", info=None),
    case("v0.97-basic", "valid", version="0.97", algorithms=("md5",)),
    case("v0.96-basic", "valid", version="0.96", algorithms=("md5",)),
    Case("bagit-python-made", _made_by_bagit_python, "valid"),
    case("v0.97-utf16-tag-files", "valid", version="0.97", encoding="UTF-16"),
    case("v1.0-utf16-tag-files", "valid", encoding="UTF-16",
         info=[("Contact-Name", "山田 太郎")]),
    case("v0.97-iso-8859-1-tag-files", "valid", version="0.97", encoding="ISO-8859-1",
         info=[("Contact-Name", "Nuñez")]),
    case("v1.0-tag-file-not-in-declared-encoding", codes=("tag_file_undecodable",),
         expect="invalid", bagit_python="invalid",
         raw_info=b"Contact-Name: Nu\xf1ez\n", note="ISO-8859-1 bytes in a UTF-8 bag"),
    case("v0.97-leading-dot-slash", codes=("path_dot_slash",),
         expect="valid", warns=True, version="0.97",
         names=lambda p: f"./{p}"),
    case("v1.0-leading-dot-slash", codes=("path_dot_slash",),
         expect="valid", warns=True, names=lambda p: f"./{encode_1_0(p)}",
         note="RFC 8493: a path relative to the base directory; the ABNF (not "
              "normative) writes data/...: accepted with a warning"),
    case("v1.0-percent-encoded-names", "valid",
         files={"data/100%.txt": b"a", "data/line\nfeed": b"b", "data/carriage\rreturn": b"c",
                "data/%41.txt": b"d"}, bagit_python="invalid",
         note="bagit-python 1.9 decodes %0A and %0D but not %25 (its issue 157)"),
    case("v1.0-percent-left-unencoded", codes=("path_not_encoded",), expect="valid",
         warns=True, files={"data/a%25b.txt": b"a"}, names=lambda p: p,
         note="a 1.0 bag whose tool wrote % as is: found as written, with a warning"),
    case("v0.97-percent-not-decoded", "valid", version="0.97",
         files={"data/a%25b.txt": b"a", "data/%7Etilde": b"b"}),
    case("v1.0-hidden-payload-listed", codes=("system_file",), expect="valid", warns=True,
         files={"data/.hidden": b"x", "data/.DS_Store": b"y", "data/a.txt": b"z"}),
    case("v1.0-hidden-payload-unlisted", codes=("not_in_manifest",), expect="invalid",
         lines=lambda n, ls: [x for x in ls if ".hidden" not in x],
         files={"data/.hidden": b"x", "data/a.txt": b"z"}),
    case("v1.0-md5sum-star", codes=("manifest_md5sum_star",), expect="valid", warns=True,
         names=lambda p: f"*{p}"),
    case("v1.0-missing-payload-file", codes=("missing",),
         expect="invalid", absent=("data/hello.txt",)),
    case("v1.0-extra-payload-file", codes=("not_in_manifest",), expect="invalid",
         after=lambda bag: (bag / "data" / "extra").write_bytes(b"!")),
    case("v1.0-corrupt-payload", codes=("checksum_mismatch",),
         expect="invalid", after=_flip("data/hello.txt")),
    case("v1.0-corrupt-tag-file", codes=("checksum_mismatch",),
         expect="invalid", after=_flip("bag-info.txt")),
    case("v1.0-missing-tag-file", codes=("missing",), expect="invalid",
         after=lambda bag: (bag / "bag-info.txt").unlink()),
    case("v1.0-payload-oxum-wrong", codes=("oxum_mismatch",), expect="invalid",
         info=[("Payload-Oxum", "1.1")], oxum=False),
    case("v1.0-not-all-manifests-list-all-files", codes=("not_in_manifest",),
         expect="invalid", algorithms=("sha256", "sha512"),
         lines=lambda n, ls: ls[:1] if n == "manifest-sha256.txt" else ls,
         bagit_python="valid", note="bagit-python 1.9 keeps the 0.97 rule (in one manifest)"),
    case("v0.97-one-manifest-lists-a-file", "valid", version="0.97",
         algorithms=("md5", "sha256"),
         lines=lambda n, ls: ls[:1] if n == "manifest-sha256.txt" else ls,
         note="before 1.0 a payload file had to be in one manifest, not in all"),
    case("v1.0-listed-twice-same-hash", codes=("listed_twice",), expect="invalid",
         lines=lambda n, ls: [*ls, ls[0]] if n.startswith("manifest") else ls),
    case("v0.97-listed-twice-same-hash", codes=("listed_twice",),
         expect="valid", warns=True, version="0.97",
         lines=lambda n, ls: [*ls, ls[0]] if n.startswith("manifest") else ls),
    case("v1.0-listed-twice-conflicting", codes=("listed_twice_conflict",), expect="invalid",
         lines=_append(f"{SHA}  data/hello.txt")),
    case("v1.0-bom-in-bagit-txt", codes=("declaration_bom",), expect="invalid",
         declaration="\ufeffBagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"),
    case("v1.0-utf8-bom-in-manifest", codes=("tag_file_bom",), expect="valid", warns=True,
         lines=lambda n, ls: [f"\ufeff{ls[0]}", *ls[1:]] if n.startswith("manifest") else ls,
         note="RFC 8493 forbids the BOM: read past it with a warning, as bagit-python does"),
    case("v1.0-whitespace-in-declaration", codes=("declaration_whitespace",),
         expect="invalid", bagit_python="valid",
         declaration="BagIt-Version : 1.0\nTag-File-Character-Encoding : UTF-8\n",
         note="RFC 8493 2.1.1; the suite's v1.0/invalid/bagit-with-invalid-whitespace"),
    case("v0.97-version-malformed", codes=("version_malformed",), expect="invalid",
         declaration="BagIt-Version: .97\nTag-File-Character-Encoding: UTF-8\n"),
    case("v2.0-unknown-version", codes=("version_unsupported",), expect="invalid",
         declaration="BagIt-Version: 2.0\nTag-File-Character-Encoding: UTF-8\n"),
    case("v0.97-no-encoding-line", codes=("declaration_missing",),
         expect="invalid", declaration="BagIt-Version: 0.97\n"),
    case("v1.0-unknown-encoding", codes=("encoding_unknown",), expect="invalid",
         declaration="BagIt-Version: 1.0\nTag-File-Character-Encoding: X-NONE\n"),
    case("v1.0-no-payload-manifest", codes=("no_payload_manifest",), expect="invalid",
         after=lambda bag: (bag / "manifest-sha512.txt").unlink()),
    case("v1.0-no-data-folder", codes=("no_payload_dir",), expect="invalid", files={},
         after=lambda bag: (bag / "data").rmdir()),
    case("v1.0-empty-payload", "valid", files={}),
    case("v1.0-payload-dotdot", codes=("path_outside",),
         expect="invalid", lines=_append(f"{SHA}  data/../../{OUTSIDE}")),
    case("v1.0-payload-absolute", codes=("path_outside",),
         expect="invalid", lines=_append(f"{SHA}  /etc/passwd")),
    case("v1.0-payload-tilde", codes=("path_outside",),
         expect="invalid", lines=_append(f"{SHA}  ~/.bashrc")),
    case("v1.0-payload-not-under-data", codes=("manifest_outside_payload",),
         expect="invalid", lines=_append(f"{SHA}  bagit.txt")),
    case("v1.0-tagmanifest-dotdot", codes=("path_outside",), expect="invalid",
         lines=_append(f"{SHA}  ../{OUTSIDE}", "tagmanifest-")),
    case("v1.0-tagmanifest-absolute", codes=("path_outside",), expect="invalid",
         lines=_append(f"{SHA}  /etc/passwd", "tagmanifest-")),
    case("v1.0-tagmanifest-drive-letter", codes=("path_outside",),
         expect="invalid", bagit_python="invalid",
         lines=_append(f"{SHA}  C:\\Windows\\win.ini", "tagmanifest-")),
    case("v1.0-tagmanifest-lists-payload", codes=("tagmanifest_lists_payload",), expect="invalid",
         lines=_append(f"{hashlib.sha512(b'hello' + bytes([10])).hexdigest()}  "
                       "data/hello.txt", "tagmanifest-"),
         note="RFC 8493 2.2.1: a tag manifest MUST NOT list payload files"),
    case("v1.0-link-out-of-the-bag", codes=("payload_link_outside",),
         expect="invalid", after=_link_outside, bagit_python="invalid"),
    case("v1.0-tag-folder-link-out-of-the-bag", codes=("path_outside",), expect="invalid",
         after=_tag_folder_link, lines=_append(
             f"{hashlib.sha512(SECRET.encode()).hexdigest()}  meta/{OUTSIDE}", "tagmanifest-"),
         note="the right checksum of a file outside: only reading it could make this valid"),
    case("v1.0-fifo-in-payload", codes=("payload_not_regular",),
         expect="invalid", after=_fifo, bagit_python="skip",
         note="bagit-python would open the pipe and wait forever: not run"),
    case("v1.0-fetch-hole", "incomplete", absent=("data/hello.txt",),
         fetch=["https://example.org/hello.txt 6 data/hello.txt"], bagit_python="invalid",
         note="holes listed in fetch.txt: incomplete (never fetched by us), not valid"),
    case("v1.0-fetch-complete", "valid",
         fetch=["https://example.org/hello.txt 6 data/hello.txt"]),
    case("v1.0-fetch-outside", codes=("path_outside",), expect="invalid", bagit_python="invalid",
         fetch=[f"https://example.org/x - ../{OUTSIDE}"]),
    case("v1.0-fetch-not-in-manifest", codes=("fetch_not_in_manifest",),
         expect="invalid", bagit_python="valid",
         fetch=["https://example.org/x - data/other.txt"]),
    case("v1.0-fetch-relative-url", codes=("fetch_bad_url",), expect="invalid",
         fetch=["hello.txt - data/hello.txt"]),
    case("v1.0-normalisation-changed", codes=("normalisation_differs",),
         expect="valid", warns=True, bagit_python="invalid",
         files={f"data/{NFC}": b"n"}, names=lambda p: unicodedata.normalize("NFD", p),
         note="RFC 8493 6.2.2 SHOULD tolerate it; bagit-python 1.9 finds the file for "
              "completeness but then cannot open the manifest's spelling"),
    case("v1.0-names-differ-in-case", codes=("names_differ_in_case",), expect="valid", warns=True,
         files={"data/a.txt": b"1", "data/A.txt": b"2"}),
    case("v1.0-case-twin-missing", codes=("missing",), expect="invalid", warns=True,
         files={"data/hello.txt": b"1", "data/HELLO.txt": b"1"}, absent=("data/HELLO.txt",),
         oxum=False),
    case("v1.0-sha3-and-blake2", "valid", algorithms=("sha3_256", "blake2b"),
         bagit_python="valid"),
    case("v1.0-unknown-algorithm", codes=("algorithm_unsupported",),
         expect="invalid", warns=True, bagit_python="valid",
         after=lambda bag: (bag / "manifest-whirl.txt").write_text(
             f"{SHA}  data/hello.txt\n{SHA}  data/sub/bytes.bin\n"),
         note="its checksums cannot be verified, so the bag cannot be called valid"),
    case("v1.0-bag-info-bad-line", codes=("info_bad_line",), expect="invalid",
         info=[("Contact-Name", "x\nno colon here")]),
    case("v0.97-bag-info-loose-separators", "valid", version="0.97",
         info=[("Test-Tag ", "  1"), ("Test-Tag", "2")]),
]


def build(out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / OUTSIDE).write_text(SECRET)
    bags = {}
    for item in CASES:
        bags[item.name] = out / item.name
        item.build(out / item.name)
    return bags


def run_suite(suite: Path) -> int:
    """Our verdict and bagit-python's on every case of the conformance suite. Expected:
    valid -> valid; invalid, linux-only and windows-only -> invalid (the Windows paths
    are outside the payload on any system); warning -> anything, with something said."""
    import logging

    from workbench.package.rfc8493 import check
    from workbench.package.validate import bagit_python
    logging.disable(logging.CRITICAL)
    rows = []
    for category in sorted(suite.glob("v*/*")):
        if not category.is_dir():
            continue
        for bag in sorted(p for p in category.iterdir() if p.is_dir()):
            kind = category.name
            expect = "valid" if kind == "valid" else "any" if kind == "warning" else "invalid"
            report = check(bag)
            ours = "valid" if report.verdict == "valid" else "invalid"
            theirs = "invalid" if bagit_python(bag) else "valid"
            said = bool(report.problems)
            good = (expect == "any" and said) or ours == expect
            rows.append((f"{category.relative_to(suite)}/{bag.name}", expect, ours, theirs,
                         good, expect in ("any", theirs)))
    for name, expect, ours, theirs, good, agree in rows:
        print(f"{'ok ' if good else 'BAD'} {name}: expected {expect}, ours {ours}, "
              f"bagit-python {theirs}{'' if agree else ' (bagit-python differs)'}")
    print(f"{len(rows)} bags: ours as expected on {sum(r[4] for r in rows)}, "
          f"bagit-python on {sum(r[5] for r in rows)}")
    return 0 if all(r[4] for r in rows) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--suite", type=Path, metavar="DIR")
    args = parser.parse_args()
    if args.suite:
        return run_suite(args.suite)
    if not args.out:
        parser.error("give OUT or --suite DIR")
    for name, path in build(args.out).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
