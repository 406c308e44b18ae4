"""Optical discs imaged as discs: every session, audio tracks raw and bit-exact, gaps
that are not bad, blank and damaged discs, and the bag that carries it all."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import threading
from pathlib import Path

import pytest

from tests.fsfixtures import iso, tool
from workbench.errors import Refused
from workbench.imaging.engine import image
from workbench.imaging.engine import image_source as image_from
from workbench.imaging.mapfile import RescueMap
from workbench.imaging.record import Outcome
from workbench.imaging.sources import DriveIdentity, ReadError, Source
from workbench.optical.cue import read_cue
from workbench.optical.secure import TrackReader
from workbench.optical.toc import FIRST_SESSION_GAP, Disc, DiscClass, Mode, Session, Track

RAW = 2352


def audio(sectors: int, seed: int) -> bytes:
    rnd = random.Random(seed)
    return rnd.randbytes(sectors * RAW)


def mixed_disc(tmp: Path) -> tuple[Path, bytes, bytes]:
    """A mixed-mode CUE/BIN: track 1 an ISO 9660 volume (MODE1/2048), track 2 audio with
    a 2 s pregap held in its file (INDEX 00), as cdrdao writes it."""
    data = iso(tmp).read_bytes()
    (tmp / "d.iso").write_bytes(data)
    sound = audio(300, 1)
    (tmp / "a.bin").write_bytes(sound)
    (tmp / "mixed.cue").write_text(
        'FILE "d.iso" BINARY\n  TRACK 01 MODE1/2048\n    INDEX 01 00:00:00\n'
        'FILE "a.bin" BINARY\n  TRACK 02 AUDIO\n    INDEX 00 00:00:00\n'
        '    INDEX 01 00:02:00\n')
    return tmp / "mixed.cue", data, sound


def test_a_mixed_mode_disc_keeps_its_data_and_its_audio_bit_exact(tmp_path, profiles,
                                                                   settings):
    cue, data, sound = mixed_disc(tmp_path)
    record = image(cue, profiles["cd"], "MIX-1", settings, out_dir=tmp_path / "job")
    job = tmp_path / "job"
    assert record.outcome == Outcome.SUCCESS.value, record.reason
    assert (job / "image.iso").read_bytes() == data
    # the audio track from its pregap on, byte for byte as in the BIN
    assert (job / "track02.bin").read_bytes() == sound
    assert record.disc is not None and record.disc["disc_class"] == DiscClass.MIXED_MODE
    assert record.image_tracks == [1]
    track = record.tracks[0]
    assert track["number"] == 2 and track["index1"] == 150 and track["sectors"] == 300
    assert track["digests"]["sha256"] == hashlib.sha256(sound).hexdigest()
    # the CUE sheet beside the image describes the same disc
    again = read_cue(job / "disc.cue").disc
    assert [(t.number, t.mode, t.start, t.length) for t in again.tracks] == \
        [(t.number, t.mode, t.start, t.length) for t in read_cue(cue).disc.tracks]


def test_an_audio_cd_has_no_image_and_every_track_bit_exact(tmp_path, profiles, settings):
    from workbench.optical import accuraterip
    tracks = [audio(120, n) for n in (1, 2, 3)]
    lines = []
    for n, sound in enumerate(tracks, 1):
        (tmp_path / f"t{n}.bin").write_bytes(sound)
        index0 = "    INDEX 00 00:00:00\n" if n == 2 else ""  # track 2: 30 sectors of pregap
        index1 = "00:00:30" if n == 2 else "00:00:00"
        lines.append(f'FILE "t{n}.bin" BINARY\n  TRACK {n:02d} AUDIO\n{index0}'
                     f'    INDEX 01 {index1}\n')
    (tmp_path / "audio.cue").write_text("".join(lines))
    record = image(tmp_path / "audio.cue", profiles["cd"], "CDDA-1", settings,
                   out_dir=tmp_path / "job")
    assert record.outcome == Outcome.SUCCESS.value, record.reason
    assert record.image == "" and not (tmp_path / "job" / "image.map").exists()
    assert record.disc is not None and record.disc["disc_class"] == DiscClass.AUDIO
    for n, sound in enumerate(tracks, 1):
        assert (tmp_path / "job" / f"track{n:02d}.bin").read_bytes() == sound
    assert [t["number"] for t in record.tracks] == [1, 2, 3]
    # AccurateRip counts track 2's pregap as the end of track 1
    want = accuraterip.track_checksums(tracks[0] + tracks[1][:30 * RAW], 1, 3, 1).to_dict()
    assert record.tracks[0]["checksums"] == want
    want = accuraterip.track_checksums(tracks[1][30 * RAW:], 2, 3, 2).to_dict()
    assert record.tracks[1]["checksums"] == want
    assert record.disc["accuraterip_id"].startswith("dBAR-003-")
    # CTDB: a CRC-32 of the disc's audio less CUETools' first and last strides
    import zlib
    whole = b"".join(tracks)
    lo, hi = accuraterip.ctdb_window(len(whole) // 4)
    assert record.disc["ctdb_crc"] == f"{zlib.crc32(whole[lo * 4:hi * 4]):08x}"


@pytest.mark.skipif(not tool("genisoimage"), reason="genisoimage not installed")
def test_a_two_session_disc_keeps_every_session_and_the_gap_is_not_bad(tmp_path, profiles,
                                                                       settings):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    (one / "first.txt").write_text("session one\n")
    s1 = tmp_path / "s1.iso"
    subprocess.run(["genisoimage", "-quiet", "-R", "-o", str(s1), str(one)], check=True)
    end1 = s1.stat().st_size // 2048
    start2 = end1 + FIRST_SESSION_GAP
    two.mkdir()
    (two / "second.txt").write_text("session two\n")
    s2 = tmp_path / "s2.iso"
    subprocess.run(["genisoimage", "-quiet", "-R", "-C", f"0,{start2}", "-M", str(s1),
                    "-o", str(s2), str(two)], check=True)
    (tmp_path / "two.cue").write_text(
        'REM SESSION 01\nFILE "s1.iso" BINARY\n  TRACK 01 MODE1/2048\n    INDEX 01 00:00:00\n'
        'REM SESSION 02\nFILE "s2.iso" BINARY\n  TRACK 02 MODE1/2048\n    INDEX 01 00:00:00\n')
    record = image(tmp_path / "two.cue", profiles["cd"], "MS-1", settings,
                   out_dir=tmp_path / "job")
    job = tmp_path / "job"
    assert record.outcome == Outcome.SUCCESS.value, record.reason
    assert record.disc is not None and record.disc["disc_class"] == DiscClass.MULTI_SESSION
    img = (job / "image.iso").read_bytes()
    assert len(img) == (start2 + s2.stat().st_size // 2048) * 2048
    assert img[:end1 * 2048] == s1.read_bytes()
    assert img[start2 * 2048:] == s2.read_bytes()
    # the gap is outside the domain: not read, not bad, left non-tried in the map
    assert record.bytes_bad == 0 and record.bad_sector_count == 0
    rmap = RescueMap.load(job / "image.map")
    assert rmap.status_at(end1 * 2048) == "?" and rmap.status_at(start2 * 2048) == "+"
    # a digest for each session, as PREMIS will carry it
    digests = {d["session"]: d["sha256"] for d in record.disc["session_digests"]}
    assert digests == {1: hashlib.sha256(s1.read_bytes()).hexdigest(),
                       2: hashlib.sha256(s2.read_bytes()).hexdigest()}
    # isoinfo, reading session 2 at its start, lists both sessions' files
    listing = subprocess.run(["isoinfo", "-R", "-f", "-i", str(job / "image.iso"),
                              "-T", str(start2)], capture_output=True, text=True).stdout
    assert "/second.txt" in listing and "/first.txt" in listing


def test_a_flat_two_session_image_is_not_cut_to_its_first_volume(tmp_path, profiles,
                                                                 settings):
    """No TOC (a loop device, a plain file): the whole device is imaged; session 1's
    volume size must not trim session 2 away, nor may it make the rest bad."""
    first = iso(tmp_path).read_bytes()
    flat = tmp_path / "flat.iso"
    flat.write_bytes(first + bytes(2048 * 40) + first)  # a second volume descriptor set
    record = image(flat, profiles["cd"], "FLAT-1", settings, out_dir=tmp_path / "job")
    assert record.size == flat.stat().st_size
    assert (tmp_path / "job" / "image.iso").read_bytes() == flat.read_bytes()
    assert record.outcome == Outcome.SUCCESS.value


class _Disc(Source):
    """A disc in a drive, made in the test: its TOC and how its raw reads behave."""

    def __init__(self, disc: Disc, raw: dict[int, bytes] | None = None,
                 unstable: set[int] | None = None, failing: set[int] | None = None) -> None:
        super().__init__()
        self.disc, self.raw = disc, raw or {}
        self.unstable, self.failing = unstable or set(), failing or set()
        self.path, self.sector_size = "test-disc", 2048
        self.size = disc.leadout * 2048
        self.identity = DriveIdentity(path="test-disc", model="Test drive")
        self._n = 0

    def read(self, pos: int, size: int) -> bytes:
        raise ReadError(pos, size)

    def read_raw(self, lba: int, count: int) -> bytes:
        out = b""
        for k in range(lba, lba + count):
            if k in self.failing:
                raise ReadError(k * 2048, 2048)
            sector = self.raw.get(k, bytes([k % 251]) * RAW)
            if k in self.unstable:
                self._n += 1
                sector = bytes([self._n % 256]) * RAW
            out += sector
        return out


def _audio_disc(length: int = 60) -> Disc:
    return Disc(tracks=[Track(1, 1, Mode.AUDIO.value, 0, length)],
                sessions=[Session(1, 1, 1, length)])


def test_audio_sectors_whose_reads_never_agree_make_the_carrier_partial(tmp_path, profiles,
                                                                        settings):
    source = _Disc(_audio_disc(), unstable={7})
    record = image_from(source, profiles["cd"], "UNV-1", settings, tmp_path / "job")
    assert record.outcome == Outcome.PARTIAL.value
    assert record.reason is not None and record.reason.code == "audio_unverified"
    assert record.tracks[0]["unverified"] == [[7, 1]]


def test_unreadable_audio_sectors_are_named_and_silent(tmp_path, profiles, settings):
    source = _Disc(_audio_disc(), failing={10, 11})
    record = image_from(source, profiles["cd"], "UNR-1", settings, tmp_path / "job")
    assert record.outcome == Outcome.PARTIAL.value
    assert record.reason is not None and record.reason.code == "tracks_unreadable"
    assert record.tracks[0]["unreadable"] == [[10, 2]]
    data = (tmp_path / "job" / "track01.bin").read_bytes()
    assert data[10 * RAW:12 * RAW] == bytes(2 * RAW)
    assert data[12 * RAW:13 * RAW] == bytes([12]) * RAW


def test_a_blank_disc_fails_as_blank(tmp_path, profiles, settings):
    source = _Disc(Disc(blank=True))
    record = image_from(source, profiles["cd"], "BLANK-1", settings, tmp_path / "job")
    assert record.outcome == Outcome.FAILED.value
    assert record.reason is not None and record.reason.code == "blank"


def test_another_disc_in_a_begun_job_folder_is_refused(tmp_path, profiles, settings):
    image_from(_Disc(_audio_disc(60)), profiles["cd"], "TOC-1", settings, tmp_path / "job")
    before = (tmp_path / "job" / "job.json").read_bytes()
    with pytest.raises(Refused):
        image_from(_Disc(_audio_disc(61)), profiles["cd"], "TOC-1", settings,
                   tmp_path / "job")
    assert (tmp_path / "job" / "job.json").read_bytes() == before


def test_a_cancelled_disc_read_resumes_and_keeps_finished_tracks(tmp_path, profiles,
                                                                 settings):
    disc = Disc(tracks=[Track(1, 1, "audio", 0, 40), Track(2, 1, "audio", 40, 40)],
                sessions=[Session(1, 1, 2, 80)])
    cancel = threading.Event()
    source = _Disc(disc)
    original = source.read_raw

    def read_then_cancel(lba: int, count: int) -> bytes:
        if lba >= 40:
            cancel.set()
        return original(lba, count)
    source.read_raw = read_then_cancel  # type: ignore[method-assign]
    first = image_from(source, profiles["cd"], "RES-1", settings, tmp_path / "job",
                       cancel=cancel)
    assert first.outcome == Outcome.ABORTED.value
    assert [t["number"] for t in first.tracks if t["done"]] == [1]
    again = image_from(_Disc(disc), profiles["cd"], "RES-1", settings, tmp_path / "job")
    assert again.outcome == Outcome.SUCCESS.value
    assert [t["number"] for t in again.tracks] == [1, 2]


@pytest.mark.parametrize("offset", [6, -30, 667])
def test_the_read_offset_is_corrected(offset):
    """A drive with a read offset of +N samples gives each sample N samples late: the
    reader reads N x 4 bytes further on, and the disc's bytes come out as they are."""
    sectors = 20
    truth = audio(sectors, 9)

    # the drive's stream: sample s of the disc is at s + offset in what it gives
    stream = (bytes(offset * 4) + truth)[:len(truth)] if offset > 0 else \
        truth[-offset * 4:] + bytes(-offset * 4)

    class Late(_Disc):
        def read_raw(self, lba: int, count: int) -> bytes:
            return stream[lba * RAW:(lba + count) * RAW]

    disc = Disc(tracks=[Track(1, 1, "audio", 0, sectors)], sessions=[Session(1, 1, 1, sectors)])
    reader = TrackReader(Late(disc), offset, sectors, 3)
    got = reader._shifted(0, sectors)
    # what the corrected read gives is the disc's own audio, where the drive could reach
    lo, hi = (0, len(truth) - offset * 4) if offset > 0 else (-offset * 4, len(truth))
    assert got[lo:hi] == truth[lo:hi]


def test_a_disc_migrates_into_a_valid_bag_with_every_track(tmp_path, profiles, settings):
    import bagit

    from workbench.station import Station
    cue, _, sound = mixed_disc(tmp_path)
    result = Station(settings).migrate(str(cue), profiles["cd"], "BAG-1")
    assert result.bag is not None
    data = result.bag / "data"
    assert sorted(p.name for p in data.iterdir()) == \
        ["disc.cue", "image.iso", "image.map", "track02.bin"]
    assert (data / "track02.bin").read_bytes() == sound
    bagit.Bag(str(result.bag)).validate()  # bagit-python, every payload byte
    premis = (result.bag / "metadata" / "premis.xml").read_text()
    assert hashlib.sha256(sound).hexdigest() in premis
    job = json.loads((result.bag / "metadata" / "job.json").read_text())
    assert job["disc"]["disc_class"] == "mixed_mode"
    assert not os.path.exists(tmp_path / "staging" / "BAG-1" / "track02.bin")


def test_rewritable_discs_come_straight_out_of_a_report(tmp_path, profiles, settings):
    """Disc type, kind and class reach the ledger: `report --by disc_kind` has a
    rewritable row, and floppies have no disc columns at all."""
    from workbench.ledger.db import connect
    from workbench.ledger.query import statistics
    from workbench.ledger.record import record_job
    rw = Disc(tracks=[Track(1, 1, "audio", 0, 30)], sessions=[Session(1, 1, 1, 30)],
              disc_type="CD-RW")
    pressed = Disc(tracks=[Track(1, 1, "audio", 0, 31)], sessions=[Session(1, 1, 1, 31)],
                   disc_type="CD-ROM")
    con = connect(tmp_path / "ledger.sqlite")
    for item, disc in (("RW-1", rw), ("ROM-1", pressed)):
        rec = image_from(_Disc(disc), profiles["cd"], item, settings, tmp_path / item)
        record_job(con, rec, tmp_path / item)
    kinds = {r.key: r for r in statistics(con, "disc_kind")}
    assert kinds["rewritable"].carriers == 1 and kinds["rewritable"].succeeded == 1
    assert kinds["pressed"].carriers == 1
    classes = {r.key: r.carriers for r in statistics(con, "disc_class")}
    assert classes == {"audio": 2}
    types = {r.key: r.carriers for r in statistics(con, "disc_type")}
    assert types == {"CD-RW": 1, "CD-ROM": 1}


def test_the_same_disc_under_the_next_item_id_is_refused(tmp_path, profiles, settings):
    """The disc was not changed: the TOC of the last carrier, under another ID, is
    refused before anything is written; the technician may say it is another copy."""
    from workbench.station import Station
    cue, _, _ = mixed_disc(tmp_path)
    with Station(settings) as station:
        station.image(str(cue), profiles["cd"], "FIRST-1")
        with pytest.raises(Refused) as refused:
            station.image(str(cue), profiles["cd"], "SECOND-1")
        assert "FIRST-1" in refused.value.message()
        assert not (settings.paths.staging / "SECOND-1").exists()
        station.another_copy = True
        result = station.image(str(cue), profiles["cd"], "SECOND-1")
        assert result.record.outcome == Outcome.SUCCESS.value


class _Drive(_Disc):
    """A disc drive that can be slowed down and opens its tray."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.speeds: list[str] = []
        self.ejected = 0

    def slow_down(self) -> str:
        self.speeds.append(f"{8 >> len(self.speeds)}x")
        return self.speeds[-1]

    def eject(self) -> bool:
        self.ejected += 1
        return True


def test_a_drive_reads_more_slowly_after_errors_and_opens_its_tray_when_done(
        tmp_path, profiles, settings, monkeypatch):
    import workbench.imaging.engine as engine
    drive = _Drive(_audio_disc(), failing={10}, unstable={20})
    monkeypatch.setattr(engine, "open_source", lambda *a, **k: drive)
    record = image("drive", profiles["cd"], "SLOW-1", settings, out_dir=tmp_path / "job")
    assert record.outcome == Outcome.PARTIAL.value
    # once for the track, at its first trouble, and recorded with the reason
    assert drive.speeds == ["8x"]
    assert record.tracks[0]["speed_changes"] == [
        "read speed lowered to 8x after a read error at LBA 0"]
    assert drive.ejected == 1 and record.runs[-1].ejected

    # a flat data disc: the data passes slow the drive at their first failing read
    data = _Drive(Disc(tracks=[Track(1, 1, "mode1", 0, 64)],
                       sessions=[Session(1, 1, 1, 64)]))
    data.read = lambda pos, size: (_ for _ in ()).throw(ReadError(pos, size)) \
        if pos <= 30 * 2048 < pos + size else bytes(size)  # type: ignore[method-assign]
    monkeypatch.setattr(engine, "open_source", lambda *a, **k: data)
    rec = image("drive", profiles["cd"], "SLOW-2", settings, out_dir=tmp_path / "job2",
                retries=0)
    assert rec.runs[-1].speed_changes and data.speeds[0] == "8x"
    assert "after a read error at byte" in rec.runs[-1].speed_changes[0]


def test_a_failed_disc_stays_in_the_drive(tmp_path, profiles, settings, monkeypatch):
    import workbench.imaging.engine as engine
    drive = _Drive(Disc(blank=True))
    monkeypatch.setattr(engine, "open_source", lambda *a, **k: drive)
    record = image("drive", profiles["cd"], "BLANK-2", settings, out_dir=tmp_path / "job")
    assert record.outcome == Outcome.FAILED.value and drive.ejected == 0


def test_a_batch_waits_for_the_next_disc_in_the_same_drive(tmp_path, profiles, settings):
    """The drive (here a CUE sheet standing for it) still holds the last item's disc: the
    wait ends when another disc is in, and gives up (refused) when none comes."""
    from dataclasses import replace

    from workbench.station import Station
    from workbench.station.drives import wait_for_next_disc
    cue, _, _ = mixed_disc(tmp_path)
    (tmp_path / "b.bin").write_bytes(audio(50, 7))
    other = 'FILE "b.bin" BINARY\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'
    with Station(settings) as station:
        station.image(str(cue), profiles["cd"], "Q-1")
        cancel = threading.Event()
        told: list[str] = []

        def change_disc() -> None:
            (tmp_path / "next.cue").write_text(other)
            os.replace(tmp_path / "next.cue", cue)
        swap = threading.Timer(0.3, change_disc)
        swap.start()
        wait_for_next_disc(settings, cue, "Q-1", 10, cancel, lambda: told.append("wait"),
                           poll=0.05)
        swap.join()
        assert told == ["wait"]  # said once, then waited
        assert read_cue(cue).disc.tracks[0].audio  # it came back when the disc had changed
        station.image(str(cue), profiles["cd"], "Q-2")
    impatient = replace(settings, next_disc_wait_seconds=0.2)
    with Station(impatient) as station, pytest.raises(Refused) as refused:
        station.wait_for_next_disc(str(cue), "Q-2")
    assert "Q-2" in refused.value.message()


def test_an_unattended_batch_does_not_image_one_disc_under_two_ids(tmp_path):
    """`queue --yes` with two rows on one drive: the second waits for another disc and,
    when none comes, is reported and left for later; the first is done."""
    from tests.conftest import workbench_cmd
    cue, _, _ = mixed_disc(tmp_path)
    (tmp_path / "workbench.toml").write_text("[optical]\nnext_disc_wait_seconds = 1\n")
    (tmp_path / "batch.csv").write_text(f"item,profile,source\nB-1,cd,{cue}\nB-2,cd,{cue}\n")
    out = workbench_cmd("queue", "batch.csv", "--yes", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "Waiting for the next disc" in out.stdout
    assert "No other disc came into" in out.stderr and "B-1" in out.stderr
    assert json.loads((tmp_path / "staging" / "B-1" / "job.json").read_text())["outcome"] \
        == "success"
    assert not (tmp_path / "staging" / "B-2").exists()


@pytest.mark.parametrize("answer", ["accurate", "absent", "unreachable"])
def test_accuraterip_is_asked_when_the_station_allows(tmp_path, profiles, settings,
                                                      monkeypatch, answer):
    """The station's [optical] online_lookup: AccurateRip's answer (a dBAR file as the server
    sends it, recorded here from our own checksums) is kept per track; no entry or no
    network is recorded and never fails the carrier."""
    import struct
    from dataclasses import replace

    from workbench.optical import accuraterip
    tracks = [audio(500, n) for n in (1, 2)]
    for n, sound in enumerate(tracks, 1):
        (tmp_path / f"t{n}.bin").write_bytes(sound)
    (tmp_path / "a.cue").write_text("".join(
        f'FILE "t{n}.bin" BINARY\n  TRACK {n:02d} AUDIO\n    INDEX 01 00:00:00\n'
        for n in (1, 2)))
    disc = read_cue(tmp_path / "a.cue").disc
    ids = accuraterip.disc_ids(disc)
    sums = [accuraterip.track_checksums(tracks[0], 1, 2, 1),
            accuraterip.track_checksums(tracks[1], 2, 2, 2)]
    body = struct.pack("<BIII", 2, ids.id1, ids.id2, ids.cddb) + b"".join(
        struct.pack("<BII", 7, s.v1, s.frame450 or 0) for s in sums)
    asked: list[str] = []

    def fetch(url: str, timeout: float = 10) -> bytes | None:
        asked.append(url)
        if answer == "unreachable":
            raise accuraterip.LookupFailed("error.accuraterip_lookup", url=url,
                                           reason="no route to host")
        if answer == "absent":
            return None
        if "cuetools" in url:  # CTDB's answer, in the shape db.cue.tools gives
            crc = record_crc[0]
            return (f'<ctdb xmlns="http://db.cuetools.net/ns/mmd-1.0#"><entry id="1" '
                    f'confidence="5" crc32="{crc}" trackcrcs="0 0" /></ctdb>').encode()
        return body
    from workbench.optical import ctdb
    whole = tracks[0] + tracks[1]
    sums_of_disc = accuraterip.checksum_disc(
        disc, lambda lba, n: whole[lba * RAW:(lba + n) * RAW])
    record_crc = [f"{sums_of_disc.ctdb_crc:08x}"]
    monkeypatch.setattr(accuraterip, "fetch_url", fetch)
    record = image(tmp_path / "a.cue", profiles["cd"], "AR-1",
                   replace(settings, online_lookup=True), out_dir=tmp_path / "job")
    assert record.outcome == Outcome.SUCCESS.value
    assert asked == [ids.url, ctdb.lookup_url(disc)]
    assert record.disc is not None
    if answer == "accurate":
        assert [t["accuraterip"]["verdict"] for t in record.tracks] == ["accurate"] * 2
        assert record.tracks[0]["accuraterip"]["confidence"] == 7
        assert record.disc["ctdb"]["verdict"] == "accurate"
        assert record.disc["ctdb"]["confidence"] == 5
    elif answer == "absent":
        assert [t["accuraterip"]["verdict"] for t in record.tracks] == \
            ["not_in_database"] * 2
    else:
        assert record.disc["accuraterip_lookup"].startswith("failed")
        assert "no route to host" in record.disc["accuraterip_lookup"]
    # without the setting nothing is asked
    asked.clear()
    image(tmp_path / "a.cue", profiles["cd"], "AR-2", settings, out_dir=tmp_path / "job2")
    assert asked == []


def test_reads_the_drive_flags_with_c2_errors_never_count(tmp_path, profiles, settings):
    """Two reads that agree but carry C2 error pointers are not proof: the sector is
    read again until clean reads agree, or it is unverified."""
    class C2Drive(_Disc):
        def __init__(self, disc: Disc, flaky: int, bad: int) -> None:
            super().__init__(disc)
            self.flagged = {flaky: 3, bad: 99}  # reads flagged before clean ones come

        def read_raw_c2(self, lba: int, count: int) -> tuple[bytes, bytes | None]:
            c2 = bytearray(294 * count)
            for k in range(lba, lba + count):
                if self.flagged.get(k, 0) > 0:
                    self.flagged[k] -= 1
                    c2[(k - lba) * 294] = 0x80
            return self.read_raw(lba, count), bytes(c2)

    source = C2Drive(_audio_disc(60), flaky=5, bad=40)
    record = image_from(source, profiles["cd"], "C2-1", settings, tmp_path / "job")
    track = record.tracks[0]
    assert track["unverified"] == [[40, 1]]  # never a clean read: unverified
    assert track["c2_reads"] > 0
    assert record.outcome == Outcome.PARTIAL.value
    assert record.reason is not None and record.reason.code == "audio_unverified"
    data = (tmp_path / "job" / "track01.bin").read_bytes()
    assert data[5 * RAW:6 * RAW] == bytes([5]) * RAW  # re-read clean, and kept


def test_a_hidden_track_before_track_one_is_kept(tmp_path, profiles, settings):
    """HTOA: audio before track 1's INDEX 01 (the file holds 30 s before it, 2 s of
    them the pregap before LBA 0). The TOC starts track 1 where a drive would (LBA
    2,100), everything the file holds goes into track01.bin (a drive would give silence
    before LBA 0), and AccurateRip counts from INDEX 01."""
    from workbench.optical import accuraterip
    sound = audio(2400, 3)
    (tmp_path / "h.bin").write_bytes(sound)
    (tmp_path / "h.cue").write_text('FILE "h.bin" BINARY\n  TRACK 01 AUDIO\n'
                                    '    INDEX 00 00:00:00\n    INDEX 01 00:30:00\n')
    disc = read_cue(tmp_path / "h.cue").disc
    assert (disc.tracks[0].start, disc.tracks[0].pregap, disc.leadout) == (2100, 2250, 2250)
    record = image(tmp_path / "h.cue", profiles["cd"], "HTOA-1", settings,
                   out_dir=tmp_path / "job")
    assert record.outcome == Outcome.SUCCESS.value
    kept = (tmp_path / "job" / "track01.bin").read_bytes()
    assert kept == sound  # nothing of the file is left out
    assert record.tracks[0]["index1"] == 2250
    want = accuraterip.track_checksums(sound[2250 * RAW:], 1, 1, 1).to_dict()
    assert record.tracks[0]["checksums"] == want


def test_another_recording_with_the_same_toc_is_refused_on_resume(tmp_path, profiles,
                                                                  settings):
    """Two discs with one layout (a TOC says nothing of the sound): a resume compares
    sectors of the tracks already read before it reads on."""
    disc = Disc(tracks=[Track(1, 1, "audio", 0, 40), Track(2, 1, "audio", 40, 40)],
                sessions=[Session(1, 1, 2, 80)])
    cancel = threading.Event()
    first = _Disc(disc)
    original = first.read_raw

    def read_then_cancel(lba: int, count: int) -> bytes:
        if lba >= 40:
            cancel.set()
        return original(lba, count)
    first.read_raw = read_then_cancel  # type: ignore[method-assign]
    image_from(first, profiles["cd"], "SWAP-1", settings, tmp_path / "job", cancel=cancel)
    before = (tmp_path / "job" / "track01.bin").read_bytes()
    other = _Disc(disc, raw={k: bytes([200]) * RAW for k in range(80)})
    with pytest.raises(Refused) as refused:
        image_from(other, profiles["cd"], "SWAP-1", settings, tmp_path / "job")
    assert "track 1" in refused.value.message()
    assert (tmp_path / "job" / "track01.bin").read_bytes() == before
    again = image_from(_Disc(disc), profiles["cd"], "SWAP-1", settings, tmp_path / "job")
    assert again.outcome == Outcome.SUCCESS.value


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_no_room_for_the_audio_tracks_is_refused_before_reading(tmp_path, profiles,
                                                                settings):
    """The audio tracks need 2.1 MB; the staging disk has 1.2 MB: refused up front (exit
    6 with the free-space check), nothing half-read; with room, the same command works."""
    from dataclasses import replace

    from tests.conftest import MEDIA
    from tests.test_faults import tmpfs
    from workbench.station import Station
    with tmpfs(tmp_path / "small", "size=1200k") as small:
        tight = replace(settings, paths=replace(settings.paths, staging=small))
        with Station(tight) as station, pytest.raises(Refused) as refused:
            station.image(str(MEDIA / "audio.drive.toml"), profiles["cd"], "ROOM-1")
        assert "free" in refused.value.message().lower()
        assert not list(small.rglob("track*.bin"))
    with Station(settings) as station:
        result = station.image(str(MEDIA / "audio.drive.toml"), profiles["cd"], "ROOM-1")
    assert result.record.outcome == Outcome.SUCCESS.value


@pytest.mark.parametrize("harm", ["cue edited", "track deleted"])
def test_a_disc_whose_files_changed_in_staging_is_not_bagged(tmp_path, profiles, settings,
                                                             harm):
    """The CUE sheet has digests like the image and the tracks: an edited sheet or a
    missing track stops the bag at verification (exit 4), never a bag of what changed."""
    from tests.conftest import MEDIA
    from workbench.errors import IntegrityFailure
    from workbench.station import Station
    with Station(settings) as station:
        station.image(str(MEDIA / "audio.drive.toml"), profiles["cd"], "HARM-1")
        job = settings.paths.staging / "HARM-1"
        if harm == "cue edited":
            (job / "disc.cue").write_text("junk\n")
        else:
            (job / "track02.bin").unlink()
        with pytest.raises(IntegrityFailure):
            station.accept("HARM-1")
    assert not (settings.paths.bags / "HARM-1").exists()


def test_a_second_drive_reads_only_what_the_first_could_not(tmp_path, profiles, settings):
    """Drive A cannot read sectors 10-11, drive B cannot read 30: together they read the
    whole track. The retry reads only 10-11 again and keeps what A read, 30 included."""
    first = _Disc(_audio_disc(60), failing={10, 11})
    record = image_from(first, profiles["cd"], "TWO-1", settings, tmp_path / "job")
    assert record.tracks[0]["unreadable"] == [[10, 2]]
    second = _Disc(_audio_disc(60), failing={30})
    asked: list[int] = []
    original = second.read_raw

    def noted(lba: int, count: int) -> bytes:
        asked.extend(range(lba, lba + count))
        return original(lba, count)
    second.read_raw = noted  # type: ignore[method-assign]
    again = image_from(second, profiles["cd"], "TWO-1", settings, tmp_path / "job")
    assert again.outcome == Outcome.SUCCESS.value, again.reason
    samples = {15, 30, 45}  # read first to show it is the same disc (30 fails: no proof)
    assert again.tracks[0]["unreadable"] == [] and set(asked) - samples == {10, 11}
    data = (tmp_path / "job" / "track01.bin").read_bytes()
    assert data == b"".join(bytes([k % 251]) * RAW for k in range(60))
    assert again.tracks[0]["digests"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_two_processes_imaging_into_one_out_folder_are_one_at_a_time(tmp_path, profiles,
                                                                     settings):
    """`image --out DIR` is outside the station's item locks: the folder has its own."""
    from workbench.station import Station
    from workbench.station.locks import folder_lock
    out = tmp_path / "elsewhere"
    holder = folder_lock(out.resolve(), "other-station").acquire()
    try:
        with Station(settings) as station, pytest.raises(Refused) as refused:
            station.image_elsewhere(str(tmp_path / "x.cue"), profiles["cd"], "OUT-1", out)
        assert "other-station" in refused.value.message()
    finally:
        holder.release()
    cue, _, _ = mixed_disc(tmp_path)
    with Station(settings) as station:
        record = station.image_elsewhere(str(cue), profiles["cd"], "OUT-1", out)
    assert record.outcome == Outcome.SUCCESS.value
