"""The CUETools DB lookup on answers db.cue.tools really gave (quoted in public
repositories' tests and notes, found by their text; the search index did not name the
repositories): the query a TOC makes, the entries read, the disc's CRC matched."""

from __future__ import annotations

import pytest

from workbench.optical import ctdb
from workbench.optical.accuraterip import LookupFailed
from workbench.optical.toc import Disc, Session, Track

# a 4-track disc; the note gives the query it sent and the canonical entry it got:
# GET https://db.cue.tools/lookup2.php?version=3&ctdb=1&toc=0:24159:127166:278762:309864
FOUR = (b'<ctdb xmlns="http://db.cuetools.net/ns/mmd-1.0#" '
        b'xmlns:ext="http://db.cuetools.net/ns/ext-1.0#">'
        b'<entry confidence="896" crc32="13f525de" hasparity="http://p.cuetools.net/113068" '
        b'id="113068" npar="16" stride="5880" '
        b'syndrome="HI0I8cxLz56i0JeEyXcrAKXVs/JFVwngnkaZ8a3jO58=" '
        b'toc="0:24159:127166:278762:309864" '
        b'trackcrcs="40c5dc10 65dfcc8a 1ef7b539 d21a8789" /></ctdb>')
# Miles Davis, "Walkin'" (trimmed real answer, 2026-09-20): two entries and metadata;
# track 1 starts at LBA 37
WALKIN = '''<ctdb xmlns="http://db.cuetools.net/ns/mmd-1.0#" xmlns:ext="http://db.cuetools.net/ns/ext-1.0#">
 <entry confidence="42" crc32="534054fd" hasparity="http://p.cuetools.net/1310779" id="1310779" npar="8" stride="5880" syndrome="cum06mLJ3PF1no7KpkMu1A==" toc="37:60712:98154:119544:139349:170557" trackcrcs="fe1b0b1d 1b8c2736 30f99024 40265ae9 f52a6619" />
 <entry confidence="3" crc32="deadbeef" id="99" npar="8" stride="5880" toc="37:60712:98154:119544:139349:170557" trackcrcs="00000001 1b8c2736 30f99024 40265ae9 00000005" />
 <metadata album="Walkin’" artist="Miles Davis All Stars" barcode="4988002013944" disccount="1" />
</ctdb>'''.encode()  # noqa: E501


def audio_disc(bounds: list[int]) -> Disc:
    starts, leadout = bounds[:-1], bounds[-1]
    ends = [*starts[1:], leadout]
    return Disc(tracks=[Track(n + 1, 1, "audio", s, e - s)
                        for n, (s, e) in enumerate(zip(starts, ends, strict=True))],
                sessions=[Session(1, 1, len(starts), leadout)])


def test_the_query_is_the_toc_ctdb_files_the_disc_under():
    disc = audio_disc([0, 24159, 127166, 278762, 309864])
    assert ctdb.toc_param(disc) == "0:24159:127166:278762:309864"
    assert "toc=0:24159:127166:278762:309864" in ctdb.lookup_url(disc)
    enhanced = Disc(tracks=[Track(1, 1, "audio", 0, 1000),
                            Track(2, 2, "mode2", 12400, 500)],
                    sessions=[Session(1, 1, 1, 1000), Session(2, 2, 2, 12900)])
    assert ctdb.toc_param(enhanced) == "0:-12400:12900"  # a data track is marked


def test_an_answer_is_read_and_the_discs_crc_matched():
    entries = ctdb.parse(FOUR)
    assert [(e.id, e.confidence, e.crc32) for e in entries] == [("113068", 896, 0x13F525DE)]
    assert entries[0].track_crcs[-1] == 0xD21A8789
    found = ctdb.lookup(audio_disc([0, 24159, 127166, 278762, 309864]), 0x13F525DE,
                        fetch=lambda url: FOUR)
    assert (found.verdict, found.confidence, found.total) == ("accurate", 896, 896)
    walkin = ctdb.parse(WALKIN)
    assert [e.confidence for e in walkin] == [42, 3]  # metadata is not an entry
    assert str(ctdb.match(0x534054FD, walkin)) == "accurate (confidence 42 of 45)"
    assert ctdb.match(0x12345678, walkin).verdict == "mismatch"
    assert ctdb.match(0x534054FD, []).verdict == "not_in_database"


def test_no_entry_and_a_broken_answer():
    disc = audio_disc([37, 60712, 98154, 119544, 139349, 170557])
    assert ctdb.lookup(disc, 1, fetch=lambda url: None).verdict == "not_in_database"
    with pytest.raises(LookupFailed):
        ctdb.lookup(disc, 1, fetch=lambda url: b"<html>busy</html>")
    with pytest.raises(LookupFailed):
        ctdb.lookup(disc, 1, fetch=lambda url: b"\x00not xml")
