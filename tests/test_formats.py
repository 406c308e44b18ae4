"""The fido adapter: same answers as the fido CLI, and each of fido's defects fixed."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import build_media as samples

from workbench.identify.formats import FormatIdentifier


def docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Override PartName="/word/document.xml" '
                   'ContentType="application/vnd.openxmlformats-officedocument.'
                   'wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


CORPUS = {
    "paper.pdf": samples.pdf("x"), "logo.png": samples.png(), "photo.jpg": samples.JPEG,
    "anim.gif": samples.GIF, "archive.zip": samples.zipped({"a.txt": b"a"}),
    "letter.docx": docx(), "page.html": samples.HTML, "data.xml": samples.XML,
    "sound.wav": samples.wav(), "readme.txt": samples.README, "blob.qqq": b"\x00\x01\x02zz",
    "empty.txt": b"", "png-named.jpg": samples.png(),
}
EXPECTED = {"paper.pdf": "fmt/18", "logo.png": "fmt/11", "photo.jpg": "fmt/43",
            "anim.gif": "fmt/4", "archive.zip": "x-fmt/263", "letter.docx": "fmt/412",
            "page.html": "fmt/471", "data.xml": "fmt/101", "sound.wav": "fmt/141",
            "readme.txt": "x-fmt/111"}


@pytest.fixture(scope="module")
def identifier() -> FormatIdentifier:
    return FormatIdentifier()


def fido_cli(folder: Path) -> dict[str, list[tuple[str, str]]]:
    fido = Path(sys.executable).parent / "fido"
    out = subprocess.run([str(fido), "-q", str(folder)], capture_output=True, text=True,
                         check=True).stdout
    answers: dict[str, list[tuple[str, str]]] = {}
    for row in csv.reader(io.StringIO(out)):
        if row and row[0] == "OK":
            answers.setdefault(Path(row[6]).name, []).append((row[2], row[8]))
        elif row and row[0] == "KO":
            answers.setdefault(Path(row[-2]).name, [])
    return answers


def test_same_puids_as_the_fido_cli(identifier, tmp_path):
    for name, data in CORPUS.items():
        (tmp_path / name).write_bytes(data)
    cli = fido_cli(tmp_path)
    for name, data in CORPUS.items():
        ours = identifier.identify_bytes(name, data)
        theirs = cli.get(name, [])
        assert [m.puid for m in ours.matches] == [p for p, _ in theirs], name
        if theirs:
            assert ours.basis == theirs[0][1], name
    for name, puid in EXPECTED.items():
        assert identifier.identify_bytes(name, CORPUS[name]).puid == puid, name


def test_defect_default_constructor_needs_missing_formats_file(identifier, capsys):
    from fido import fido
    with pytest.raises((SystemExit, OSError, FileNotFoundError)):
        fido.Fido(quiet=True)  # looks for formats-v104.xml, which is not shipped
    capsys.readouterr()
    assert identifier.identify_bytes("a.png", CORPUS["logo.png"]).puid == "fmt/11"


def test_defect_container_signatures_are_used(identifier):
    result = identifier.identify_bytes("letter.docx", CORPUS["letter.docx"])
    assert result.puid == "fmt/412" and result.basis == "container"


def test_defect_bytes_never_hang(identifier):
    done = threading.Event()

    def work() -> None:
        identifier.identify_bytes("stream", CORPUS["paper.pdf"])
        done.set()
    threading.Thread(target=work, daemon=True).start()
    assert done.wait(10), "identifying in-memory bytes must return"


def test_defect_no_match_still_answers(identifier):
    result = identifier.identify_bytes("blob.qqq", b"\x00\x01\x02zz", extension=False)
    assert not result.identified and result.warnings == ("unidentified",)
    assert result.basis == "none"


def test_defect_never_prints_or_exits(identifier, capsys):
    identifier.identify_bytes("empty.txt", b"")
    identifier.identify_bytes("broken.zip", b"PK\x03\x04" + b"\0" * 40)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_defect_container_xml_is_parsed_once(identifier, monkeypatch):
    calls = []
    real = ET.parse
    monkeypatch.setattr(ET, "parse", lambda *a, **k: calls.append(a) or real(*a, **k))
    for n in range(5):
        assert identifier.identify_bytes(f"d{n}.docx", CORPUS["letter.docx"]).puid == "fmt/412"
    assert calls == []


def test_regexes_are_precompiled(identifier):
    compiled = [rx for f in identifier._formats for s in f.signatures for _, rx in
                s.patterns or []]
    assert len(compiled) > 1000 and all(hasattr(rx, "match") for rx in compiled)


def test_review_warnings(identifier):
    mismatch = identifier.identify_bytes("png-named.jpg", CORPUS["logo.png"])
    assert mismatch.puid == "fmt/11" and "extension_mismatch" in mismatch.warnings
    text = identifier.identify_bytes("readme.txt", CORPUS["readme.txt"])
    assert "extension_only" in text.warnings


def test_first_byte_index_gives_fidos_own_answers(identifier):
    """Our matcher (precompiled, indexed by first byte) against fido.match_formats itself,
    on the corpus and on inputs starting with every byte value."""
    import contextlib
    import random
    rng = random.Random(5)
    inputs = [data for data in CORPUS.values() if data]
    inputs += [bytes([b]) + bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
               for b in range(256)]
    inputs += [data[:1] + b"\0" + data[2:] for data in CORPUS.values() if len(data) > 2]
    for data in inputs:
        bof, eof = data[:131072], data[-131072:]
        with contextlib.redirect_stderr(io.StringIO()):
            theirs = identifier._fido.match_formats(bof, eof)
        ours = identifier._signature_matches(bof, eof)
        assert [f.match.puid for f, _ in ours] == [f.findtext("puid") for f, _ in theirs]
