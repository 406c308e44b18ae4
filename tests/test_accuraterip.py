"""AccurateRip and CTDB checksums, disc ids, dBAR parsing and lookup, read offsets.

Every expected value below comes from a public source named beside it; the fast sums are
also checked against a plain loop written here, on synthetic audio.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
import zlib
from collections.abc import Iterator

import pytest

from workbench.optical import accuraterip as ar
from workbench.optical.toc import FIRST_SESSION_GAP, Disc, Session, Track, frames_of

SECTOR = 2352


# -- helpers -------------------------------------------------------------------------------


def audio_disc(starts: list[int], leadout: int, pregap: int = 0) -> Disc:
    """A one-session audio disc from its INDEX 01 LBAs and lead-out."""
    ends = [*starts[1:], leadout]
    tracks = [Track(i + 1, 1, "audio", s, e - s, pregap=pregap if i == 0 else 0)
              for i, (s, e) in enumerate(zip(starts, ends, strict=True))]
    return Disc(tracks=tracks, sessions=[Session(1, 1, len(tracks), leadout)])


def reader(image: bytes) -> ar.ReadSectors:
    """Sectors of an image that starts at LBA 0."""
    def read(lba: int, n: int) -> bytes:
        assert lba >= 0 and lba + n <= len(image) // SECTOR, (lba, n)
        return image[lba * SECTOR:(lba + n) * SECTOR]
    return read


def slow_sums(data: bytes, first: bool, last: bool) -> tuple[int, int, int | None]:
    """AccurateRip v1, v2 and the sector-450 sum as accuraterip-checksum.c writes them
    (github.com/leo-bogert/accuraterip-checksum): one sample at a time."""
    words = [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]
    check_from = 5 * 588 if first else 0
    check_to = len(words) - (5 * 588 if last else 0)
    v1 = v2 = 0
    for mul_by, value in enumerate(words, 1):
        if check_from <= mul_by <= check_to:
            v1 = (v1 + mul_by * value) & 0xFFFFFFFF
            product = mul_by * value
            v2 = (v2 + (product >> 32) + (product & 0xFFFFFFFF)) & 0xFFFFFFFF
    frame = None
    if len(words) >= 451 * 588:
        frame = sum((k + 1) * words[450 * 588 + k] for k in range(588)) & 0xFFFFFFFF
    return v1, v2, frame


def dotnet_random_bytes(seed: int, n: int) -> bytes:
    """System.Random(seed).NextBytes as .NET gives it (Knuth's subtractive generator,
    .NET reference source Random.cs; each byte is InternalSample() % 256). CUETools'
    test images (CUETools.TestHelpers/NoiseAndErrorsGenerator.cs) are this stream."""
    mbig, seeds = 2**31 - 1, [0] * 56
    mj = 161803398 - abs(seed)
    seeds[55], mk = mj, 1
    for i in range(1, 55):
        ii = 21 * i % 55
        seeds[ii] = mk
        mk = mj - mk
        if mk < 0:
            mk += mbig
        mj = seeds[ii]
    for _ in range(4):
        for i in range(1, 56):
            seeds[i] -= seeds[1 + (i + 30) % 55]
            if seeds[i] < 0:
                seeds[i] += mbig
    inext, inextp, out = 0, 21, bytearray(n)
    for k in range(n):
        inext = inext + 1 if inext < 55 else 1
        inextp = inextp + 1 if inextp < 55 else 1
        r = seeds[inext] - seeds[inextp]
        r = r - 1 if r == mbig else r
        r = r + mbig if r < 0 else r
        seeds[inext] = r
        out[k] = r & 0xFF
    return bytes(out)


# -- CUETools' own test vectors ----------------------------------------------------------------
# github.com/gchudov/cuetools.net, CUETools/CUETools.TestCodecs/AccurateRipVerifyTest.cs:
# TestImageGenerator.CreateAccurateRipVerify("13 68 99 136", 2314, 0): three tracks at
# LBA 13, 68 and 99 (13 sectors of hidden audio before track 1), lead-out 136, the audio
# being .NET Random(2314)'s bytes from LBA 0. "0 136 886" is a two-track disc of the same
# stream. CRC(i) is AccurateRip v1 of the (i+1)th track, CRCV2 v2, CRC32(i) the track's
# CRC-32 (CRC32(0): the whole 136 sectors), CTDBCRC(i, 0, 2940, 2940) a track's CRC-32
# less 2940 samples at the disc's start and end, CRC(i, oi) v1 of the audio oi samples on.

CUETOOLS_STARTS, CUETOOLS_LEADOUT = [13, 68, 99], 136


@pytest.fixture(scope="module")
def cuetools_image() -> bytes:
    return dotnet_random_bytes(2314, 886 * SECTOR)


@pytest.fixture(scope="module")
def cuetools_disc() -> Disc:
    return audio_disc(CUETOOLS_STARTS, CUETOOLS_LEADOUT, pregap=13)


def test_cuetools_crc32_of_the_stream_as_generated(cuetools_image: bytes) -> None:
    # the stream itself, before any code of ours: CRC32(0) and CRC32(1..3)
    image = cuetools_image[:136 * SECTOR]
    assert zlib.crc32(image) == 3791227907
    assert zlib.crc32(image[13 * SECTOR:68 * SECTOR]) == 321342250


def test_cuetools_track_checksums(cuetools_image: bytes, cuetools_disc: Disc) -> None:
    sums = ar.checksum_disc(cuetools_disc, reader(cuetools_image[:136 * SECTOR]))
    assert [t.number for t in sums.tracks] == [1, 2, 3]
    assert [t.v1 for t in sums.tracks] == [3727147246, 2202235240, 3752629998]
    assert [t.v2 for t in sums.tracks] == [3988391122, 2284845104, 3841231027]
    assert [t.crc32 for t in sums.tracks] == [321342250, 37001035, 516255430]
    assert all(t.frame450 is None for t in sums.tracks)  # all shorter than 451 sectors


def test_cuetools_ctdb_crc_window(cuetools_image: bytes) -> None:
    # CTDBCRC(1, 0, 2940, 2940) and CTDBCRC(3, 0, 2940, 2940): the skip at the disc's
    # ends as CUETools cuts it (the disc's CTDB CRC uses the same cut, 10 sectors wide)
    assert zlib.crc32(cuetools_image[13 * SECTOR + 2940 * 4:68 * SECTOR]) == 4209773141
    assert zlib.crc32(cuetools_image[99 * SECTOR:136 * SECTOR - 2940 * 4]) == 1024656428


def test_cuetools_disc_ctdb_crc(cuetools_image: bytes, cuetools_disc: Disc) -> None:
    sums = ar.checksum_disc(cuetools_disc, reader(cuetools_image[:136 * SECTOR]))
    audio = cuetools_image[13 * SECTOR:136 * SECTOR]  # no hidden track-one audio
    samples = len(audio) // 4  # 123 sectors: the end loses 10 + 3 sectors
    assert ar.ctdb_window(samples) == (5880, samples - 13 * 588)
    assert sums.ctdb_crc == zlib.crc32(audio[5880 * 4:(samples - 13 * 588) * 4])


def test_cuetools_frame450(cuetools_image: bytes) -> None:
    # CRC450Test: ar2 = "0 136 886"; CRC450(1, 0) is track 2 (LBA 136-886), CRC450(1, -3)
    # the same read 3 samples early
    track2 = cuetools_image[136 * SECTOR:886 * SECTOR]
    assert ar.track_checksums(track2, 2, 2).frame450 == 2224430043
    early = ar.shift_by_offset(reader(cuetools_image), 136 * 588, 750 * 588, -3)
    assert ar.track_checksums(early, 2, 2).frame450 == 1251460151


@pytest.mark.parametrize(("track", "oi", "expected"), [
    (0, -1, 123722587), (0, 99, 1975220196), (1, -3, 1519928474),
    (1, 11, 2114385036), (2, -4, 1521167728), (2, 55, 301435197)])
def test_cuetools_crc_with_offset(cuetools_image: bytes, track: int, oi: int,
                                  expected: int) -> None:
    # CRCTest1: v1 of each track as a drive oi samples late would give it, corrected;
    # track 3 + 55 reads past the lead-out, which comes back as zeros
    start, end = [*CUETOOLS_STARTS, CUETOOLS_LEADOUT][track:track + 2]
    data = ar.shift_by_offset(reader(cuetools_image), start * 588, (end - start) * 588, oi,
                              end_lba=CUETOOLS_LEADOUT)
    got = ar.track_checksums(data, track + 1, 3)
    assert got.v1 == expected


def test_checksum_disc_corrects_the_offset(cuetools_image: bytes, cuetools_disc: Disc) -> None:
    image = cuetools_image[:136 * SECTOR]
    assert ar.checksum_disc(cuetools_disc, reader(image), offset=-1).tracks[0].v1 == 123722587
    assert ar.checksum_disc(cuetools_disc, reader(image), offset=55).tracks[2].v1 == 301435197


# -- fast sums against the plain loop --------------------------------------------------------


@pytest.mark.parametrize(("first", "last"), [(False, False), (True, False), (False, True),
                                             (True, True)])
def test_fast_sums_match_the_plain_loop(first: bool, last: bool) -> None:
    data = os.urandom(452 * SECTOR + 17 * 4)  # long enough for sector 450, ragged end
    index, count = {(False, False): (2, 3), (True, False): (1, 3), (False, True): (3, 3),
                    (True, True): (1, 1)}[first, last]
    got = ar.track_checksums(data, index, count, number=7)
    assert got.number == 7
    assert (got.v1, got.v2, got.frame450) == slow_sums(data, first, last)
    assert got.crc32 == zlib.crc32(data)
    # fed in uneven pieces, even splitting sample words, the sums do not change
    sums = ar.TrackSums(7, len(data) // 4, first, last)
    pos = 0
    for size in (1, 3, 2940 * 4 + 2, 5, 450 * SECTOR, 11):
        sums.update(data[pos:pos + size])
        pos += size
    sums.update(data[pos:])
    assert sums.result() == got


def test_v2_differs_from_v1_only_through_high_words() -> None:
    small = (1).to_bytes(4, "little") * 588  # products stay under 2**32: v2 == v1
    sums = ar.track_checksums(small, 2, 3)
    assert sums.v1 == sums.v2 == sum(range(1, 589))
    loud = (0xFFFFFFFF).to_bytes(4, "little") * 588
    sums = ar.track_checksums(loud, 2, 3)
    assert sums.v2 == slow_sums(loud, False, False)[1] != sums.v1


def test_short_or_long_track_is_an_error() -> None:
    sums = ar.TrackSums(1, 588, False, False)
    sums.update(bytes(587 * 4))
    with pytest.raises(ValueError, match="587 of 588"):
        sums.result()
    with pytest.raises(ValueError, match="more than 588"):
        sums.update(bytes(8))


# -- disc ids ------------------------------------------------------------------------------
# github.com/whipper-team/whipper (commit 6ad681af), whipper/test/test_image_table.py and
# test_image_toc.py: AccurateRip paths "verified against EAC's, using wireshark", CDDB
# ids against freedb and cd-discid.


def test_enhanced_cd_ids_ladyhawke() -> None:
    # Ladyhawke (0602517818866): 12 audio tracks, data track 13 in session 2; the
    # MusicBrainz TOC there puts the audio session's lead-out at 195856 - 150
    starts = [0, 15537, 31691, 50866, 66466, 81202, 99409, 115920, 133093, 149847,
              161560, 177682]
    audio_end = 207106 - FIRST_SESSION_GAP
    assert audio_end == 195856 - 150
    ends = [*starts[1:], audio_end]
    tracks = [Track(i + 1, 1, "audio", s, e - s) for i, (s, e) in enumerate(zip(starts, ends,
                                                                                 strict=True))]
    tracks.append(Track(13, 2, "mode1", 207106, 210385 - 207106, pregap=150, control=4))
    disc = Disc(tracks=tracks, sessions=[Session(1, 1, 12, audio_end),
                                         Session(2, 13, 13, 210385)])
    assert disc.classify() == "enhanced_cd"
    ids = ar.disc_ids(disc)
    assert (f"{ids.id1:08x}", f"{ids.id2:08x}") == ("0013bd5a", "00b8d489")
    assert ar.cddb_id(disc) == 0xC60AF50D
    assert ids.path == "a/5/d/dBAR-012-0013bd5a-00b8d489-c60af50d.bin"
    assert ids.url == ("http://www.accuraterip.com/accuraterip/"
                       "a/5/d/dBAR-012-0013bd5a-00b8d489-c60af50d.bin")
    assert ar.audio_end(disc) == audio_end
    assert ar.audio_spans(disc)[-1].end == audio_end  # the data track is no audio span


def test_hidden_track_one_audio_ids_bloc_party() -> None:
    # Bloc Party, Silent Alarm (bloc.toc): 3:22:70 of audio before track 1's INDEX 01;
    # cd-discid's line there lists each start + 150 and the length in seconds + 2
    discid = [15370, 35019, 51532, 69190, 84292, 96826, 112527, 132448, 148595, 168072,
              185539, 203331, 222103]
    leadout = frames_of("03:22:70") + frames_of("45:56:11") + frames_of("04:43:60")
    assert leadout // 75 + 2 == 3244
    disc = audio_disc([s - 150 for s in discid], leadout, pregap=frames_of("03:22:70"))
    assert ar.cddb_id(disc) == 0xAD0BE00D
    assert ar.disc_ids(disc).path == "e/d/2/dBAR-013-001af2de-0105994e-ad0be00d.bin"


def test_pregaps_ids_the_cure() -> None:
    # cure.toc: FILE start and START (pregap) of each track, and the last track's length
    files = ["0", "06:16:45", "10:13:02", "14:50:07", "17:18:42", "19:43:06", "24:25:07",
             "28:56:00", "32:38:11", "36:01:58", "40:08:30", "43:59:51", "48:35:63"]
    pregaps = ["00:00:00", "00:01:04", "00:01:58", "00:00:10", "00:02:05", "00:00:04",
               "00:01:34", "00:00:09", "00:02:34", "00:00:21", "00:00:23", "00:00:51",
               "00:01:08"]
    starts = [(frames_of(f) if ":" in f else 0) + frames_of(p) for f, p in zip(files, pregaps,
                                                                               strict=True)]
    disc = audio_disc(starts, frames_of("48:35:63") + frames_of("04:17:71"))
    assert ar.disc_ids(disc).path == "3/c/4/dBAR-013-0019d4c3-00fe8924-b90c650d.bin"


def test_ctdb_toc_id_from_an_eac_log() -> None:
    # An EAC 1.6 log with the CUETools DB plugin 2.1.6 (凋叶棕 / 宴, drive "hp BD CMB
    # UJ160"), quoted in a public GitHub repository's CD ripping notes: its TOC table
    # (start sectors, last end sector 249402) and "[CTDB TOCID: HBFiB3CptZA6LyLN9Kn1aRh7H.Y-]"
    starts = [0, 25653, 53706, 77409, 103139, 123509, 142412, 162721, 188974, 210577, 234880]
    disc = audio_disc(starts, 249402 + 1)
    assert ar.ctdb_toc_id(disc) == "HBFiB3CptZA6LyLN9Kn1aRh7H.Y-"
    # the id hashes positions relative to track 1: the same disc moved keeps it
    moved = audio_disc([s + 33 for s in starts], 249403 + 33)
    assert ar.ctdb_toc_id(moved) == "HBFiB3CptZA6LyLN9Kn1aRh7H.Y-"


def test_mixed_mode_weights_audio_tracks_by_their_order() -> None:
    # CUETools (AccurateRip.cs CalculateAccurateRipId) weights each audio start by its
    # place among the audio tracks (++num), not by its track number; the data track is
    # left out of the sums but counts in the CDDB id
    data = Track(1, 1, "mode1", 0, 1000, control=4)
    audio = [Track(2, 1, "audio", 1150, 500, pregap=150), Track(3, 1, "audio", 1650, 350)]
    disc = Disc(tracks=[data, *audio], sessions=[Session(1, 1, 3, 2000)])
    ids = ar.disc_ids(disc)
    assert ids.tracks == 2
    assert ids.id1 == 1150 + 1650 + 2000
    assert ids.id2 == 1150 * 1 + 1650 * 2 + 2000 * 3
    assert ids.cddb & 0xFF == 3


# -- the dBAR answer -----------------------------------------------------------------------
# whipper/test/dBAR-002-0000f21c-00027ef8-05021002.bin (62 bytes, git blob d88ebaa4) and
# dBAR-020-002e5023-029d8e49-040eaa14.bin (193 bytes, blob 49a0735e), as hex.

DBAR_002 = bytes.fromhex(
    "021cf20000f87e0200021002050c05c74f28a4f8973b142ef3c19cde0055dc021cf20000f87e020002"
    "10020507abf977dc0000000007c3d297dd00000000")
DBAR_020 = bytes.fromhex(
    "1423502e00498e9d0214aa0e040000000000d4bafdc502c5448caf3633996d02726b6eed71420cf402"
    "3fb0145ba727634d02ce11bf4710501bfe029c6f5845971fcbe8021cce80d90e2d8d4d02bbe0fd0593"
    "93f19c020e19605e726b6c9c02b4556eebaf259f9f029f87d36d8e80df98023b69e0a99888536702cc"
    "12424fc747958e0260709e96be5505170256f98d962f6dc7f502f66d800c806a80150281efc8bd1c96"
    "b3b802b7cb2a7d54136da10274f477af506c026b024c5f618a99431ca9")
# whipper/test/test_common_accurip.py: the CRCs that answer matches
WHIPPER_V1, WHIPPER_V2 = [0x284FC705, 0x9CC1F32E], [0xDC77F9AB, 0xDD97D2C3]
# The disc itself is not in whipper; its TOC follows from the file name: id1 = t2 + L,
# id2 = 1 + 2 t2 + 3 L give track 2 at 22365 and the lead-out at 39615, and the CDDB id
# (digit sums 2 + 3, 528 s, 2 tracks) then agrees on its own.
DBAR_002_DISC = audio_disc([0, 22365], 39615)


def git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_recorded_answers_are_whippers_files() -> None:
    assert git_blob(DBAR_002).startswith("d88ebaa4")
    assert git_blob(DBAR_020).startswith("49a0735e")
    assert ar.disc_ids(DBAR_002_DISC).path == "c/1/2/dBAR-002-0000f21c-00027ef8-05021002.bin"


def test_parse_dbar_as_whipper_reads_it() -> None:
    records = ar.parse_dbar(DBAR_002)
    assert len(records) == 2
    assert {(r.id1, r.id2, r.cddb) for r in records} == {(0xF21C, 0x27EF8, 0x05021002)}
    assert [t.confidence for t in records[0].tracks] == [12, 20]
    assert [t.crc for t in records[0].tracks] == [0x284FC705, 0x9CC1F32E]
    assert [t.confidence for t in records[1].tracks] == [7, 7]
    assert [t.crc for t in records[1].tracks] == [0xDC77F9AB, 0xDD97D2C3]
    (one,) = ar.parse_dbar(DBAR_020)
    assert (one.id1, one.id2, one.cddb, len(one.tracks)) == (0x2E5023, 0x29D8E49, 0x40EAA14, 20)
    assert one.tracks[0] == ar.ArTrack(0, 0, 0xC5FDBAD4)
    assert one.tracks[-1].confidence == 2


def test_parse_dbar_refuses_a_cut_answer() -> None:
    with pytest.raises(ValueError, match="cut short"):
        ar.parse_dbar(DBAR_002[:-1])
    with pytest.raises(ValueError, match="header cut short"):
        ar.parse_dbar(DBAR_002 + b"\x02\x00")
    assert ar.parse_dbar(b"") == []


def crcs(v1: list[int], v2: list[int]) -> list[ar.TrackChecksums]:
    return [ar.TrackChecksums(i + 1, a, b, None, 0) for i, (a, b) in enumerate(zip(v1, v2,
                                                                                  strict=True))]


def test_match_as_whipper_expects() -> None:
    verdicts = ar.match(crcs(WHIPPER_V1, WHIPPER_V2), ar.parse_dbar(DBAR_002))
    assert [(v.v1_confidence, v.v2_confidence, v.total) for v in verdicts] == [
        (12, 7, 19), (20, 7, 27)]
    assert [str(v) for v in verdicts] == ["accurate (confidence 19, v1+v2)",
                                          "accurate (confidence 27, v1+v2)"]
    only_v2 = ar.match(crcs([1, 2], WHIPPER_V2), ar.parse_dbar(DBAR_002))
    assert str(only_v2[0]) == "accurate (confidence 7, v2)"
    wrong = ar.match(crcs([0xDEADBEEF, WHIPPER_V1[1]], [0x76543210, 0x01234567]),
                     ar.parse_dbar(DBAR_002))
    assert [str(v) for v in wrong] == ["mismatch", "accurate (confidence 20, v1)"]
    assert wrong[0].verdict == ar.Verdict.MISMATCH and wrong[0].total == 19


def test_lookup_with_a_recorded_answer() -> None:
    asked: list[str] = []

    def fetch(url: str) -> bytes | None:
        asked.append(url)
        return DBAR_002

    verdicts = ar.lookup(DBAR_002_DISC, crcs(WHIPPER_V1, WHIPPER_V2), fetch=fetch)
    assert asked == ["http://www.accuraterip.com/accuraterip/c/1/2/"
                     "dBAR-002-0000f21c-00027ef8-05021002.bin"]
    assert [v.verdict for v in verdicts] == ["accurate", "accurate"]
    missing = ar.lookup(DBAR_002_DISC, crcs(WHIPPER_V1, WHIPPER_V2), fetch=lambda url: None)
    assert [str(v) for v in missing] == ["not in database"] * 2
    with pytest.raises(ar.LookupFailed) as failed:
        ar.lookup(DBAR_002_DISC, crcs(WHIPPER_V1, WHIPPER_V2), fetch=lambda url: b"\x02")
    assert failed.value.key == "error.accuraterip_lookup"


class _Recorded(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.endswith("dBAR-002-0000f21c-00027ef8-05021002.bin"):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(DBAR_002)
        else:
            self.send_error(404 if "dBAR" in self.path else 500)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The recorded answer served on 127.0.0.1, standing in for accuraterip.com."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorded)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}/accuraterip/"
    monkeypatch.setattr(ar, "AR_URL", base)
    yield base
    server.shutdown()
    server.server_close()


def test_default_fetch_over_http(loopback: str) -> None:
    verdicts = ar.lookup(DBAR_002_DISC, crcs(WHIPPER_V1, WHIPPER_V2), timeout=5)
    assert [v.verdict for v in verdicts] == ["accurate", "accurate"]
    other = audio_disc([0, 22366], 39615)  # no entry: the server says 404
    assert {v.verdict for v in ar.lookup(other, crcs([1, 2], [3, 4]))} == {"not_in_database"}
    with pytest.raises(ar.LookupFailed) as failed:
        ar.fetch_url(loopback + "broken")
    assert failed.value.params["reason"] == "HTTP 500"


# -- read offsets ----------------------------------------------------------------------------


def counting_image(sectors: int) -> bytes:
    """Each sample word holds its own disc position + 1 (0 would look like padding)."""
    return b"".join((p + 1).to_bytes(4, "little") for p in range(sectors * 588))


def words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]


def test_shift_by_offset_reads_further_for_a_late_drive() -> None:
    read = reader(counting_image(6))
    got = words(ar.shift_by_offset(read, 588 * 2 + 10, 700, 30, end_lba=6))
    assert got == [p + 1 + 30 for p in range(588 * 2 + 10, 588 * 2 + 710)]
    got = words(ar.shift_by_offset(read, 588 * 2, 588, -600, end_lba=6))
    assert got == [p + 1 - 600 for p in range(588 * 2, 588 * 3)]


def test_shift_by_offset_fills_the_disc_edges_with_zeros() -> None:
    read = reader(counting_image(6))
    start = words(ar.shift_by_offset(read, 0, 588, -20, end_lba=6))
    assert start == [0] * 20 + list(range(1, 569))
    end = words(ar.shift_by_offset(read, 5 * 588, 588, 100, end_lba=6))
    assert end == list(range(5 * 588 + 101, 6 * 588 + 1)) + [0] * 100
    assert ar.shift_by_offset(read, 0, 10, -50, end_lba=6) == bytes(40)


def test_drive_offsets_agree_with_whipper() -> None:
    # whipper's HACKING quotes "PLEXTOR CD-R PX-W8432T Read offset of device is: 355";
    # its test_common_config.py sets 6 for 'PLEXTOR ', 'DVDR   PX-L890SA'
    assert ar.drive_offset("PLEXTOR", "CD-R   PX-W8432T") == 355
    assert ar.drive_offset("PLEXTOR ", "DVDR   PX-L890SA") == 6
    assert ar.drive_offset("NOBODY", "NOTHING") is None
    assert all(-2940 < v < 2940 for v in ar.DRIVE_OFFSETS.values())


def test_disc_without_audio_has_no_ids() -> None:
    disc = Disc(tracks=[Track(1, 1, "mode1", 0, 1000, control=4)],
                sessions=[Session(1, 1, 1, 1000)])
    with pytest.raises(ValueError, match="without audio"):
        ar.disc_ids(disc)
    assert ar.cddb_id(disc) & 0xFF == 1


def test_records_keep_hex(cuetools_image: bytes, cuetools_disc: Disc) -> None:
    sums = ar.checksum_disc(cuetools_disc, reader(cuetools_image[:136 * SECTOR]))
    assert sums.tracks[0].to_dict() == {"accuraterip_v1": f"{3727147246:08x}",
                                        "accuraterip_v2": f"{3988391122:08x}",
                                        "crc32": f"{321342250:08x}", "frame450": ""}
    record = sums.to_dict()
    assert record["ctdb_toc_id"] == ar.ctdb_toc_id(cuetools_disc)
    assert record["accuraterip_id"] == ar.disc_ids(cuetools_disc).name


def test_ctdb_toc_id_agrees_with_the_cdtoc_crate():
    """An independent implementation: the Rust crate cdtoc's documented example,
    Toc::from_cdtoc("4+96+2D2B+6256+B327+D84A").ctdb_id() (addresses include the 150
    frames before LBA 0; the last is the lead-out)."""
    starts, leadout = [0x96, 0x2D2B, 0x6256, 0xB327], 0xD84A
    ends = [*starts[1:], leadout]
    disc = Disc(tracks=[Track(n + 1, 1, "audio", s - 150, e - s)
                        for n, (s, e) in enumerate(zip(starts, ends, strict=True))],
                sessions=[Session(1, 1, 4, leadout - 150)])
    assert ar.ctdb_toc_id(disc) == "VukMWWItblELRM.CEFpXxw0FlME-"
