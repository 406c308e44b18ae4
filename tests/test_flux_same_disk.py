"""One disk, two capture formats: a SuperCard Pro image and a KryoFlux stream set of the
same flux decode to the same sectors (issue 14: "KryoFlux and SCP captures of the same
disk decode the same"). The KryoFlux set is resampled to KryoFlux's own clock, as a real
KryoFlux writes it, so the two files hold different tick values."""

from __future__ import annotations

import random

from workbench.flux.decode import decode_capture
from workbench.flux.encode import FORMATS, Timing, encode_capture, image_tracks, with_fault
from workbench.flux.kryoflux import write_kryoflux
from workbench.flux.read import read_capture
from workbench.flux.scp import write_scp


def sectors(tracks):
    return {(t.cylinder, t.head, s.id.r): (s.data, s.good, s.seen, s.disagree)
            for t in tracks for s in t.sectors}


def test_scp_and_kryoflux_of_the_same_disk_decode_the_same(tmp_path):
    fmt = FORMATS["pc98.n88"]  # FM track 0 and MFM elsewhere: both decoders in play
    image = random.Random(98).randbytes(fmt.image_size())
    specs = [s for s in image_tracks(image, fmt) if s.cylinder < 3]
    specs = with_fault(specs, 1, 0, 5, weak=(0, 2))  # good on revolution 1 only
    specs = with_fault(specs, 2, 1, 9, weak=(0, 1, 2))  # bad on every revolution
    capture = encode_capture(specs, Timing(revolutions=3, jitter_ns=40, drift=0.02), seed=7)
    write_scp(capture, tmp_path / "disk.scp")
    write_kryoflux(capture, tmp_path / "streams")  # KryoFlux's ~24.03 MHz clock
    scp, kf = read_capture(tmp_path / "disk.scp"), read_capture(tmp_path / "streams")
    assert (scp.source_format, kf.source_format) == ("scp", "kryoflux")
    assert scp.tracks[0, 0].sample_hz != kf.tracks[0, 0].sample_hz
    from_scp, from_kf = sectors(decode_capture(scp)), sectors(decode_capture(kf))
    assert from_scp == from_kf
    assert len(from_scp) == 26 * 6
    # and both are the disk: every sector but the one bad everywhere, bit-exact
    for (c, h, r), (data, good, seen, _) in from_scp.items():
        size = 128 if (c, h) == (0, 0) else 256
        start = 26 * 128 + ((c * 2 + h) - 1) * 26 * 256 + (r - 1) * size \
            if (c, h) != (0, 0) else (r - 1) * 128
        if (c, h, r) == (2, 1, 9):
            assert data is None and good == 0 and seen == 3
        else:
            assert data == image[start:start + size], (c, h, r)
    assert from_scp[1, 0, 5][1:3] == (1, 3)  # the weak sector: good on one of three
