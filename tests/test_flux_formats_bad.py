"""Damaged and hostile flux files: each gives a BadInput with a clear message in English and
Japanese (never another exception, a hang or an allocation the file cannot back), and
seeded random mutations of valid files give either a capture or a BadInput."""

from __future__ import annotations

import contextlib
import random
import struct
from pathlib import Path

import pytest

from tests.flux_fixtures import hfe_image, kryoflux_stream, oob, scp_image, synthetic
from workbench.errors import BadInput
from workbench.flux.hfe import parse_hfe
from workbench.flux.kryoflux import stream_bytes, stream_track
from workbench.flux.model import FluxCapture
from workbench.flux.read import read_capture
from workbench.flux.scp import parse_scp, read_scp, scp_bytes

GOOD = {0: [(67000, [1000, 0, 5, 300]), (2600, [400, 2000])],
        1: [(500, [200, 250]), (480, [230, 200])]}


def refused(path: Path, key: str, reader=read_capture) -> BadInput:
    with pytest.raises(BadInput) as err:
        reader(path)
    exc = err.value
    assert exc.key == key, str(exc)
    en, ja = exc.message("en"), exc.message("ja")
    assert str(path) in en and str(path) in ja
    assert "{" not in en and "{" not in ja and en != ja and not en.startswith("flux_formats")
    return exc


def damaged_only(path: Path, key: str, track: tuple[int, int]) -> FluxCapture:
    """One damaged track of a file costs that track only: the rest is read, and the
    track's reason is kept (in English and Japanese, naming the file)."""
    capture = read_capture(path)
    assert track not in capture.tracks and capture.tracks, sorted(capture.tracks)
    damage = capture.damaged[track]
    assert damage.key == key, damage
    en, ja = damage.message("en"), damage.message("ja")
    assert str(path) in en and str(path) in ja and "{" not in en + ja and en != ja
    assert any("damaged" in note for note in capture.notes)
    return capture


def put(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def patch(data: bytes, at: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, *values)
    return bytes(out)


def test_damaged_scp_images(tmp_path):
    good = scp_image(GOOD, nr_revs=2)
    f = tmp_path / "x.scp"
    first = struct.unpack_from("<I", good, 0x10)[0]  # track 0's header
    refused(put(f, b""), "flux_formats.empty_file")
    refused(put(f, b"SCP\x24"), "flux_formats.scp.truncated_header")
    refused(put(f, good[:100]), "flux_formats.scp.truncated_table")
    refused(put(f, good[:first + 10]), "flux_formats.scp.truncated_track")
    damaged_only(put(f, good[:-3]), "flux_formats.scp.offset_past_end", (0, 1))
    refused(put(f, b"XCP" + good[3:]), "flux_formats.scp.bad_magic", read_scp)
    refused(put(f, b"XCP" + good[3:]), "flux_formats.unknown_content")
    refused(put(f, patch(good, 5, "B", 0)), "flux_formats.scp.zero_revolutions")
    damaged_only(put(f, patch(good, 0x14, "<I", len(good) + 100)),
                 "flux_formats.scp.offset_past_end", (0, 1))
    damaged_only(put(f, patch(good, 0x14, "<I", first)), "flux_formats.scp.track_twice",
                 (0, 1))
    refused(put(f, patch(good, 0x10, "<I", 4)), "flux_formats.scp.bad_offset")
    damaged_only(put(f, patch(good, first, "3s", b"TRX")),
                 "flux_formats.scp.bad_track_header", (0, 0))
    damaged_only(put(f, patch(good, first + 3, "B", 9)), "flux_formats.scp.track_number",
                 (0, 0))
    refused(put(f, patch(good, 9, "B", 12)), "flux_formats.scp.cell_width")
    refused(put(f, patch(good, 8, "B", 0x41)), "flux_formats.scp.extended")
    # a cell count the file cannot back: refused before anything is allocated
    damaged_only(put(f, patch(good, first + 8, "<I", 0xFFFFFFFF)),
                 "flux_formats.scp.offset_past_end", (0, 0))
    # both revolutions of track 0 claim all of its cells, and more
    damaged_only(put(f, patch(patch(good, first + 8, "<I", 1000), first + 20, "<2I", 1000,
                              28)), "flux_formats.scp.offset_past_end", (0, 0))
    # every track damaged: the file is refused with the first track's reason
    both = patch(patch(good, first, "3s", b"TRX"), 0x14, "<I", len(good) + 100)
    refused(put(f, both), "flux_formats.scp.bad_track_header")
    # revolutions 1 and 2 claim the cells of all three: more than the file holds
    cells = [150] * 200
    shared = scp_image({0: [(30000, cells)] * 3}, nr_revs=3)
    for r in (1, 2):
        shared = patch(shared, 0x2B0 + 4 + 12 * r + 4, "<2I", 600, 40)
    refused(put(f, shared), "flux_formats.scp.overlap")


def test_absurd_flux_in_scp(tmp_path):
    f = tmp_path / "x.scp"
    # 4000 overflow cells: one interval of 6.5 s
    refused(put(f, scp_image({0: [(262_144_500, [0] * 4000 + [100])]}, nr_revs=1)),
            "flux_formats.absurd_interval")
    # three intervals of 4 s each: a 12 s revolution
    long = [0] * 2441 + [100]
    refused(put(f, scp_image({0: [(480_000_000, long * 3)]}, nr_revs=1)),
            "flux_formats.absurd_revolution")


def test_damaged_kryoflux_streams(tmp_path):
    good = kryoflux_stream()
    f = tmp_path / "track00.0.raw"
    end = good.index(bytes([13, 3, 8, 0]))  # the StreamEnd block
    refused(put(f, good[:end + 6]), "flux_formats.kryoflux.truncated")
    refused(put(f, good[:end]), "flux_formats.kryoflux.no_end")
    info = good.index(bytes([13, 1, 8, 0]), 100)  # the second StreamInfo (position 14)
    refused(put(f, patch(good, info + 4, "<I", 15)), "flux_formats.kryoflux.out_of_sync")
    index = good.index(bytes([13, 2, 12, 0]))
    refused(put(f, patch(good, index + 4, "<I", 99)), "flux_formats.kryoflux.bad_index")
    last = good.rindex(bytes([13, 2, 12, 0]))
    refused(put(f, patch(good, last + 4, "<I", 0)), "flux_formats.kryoflux.bad_index")
    refused(put(f, good.replace(b"sck=24000000.0", b"sck=2400000x.0")),
            "flux_formats.kryoflux.bad_clock")
    refused(put(f, good.replace(b"sck=24000000.0", b"sck=00000024.0")),
            "flux_formats.kryoflux.bad_clock")
    refused(put(f, patch(good, index + 1, "B", 0)), "flux_formats.kryoflux.invalid_block")
    short = good[:index] + oob(2, b"\0\0\0\0") + good[index + 16:]
    refused(put(f, short), "flux_formats.kryoflux.bad_block")
    pulses = b"".join(oob(2, struct.pack("<3I", 0, 0, 0)) for _ in range(300))
    refused(put(f, pulses + oob(3, struct.pack("<2I", 0, 0))),
            "flux_formats.too_many_revolutions")
    refused(put(f, oob(2, struct.pack("<3I", 0, 0, 0)) + b"\x40" * 9 + bytes([13] * 4)),
            "flux_formats.no_revolutions")
    # an interval of 6 s (90 Ovl16 blocks at 24 MHz)
    refused(put(f, oob(2, struct.pack("<3I", 0, 0, 0)) + b"\x0b" * 2300 + b"\x40"
                + oob(2, struct.pack("<3I", 2301, 0, 0)) + bytes([13] * 4)),
            "flux_formats.absurd_interval")


def test_unreadable_paths(tmp_path):
    refused(tmp_path / "nothing", "flux_formats.not_found")
    (tmp_path / "dir.scp").mkdir()
    refused(tmp_path / "dir.scp", "flux_formats.empty_folder")


# --- fuzzing -------------------------------------------------------------------------

def mutations(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    """Seeded damage of the kinds files meet: flipped bytes, cuts, insertions, deletions,
    fields set to extremes, repeated blocks."""
    out = []
    for _ in range(count):
        b = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            kind = rng.randrange(6)
            at = rng.randrange(max(len(b), 1))
            if kind == 0:
                for _ in range(rng.randint(1, 8)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
            elif kind == 1:
                del b[at:]
            elif kind == 2:
                b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
            elif kind == 3:
                del b[at:at + rng.randint(1, 64)]
            elif kind == 4 and at + 4 <= len(b):
                b[at:at + 4] = struct.pack("<I", rng.choice([0, 1, 0xFFFF, 0xFFFFFFFF,
                                                             len(b), len(b) + 1]))
            elif kind == 5:
                chunk = b[at:at + rng.randint(1, 40)]
                b[at:at] = chunk * rng.randint(1, 4)
            if not b:
                break
        out.append(bytes(b))
    return out


def base_capture() -> FluxCapture:
    return synthetic(seed=9, cylinders=2, revs=2, n=60)


def test_fuzzed_scp_images_give_a_capture_or_bad_input():
    rng = random.Random(1401)
    valid = [scp_bytes(base_capture()), scp_image(GOOD, nr_revs=2)]
    outcomes = {"capture": 0, "bad": 0}
    for data in [m for v in valid for m in mutations(v, rng, 200)]:
        try:
            capture = parse_scp(data, Path("fuzz.scp"))
        except BadInput as exc:
            assert "{" not in str(exc)
            outcomes["bad"] += 1
        else:
            assert capture.tracks
            outcomes["capture"] += 1
    assert outcomes["capture"] > 20 and outcomes["bad"] > 20, outcomes


def test_fuzzed_kryoflux_streams_give_a_capture_or_bad_input():
    rng = random.Random(1402)
    valid = [stream_bytes(base_capture().tracks[(0, 1)]), kryoflux_stream()]
    outcomes = {"capture": 0, "bad": 0}
    for data in [m for v in valid for m in mutations(v, rng, 200)]:
        try:
            track, _, _ = stream_track(data, Path("track00.0.raw"), 0, 0)
        except BadInput as exc:
            assert "{" not in str(exc)
            outcomes["bad"] += 1
        else:
            outcomes["capture"] += track is not None
    assert outcomes["capture"] > 20 and outcomes["bad"] > 20, outcomes


def test_fuzzed_hfe_images_give_a_capture_or_bad_input():
    rng = random.Random(1404)
    outcomes = {"capture": 0, "bad": 0}
    for data in mutations(hfe_image({0: 0x04, 1: 0x01, 299: 0x80}), rng, 200):
        try:
            parse_hfe(data, Path("fuzz.hfe"))
        except BadInput as exc:
            assert "{" not in str(exc)
            outcomes["bad"] += 1
        else:
            outcomes["capture"] += 1
    assert outcomes["capture"] > 20 and outcomes["bad"] > 20, outcomes


def test_fuzzed_files_through_read_capture(tmp_path):
    """The entry point too: whatever the bytes, a capture or a BadInput."""
    rng = random.Random(1403)
    scp, kf = scp_bytes(base_capture()), kryoflux_stream()
    for n, data in enumerate(mutations(scp, rng, 40) + mutations(kf, rng, 40)):
        path = tmp_path / f"f{n}" / "track00.0.raw"
        path.parent.mkdir()
        path.write_bytes(data)
        for target in (path, path.parent):
            with contextlib.suppress(BadInput):
                assert read_capture(target).tracks
