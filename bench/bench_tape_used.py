"""Tape.used() on a folder standing in for a tape with 20,000 files in 20 bags: the old
walk (rglob + stat of every file, every call) against the new one (each finished bag's
size kept while it is unchanged). Prints times and the ratio; asserts nothing.

    PYTHONPATH=. .venv/bin/python bench/bench_tape_used.py [FILES]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from workbench.tape.tapes import LABEL, Tape


def old_used(mount: Path) -> int:
    return sum(p.stat().st_size for p in mount.rglob("*") if p.is_file() and p.name != LABEL)


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        mount = Path(tmp) / "T1"
        for i in range(files):
            folder = mount / f"BAG-{i // 1000}" / "data" / f"d{i % 10}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"f{i}.txt").write_bytes(b"x" * (i % 100))
        tape = Tape(mount, "T1", "p", "LTO-8", 10**12)
        t0 = time.perf_counter()
        before = old_used(mount)
        t1 = time.perf_counter()
        first = tape.used()
        t2 = time.perf_counter()
        again = [tape.used() for _ in range(5)]
        t3 = time.perf_counter()
        assert before == first == again[-1]
        old, new_first, new_again = t1 - t0, t2 - t1, (t3 - t2) / 5
        print(f"{files} files: old walk {old * 1000:.0f} ms per call; new: first call "
              f"{new_first * 1000:.0f} ms, each later call {new_again * 1000:.2f} ms "
              f"(x{old / new_again:.0f} faster)")


if __name__ == "__main__":
    main()
