#!/usr/bin/env python3
"""How long the station takes to start: the CLI (`workbench --training --help`) and the
UI up to its first screen, each in a fresh process, against the 2-second budget.

    .venv/bin/python bench/bench_startup.py [--runs 5]

The UI runs headless (Textual's run_test) in training mode from an empty folder; the
time is from the process's start (interpreter included) to the first screen mounted.
Wall time depends on what else the machine is doing: CPU time (user + system) is printed
beside it. Bytecode is written as a set-up checkout would (PYTHONDONTWRITEBYTECODE off).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 2.0
FIRST_SCREEN = """
import asyncio
from workbench.config import Settings
from workbench.tui.app import WorkbenchApp

async def main():
    app = WorkbenchApp(Settings().for_training())
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        assert type(app.screen).__name__ != "Screen"
asyncio.run(main())
"""


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   timeout=120)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    cases = {"CLI --help": [sys.executable, "-m", "workbench", "--training", "--help"],
             "UI first screen": [sys.executable, "-c", FIRST_SCREEN]}
    with tempfile.TemporaryDirectory() as folder:
        for args in cases.values():  # once to write bytecode and warm the page cache
            timed(args, Path(folder), env)
        for name, args in cases.items():
            samples = [timed(args, Path(folder), env) for _ in range(runs)]
            wall = statistics.median(w for w, _ in samples)
            cpu = statistics.median(c for _, c in samples)
            print(f"{name:16} median {wall:5.2f} s wall, {cpu:5.2f} s CPU "
                  f"({wall / BUDGET:4.0%} of the {BUDGET:.0f} s budget; {runs} runs)")


if __name__ == "__main__":
    main()
