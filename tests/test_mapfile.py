import itertools
import random

import pytest

from workbench.errors import BadInput
from workbench.imaging.mapfile import BLOCK_STATUSES, RescueMap

GNU_MAP = """# Mapfile. Created by GNU ddrescue version 1.27
# Command line: ddrescue -n /dev/sdb image.img image.map
# Start time:   2026-01-01 10:00:00
# Current time: 2026-01-01 10:01:00
# Finished
# current_pos  current_status  current_pass
0x00120000     ?               1
#      pos        size  status
0x00000000  0x00117000  +
0x00117000  0x00000200  -
0x00117200  0x00001000  *
0x00118200  0x00007E00  ?
"""


def check_invariants(m: RescueMap) -> None:
    pos = 0
    for i, b in enumerate(m.blocks):
        assert b.pos == pos and b.size > 0 and b.status in BLOCK_STATUSES
        if i:
            assert m.blocks[i - 1].status != b.status, "neighbours must be merged"
        pos = b.end
    assert pos == m.size


def test_mark_agrees_with_a_byte_model():
    rng = random.Random(7)
    size = 4096
    m = RescueMap(size=size)
    model = ["?"] * size
    for _ in range(3000):
        pos = rng.randrange(size)
        length = rng.randrange(1, 300)
        status = rng.choice(BLOCK_STATUSES)
        m.mark(pos, length, status)
        for i in range(pos, min(size, pos + length)):
            model[i] = status
        check_invariants(m)
    assert "".join(m.status_at(i) for i in range(size)) == "".join(model)
    for status in BLOCK_STATUSES:
        assert m.total(status) == model.count(status)


def test_parse_gnu_map_and_render_round_trip():
    m = RescueMap.parse(GNU_MAP)
    assert m.size == 0x120000 and m.current_pos == 0x120000
    assert m.total("-") == 0x200 and m.total("*") == 0x1000
    assert m.start_time == "2026-01-01 10:00:00"
    again = RescueMap.parse(m.render())
    assert [(b.pos, b.size, b.status) for b in again.blocks] == \
        [(b.pos, b.size, b.status) for b in m.blocks]


def test_old_two_field_status_line_and_fit_to():
    m = RescueMap.parse("0x0 +\n0x0 0x400 +\n")
    assert m.current_pass == 1
    m.fit_to(0x1000)
    assert m.size == 0x1000 and m.total("?") == 0xC00
    with pytest.raises(BadInput):
        m.fit_to(0x800)


@pytest.mark.parametrize("text,line", [
    ("", 0),
    ("0x0 ? 1\n0x0 0x200 +\n0x400 0x200 +\n", 3),  # gap
    ("0x0 ? 1\n0x0 0x200 X\n", 2),  # unknown status
    ("garbage\n", 1),
])
def test_bad_maps_name_the_line(text, line):
    with pytest.raises(BadInput) as err:
        RescueMap.parse(text, "m.map")
    assert f"line {line}" in str(err.value) and "m.map" in str(err.value)


def test_ranges_join_neighbours_of_the_wanted_statuses():
    m = RescueMap.parse(GNU_MAP)
    assert m.ranges(["-"]) == [(0x117000, 0x200)]
    assert m.ranges(["?", "*", "/"]) == [(0x117200, 0x1000 + 0x7E00)]
    assert m.unfinished() == [(0x117000, 0x200 + 0x1000 + 0x7E00)]
    rng = random.Random(3)
    for _ in range(200):
        pos, size = rng.randrange(0x120000), rng.randrange(1, 0x4000)
        m.mark(pos, size, rng.choice(BLOCK_STATUSES))
        for wanted in ("-", "?*/", "?*/-"):
            spans = m.ranges(wanted)
            assert sum(n for _, n in spans) == sum(m.total(s) for s in wanted)
            for (a, n), (b, _) in itertools.pairwise(spans):
                assert a + n < b  # joined: no two spans touch
            for a, n in spans:
                assert m.status_at(a) in wanted and m.status_at(a + n - 1) in wanted
