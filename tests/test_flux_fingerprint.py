"""Telling another disk apart where the first capture read nothing well (issue 14): the
sectors both captures read well may all agree while the disks differ exactly where the
first capture failed. same_disk() also compares the spoilt data of sectors whose CRC
failed, the ID fields, their cyclic order, and where the sectors lie on each track; a
stored fingerprint() compares like the decode it was made of."""

from __future__ import annotations

import json
import random
from dataclasses import replace

from workbench.flux.decode import decode_capture
from workbench.flux.encode import FORMATS, Timing, encode_capture, image_tracks, with_fault
from workbench.flux.fingerprint import fingerprint, same_disk

FMT = replace(FORMATS["ibm.360"], cylinders=4)  # 4 x 2 x 9 x 512: quick
IMAGE = random.Random(4).randbytes(FMT.image_size())
X = (1, 0, 5)  # the sector the two disks differ in
AT = ((1 * 2 + 0) * 9 + 4) * 512


def other_image() -> bytes:
    """The same disk but for sector X (another copy of a title: its serial number)."""
    return IMAGE[:AT] + random.Random(5).randbytes(512) + IMAGE[AT + 512:]


TWO = Timing(revolutions=2, jitter_ns=50)


def decode(image: bytes, timing: Timing = TWO, seed: int = 1, fmt=FMT, **fault):
    specs = image_tracks(image, fmt)
    if fault:
        specs = with_fault(specs, *X, **fault)
    return decode_capture(encode_capture(specs, timing, seed=seed))


def test_the_same_disk_read_again_in_another_drive_matches() -> None:
    old = decode(IMAGE, weak=(0, 1))  # X spoilt on both revolutions
    drive = Timing(revolutions=3, jitter_ns=70, drift=0.01, speed=1.02, index_offset_us=300,
                   index_jitter_us=3)  # another drive: speed, wow, index sensor
    new = decode(IMAGE, drive, seed=9)
    for first in (old, json.loads(json.dumps(fingerprint(old)))):
        match = same_disk(first, new)
        assert not match.other, match.as_dict()
        assert match.data == [71, 0] and match.spoilt == [1, 0]
        assert match.ids == [8, 0] and match.order == [8, 0] and match.angles == [8, 0]


def test_a_disk_differing_where_the_first_read_only_spoilt_data_is_another() -> None:
    """The old comparison (good sectors of both) finds nothing: every one agrees."""
    old = decode(IMAGE, weak=(0, 1))
    new = decode(other_image(), seed=2)
    for first in (old, json.loads(json.dumps(fingerprint(old)))):
        match = same_disk(first, new)
        assert match.data == [71, 0]  # what the old check saw: no difference
        assert match.spoilt == [1, 1] and match.other


def test_a_disk_formatted_otherwise_is_told_by_where_its_sectors_lie() -> None:
    """The first capture never met sector X (its ID and data scratched away), so no
    sector tells: the other disk was formatted with other gaps, and every track shows
    it."""
    old = decode(IMAGE, no_id=(0, 1), weak=(0, 1))
    other = replace(FMT, gap3=40)  # another formatter's GAP3 (the standard is 84)
    new = decode(other_image(), fmt=other, seed=3)
    match = same_disk(old, new)
    assert match.data == [71, 0] and match.spoilt == [0, 0] and match.ids[1] == 0
    assert match.angles == [8, 8] and match.other
    interleaved = decode(other_image(), fmt=replace(FMT, interleave=2), seed=3)
    assert same_disk(fingerprint(old), interleaved).order[1] == 8


def test_two_disks_formatted_alike_differing_only_where_nothing_was_read_cannot_be_told(
        ) -> None:
    """The honest limit: nothing of sector X was read the first time, and both disks
    were formatted alike."""
    old = decode(IMAGE, no_id=(0, 1), weak=(0, 1))
    match = same_disk(old, decode(other_image(), seed=4))
    assert not match.other and match.differ == 0
