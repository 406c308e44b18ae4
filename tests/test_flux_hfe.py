"""HFE (HxC) images end to end (issue 14): our writer makes an HFE v1 image of a capture
(one revolution a track, clocked by the software PLL into cells, as an emulator replays
them); the reader and the decoder give the disk back bit-exact; and an .hfe brought in
goes through the whole station pipeline like an SCP capture: image, map, bag with the
HFE file as the master, ledger."""

from __future__ import annotations

import hashlib
import random
import struct
from pathlib import Path

import pytest

from tests.test_flux_end_to_end import FMT, SECTOR, disk, short_name, station  # noqa: F401
from workbench.flux.decode import decode_capture
from workbench.flux.encode import FORMATS, Timing, encode_capture, image_tracks
from workbench.flux.hfe import hfe_bytes, write_hfe
from workbench.flux.layout import lay_out
from workbench.flux.read import read_capture
from workbench.imaging.mapfile import RescueMap
from workbench.ledger.query import statistics
from workbench.package.bags import check_bag
from workbench.station import Station
from workbench.station import flux as station_flux


@pytest.mark.parametrize("name,rate", [("ibm.720", 250), ("ibm.1440", 500),
                                       ("pc98.n88", 500)])
def test_hfe_written_then_read_decodes_bit_exact(tmp_path: Path, name: str, rate: int) -> None:
    """Drift and jitter in the flux become whole cells in the HFE; an N88-BASIC disk's
    FM track 0 sits on the MFM cell grid (an FM cell is two of them)."""
    fmt = FORMATS[name]
    image = random.Random(3).randbytes(fmt.image_size())
    specs = [s for s in image_tracks(image, fmt) if s.cylinder < 2]
    capture = encode_capture(specs, Timing(revolutions=2, jitter_ns=50, drift=0.02,
                                           speed=1.01), seed=2)
    write_hfe(capture, tmp_path / "disk.hfe", rate)
    back = read_capture(tmp_path / "disk.hfe")
    assert back.source_format == "hfe" and sorted(back.tracks) == sorted(capture.tracks)
    assert all(len(t.revolutions) == 1 for t in back.tracks.values())
    layout = lay_out(decode_capture(back))
    size = sum(fmt.at(c, h).track_bytes for c in range(2) for h in range(2))
    assert all(s.good for s in layout.slots) and layout.image_bytes() == image[:size]


def test_hfe_layout_is_hxc_v1(tmp_path: Path) -> None:
    """The bytes as the HxC layout has them: header, track list in block 1, track data
    from block 2 in 512-byte blocks, 256 bytes of each side, bits least significant
    first."""
    fmt = FORMATS["ibm.720"]
    specs = image_tracks(bytes(fmt.image_size()), fmt)[:2]  # cylinder 0, both sides
    data = hfe_bytes(encode_capture(specs, Timing(revolutions=1)), 250)
    sig, rev, cyls, sides, enc, rate, rpm, mode, _, table = struct.unpack_from(
        "<8s4B2H2BH", data)
    assert (sig, rev, cyls, sides, enc, rate, rpm, mode, table) == (
        b"HXCPICFE", 0, 1, 2, 0, 250, 300, 0, 1)
    block, length = struct.unpack_from("<2H", data, 512)
    assert block == 2 and length == 2 * 12500  # 200 ms at 500,000 cells a second
    assert len(data) == 1024 + 512 * ((12500 + 255) // 256)


def test_an_hfe_capture_through_the_station_to_the_bag(disk, station: Station,  # noqa: F811
                                                       tmp_path: Path) -> None:
    """The end-to-end disk (5.25-inch 2D, FAT12) as an HFE of its second revolution (on
    which the weak sector reads): the image, the map with the lost sector, the bag with
    the .hfe as the master and the damaged file named, the method in the ledger."""
    image, lost, capture = disk
    write_hfe(capture, tmp_path / "disk.hfe", 250, revolution=1)
    result = station_flux.image_flux(station, "HFE-1", station.profiles["fd525-2d"],
                                     tmp_path / "disk.hfe")
    record = result.record
    assert record.outcome == "partial", record.reason
    assert record.bad_ranges == [[lost * SECTOR, SECTOR]]
    expected = image[:lost * SECTOR] + bytes(SECTOR) + image[(lost + 1) * SECTOR:]
    assert (result.job_dir / "image.img").read_bytes() == expected
    assert RescueMap.load(result.job_dir / "image.map").ranges(("-",)) == [
        (lost * SECTOR, SECTOR)]
    assert record.flux is not None and record.flux["format"] == "hfe"
    assert record.flux["revolutions"] == 1 and record.flux["fits"] == ["fd525-2d"]
    assert [f["file"] for f in record.flux["files"]] == ["flux/import/disk.hfe"]

    accepted = station.accept("HFE-1", stage=False)
    assert accepted.bag is not None
    check_bag(accepted.bag)
    bagged = accepted.bag / "data" / "flux" / "import" / "disk.hfe"
    assert hashlib.sha256(bagged.read_bytes()).digest() == \
        hashlib.sha256((tmp_path / "disk.hfe").read_bytes()).digest()
    formats = (accepted.bag / "metadata" / "formats.json").read_text()
    assert "/LEDGER.TXT" in formats and short_name("LEDGER.TXT")
    (row,) = statistics(station.con, "media")
    assert (row.carriers, row.partial) == (1, 1)
    assert station_flux.method_of(station, "HFE-1") == "flux"
    assert FMT.cylinders == 40
