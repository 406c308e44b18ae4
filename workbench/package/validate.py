"""Validating a bag: RFC 8493, our BagIt profile, and bagit-python as an independent
second opinion. bagit-python runs in a child process: it changes the working directory
and uses multiprocessing, neither of which may touch the caller's threads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workbench.package.bags import check_bag
from workbench.package.profile import BagProfile


def bagit_python(bag: Path, fast: bool = False) -> list[str]:
    args = [sys.executable, "-m", "bagit", "--validate", "--processes", "1", str(bag)]
    if fast:
        args.insert(4, "--fast")
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode == 0:
        return []
    lines = [ln.split(" - ", 2)[-1] for ln in done.stderr.splitlines() if ln.strip()]
    return [f"bagit-python: {ln}" for ln in lines[-20:]] or ["bagit-python: invalid"]


def validate_bag(bag: Path, profile: BagProfile, fast: bool = False,
                 independent: bool = True) -> list[str]:
    """Every problem with bag (empty: valid). fast: completeness and Payload-Oxum only,
    no payload re-hash (tag manifests are always checked)."""
    if not (bag / "bagit.txt").is_file():
        return [f"{bag} is not a bag (no bagit.txt)"]
    problems = check_bag(bag, fast=fast)
    problems += profile.check(bag)
    if independent and not problems:
        problems += bagit_python(bag, fast=fast)
    return problems
