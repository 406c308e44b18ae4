"""Corrupt and fuzzed file systems never crash or hang identification.

Boot sectors, partition tables, volume descriptors and directory entries of the fixtures
are mutated (seeded, so failures reproduce); each case must give a report. The cases run
in a child process with a time limit, so a hang fails the test instead of stalling it.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEDIA = ROOT / "media"

# (image, regions worth mutating: byte ranges of boot sectors, tables, directories)
TARGETS = {
    "fd35-2hd-good.img": [(0, 512), (512, 512 * 10), (19 * 512, 14 * 512), (33 * 512, 4096)],
    "usb-sample.img": [(0, 512), (1 << 20, 512), ((1 << 20) + 512, 8192),
                       ((1 << 20) + 45 * 512, 32 * 512)],
    "cd-sample.iso": [(16 * 2048, 2048), (17 * 2048, 2048), (18 * 2048, 8 * 2048),
                      (26 * 2048, 8 * 2048)],
}
# UDF-only disc made in the run (tests/fsfixtures.udf_only): anchor, descriptors, FSD, FEs
UDF_REGIONS = [(256 * 2048, 2048), (32 * 2048, 6 * 2048), (257 * 2048, 12 * 2048)]
CASES_PER_TARGET = 100


def mutate(data: bytearray, regions: list[tuple[int, int]], rng: random.Random) -> bytearray:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        start, size = rng.choice(regions)
        pos = start + rng.randrange(size)
        kind = rng.random()
        if kind < 0.5:
            out[pos] = rng.randrange(256)
        elif kind < 0.8:  # a plausible-but-wrong little-endian field
            value = rng.choice([0, 1, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, rng.randrange(1 << 32)])
            out[pos:pos + 4] = value.to_bytes(4, "little")
        else:
            out[pos:pos + 32] = bytes(rng.randrange(256) for _ in range(32))
    return out[:len(data)]


def fuzz_main(work: str) -> None:
    """Run every case; print a JSON summary (for the parent test)."""
    sys.path.insert(0, str(ROOT))
    from tests.fsfixtures import udf_only
    from workbench.config import Settings
    from workbench.identify.engine import identify_image
    from workbench.identify.pool import IdentifyPool

    crashes: list[str] = []
    cases = 0
    images = {name: (MEDIA / name).read_bytes() for name in TARGETS}
    images["udf-only.img"] = udf_only(Path(work)).read_bytes()
    targets = {**TARGETS, "udf-only.img": UDF_REGIONS}
    with IdentifyPool(0) as pool:
        for name, regions in targets.items():
            original = bytearray(images[name])
            for seed in range(CASES_PER_TARGET):
                rng = random.Random(f"{name}-{seed}")
                path = Path(work) / f"{seed}-{name}"
                path.write_bytes(mutate(original, regions, rng))
                cases += 1
                try:
                    report = identify_image(path, Settings(), pool=pool, seconds=10)
                    report.summary()
                    for f in report.files:  # never a path that escapes or hides
                        assert all(p not in ("", ".", "..") for p in f.path.split("/")[1:])
                except Exception:
                    crashes.append(f"{name} seed {seed}: {traceback.format_exc(limit=3)}")
                path.unlink()
    print(json.dumps({"cases": cases, "crashes": crashes}))


def test_fuzzed_file_systems_never_crash_or_hang(tmp_path):
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); " \
           f"from tests.test_fuzz import fuzz_main; fuzz_main({str(tmp_path)!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["cases"] == CASES_PER_TARGET * (len(TARGETS) + 1)
    assert result["crashes"] == [], "\n".join(result["crashes"][:5])
