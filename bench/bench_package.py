#!/usr/bin/env python3
"""Packaging and tape staging against the field's tools, side by side, medians.

    .venv/bin/python bench/bench_package.py [--size-mib 2048] [--runs 3] [--dir DIR]
        [--ingest-mib 2048] [--ingest-files 2000] [--only bag|tape|ingest]

1. `workbench bag` of a 2 GiB imaged job (manifests from the imaging digests, profile
   validation with Payload-Oxum, bagit-python --fast) vs copying the image and running
   bagit.make_bag(checksums=["sha256"]). Target: at least 10x faster.
2. `workbench tape write` (sequential write, inline hashing, fsync, page cache dropped,
   read back against the manifests) to a local folder vs `cp -r` of the bag then
   `sha256sum` of the copy. Target: no slower. Note: sha256sum reads the copy from the
   page cache; our read-back reads it from the disk, as a tape read-back must.
3. `workbench ingest` of a folder of 2,000 files (2 GiB) with a sha256sum list beside
   them (copy with digests computed once while reading, checked against the list,
   fsync'ed, bagged, recorded) vs `cp -r` of the folder then `sha256sum -c` of the copy.
   Target: no slower. The page cache is dropped before each run when the bench runs as
   root (/proc/sys/vm/drop_caches), so both read the source from the disk.
   `--virus-db DIR` (a ClamAV database folder, or `test` for the two-signature database
   the tests build) runs ingest twice per round, with the ClamAV check of every file and
   with `[virus_scan] enabled = false`, and prints both against cp -r + sha256sum -c.
   Without it the station's default applies (freshclam's database, when there is one).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list[str] | str, cwd: Path, ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, shell=isinstance(cmd, str), capture_output=True,
                          text=True)
    if done.returncode not in ok:
        sys.exit(f"{cmd} exited {done.returncode}: {done.stderr[-800:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=2048)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--ingest-mib", type=int, default=2048)
    ap.add_argument("--ingest-files", type=int, default=2000)
    ap.add_argument("--only", choices=("bag", "tape", "ingest"), default=None)
    ap.add_argument("--virus-db", default="",
                    help="ClamAV database for the ingest bench ('test': the tests' own)")
    args = ap.parse_args()
    if args.only == "ingest":
        bench_ingest(args)
        return
    wb = [sys.executable, "-m", "workbench"]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        (work / "workbench.toml").write_text('[tape]\npools = ["primary"]\n')
        src = work / "carrier.img"
        block = os.urandom(1 << 20)
        with open(src, "wb") as fh:
            for i in range(args.size_mib):
                fh.write(block[i % 13:] + block[:i % 13])
        run([*wb, "image", str(src), "--profile", "hdd", "--item", "BIG"], work)
        job = work / "staging" / "BIG"
        run([*wb, "identify", str(job / "image.img"), "--out", str(job)], work)
        ours, theirs, tape_ours, tape_theirs = [], [], [], []
        for _ in range(args.runs):
            shutil.rmtree(work / "bags", ignore_errors=True)
            ours.append(run([*wb, "bag", str(job)], work))
            plain = work / "plain"
            shutil.rmtree(plain, ignore_errors=True)
            plain.mkdir()
            theirs.append(run(f"cp {job / 'image.img'} {plain}/ && {sys.executable} -c "
                              f"\"import bagit; bagit.make_bag('{plain}', "
                              f"checksums=['sha256'])\"", work))
            # tape: a fresh stand-in tape each run
            shutil.rmtree(work / "tape", ignore_errors=True)
            (work / "logs" / "tape-catalogue.json").unlink(missing_ok=True)
            run([*wb, "tape", "label", str(work / "tape" / "T1"), "--barcode", "T1",
                 "--pool", "primary"], work)
            os.sync()
            tape_ours.append(run([*wb, "tape", "write"], work))
            shutil.rmtree(work / "cpcopy", ignore_errors=True)
            os.sync()
            tape_theirs.append(run(f"cp -r {work / 'bags' / 'BIG'} {work / 'cpcopy'} && "
                                   f"find {work / 'cpcopy'} -type f -exec sha256sum {{}} +",
                                   work))
    o, t = statistics.median(ours), statistics.median(theirs)
    to, tt = statistics.median(tape_ours), statistics.median(tape_theirs)
    print(f"\n== Packaging a {args.size_mib} MiB image, {args.runs} runs, medians ==")
    print(f"workbench bag                       {o:7.2f} s")
    print(f"cp + bagit.make_bag(sha256)          {t:7.2f} s")
    print(f"speed-up {t / o:.1f}x (target >= 10x: {'MET' if t / o >= 10 else 'NOT MET'})")
    print("\n== Tape copy of the bag to a local folder ==")
    print(f"workbench tape write (+read-back)   {to:7.2f} s")
    print(f"cp -r + sha256sum                   {tt:7.2f} s")
    verdict = "MET" if tt / to >= 1 else "NOT MET"
    print(f"ratio {tt / to:.2f}x (target >= 1.0, no slower: {verdict})")
    if args.only is None:
        bench_ingest(args)


def drop_caches() -> None:
    os.sync()
    if os.geteuid() == 0:
        with contextlib.suppress(OSError):
            Path("/proc/sys/vm/drop_caches").write_text("3\n")


def bench_ingest(args: argparse.Namespace) -> None:
    """A folder of files with a sha256sum list: ingest (copy, check, bag) vs cp -r and
    sha256sum -c."""
    import hashlib
    wb = [sys.executable, "-m", "workbench"]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        (work / "workbench.toml").write_text('[tape]\npools = ["primary"]\n')
        src = work / "masters"
        size = args.ingest_mib << 20
        each = size // args.ingest_files
        block = os.urandom(1 << 20)
        lines = []
        for i in range(args.ingest_files):
            name = f"vol{i // 250:02d}/page{i:05d}.tif"
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            data = (block[i % 97:] + block[:i % 97]) * (each // len(block) + 1)
            data = data[:each]
            (src / name).write_bytes(data)
            lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
        (src / "SHA256SUMS").write_text("".join(lines))
        scanned = bool(args.virus_db)
        unscanned = work / "noscan"
        if scanned:
            db = Path(args.virus_db).resolve() if args.virus_db != "test" else \
                test_database(work / "sigdb")
            config = work / "workbench.toml"
            config.write_text(f'{config.read_text()}[virus_scan]\ndatabase = "{db}"\n')
            unscanned.mkdir()
            (unscanned / "workbench.toml").write_text(
                '[tape]\npools = ["primary"]\n[virus_scan]\nenabled = false\n')
        ours, theirs, plain, clam = [], [], [], []
        for n in range(args.runs):
            drop_caches()
            ours.append(run([*wb, "ingest", str(src), "--item", f"ING-{n}"], work))
            if scanned:
                scan = json.loads((work / "bags" / f"ING-{n}" / "metadata" /
                                   "virus-scan.json").read_text())
                clam.append(float(scan.get("seconds", 0.0)))
                if n == 0:
                    print(f"virus scan: {scan.get('status')}, "
                          f"{scan.get('files_scanned', 0)} files, "
                          f"{scan.get('clamscan_runs', 0)} clamscan runs, "
                          f"{scan.get('reason', '')}")
                drop_caches()
                plain.append(run([*wb, "ingest", str(src), "--item", f"ING-{n}"], unscanned))
                shutil.rmtree(unscanned / "bags", ignore_errors=True)
                shutil.rmtree(unscanned / "staging", ignore_errors=True)
            copy = work / "cpcopy"
            shutil.rmtree(copy, ignore_errors=True)
            drop_caches()
            theirs.append(run(f"cp -r {src} {copy} && cd {copy} && sha256sum -c --quiet "
                              "SHA256SUMS", work))
            shutil.rmtree(work / "bags", ignore_errors=True)  # disk space for the next run
            shutil.rmtree(work / "staging", ignore_errors=True)
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"\n== Ingest of {args.ingest_files} files, {args.ingest_mib} MiB, "
          f"{args.runs} runs, medians ==")
    label = "workbench ingest (copy, check, bag" + (", ClamAV)" if scanned else ")")
    print(f"{label:37}{o:7.2f} s")
    if scanned:
        p = statistics.median(plain)
        print(f"{'workbench ingest, virus scan off':37}{p:7.2f} s")
        print(f"{'  of which clamscan (its record)':37}{statistics.median(clam):7.2f} s")
    print(f"{'cp -r + sha256sum -c':37}{t:7.2f} s")
    verdict = "MET" if t / o >= 1 else "NOT MET"
    print(f"ratio {t / o:.2f}x (target >= 1.0, no slower: {verdict})")
    if scanned:
        print(f"ratio without the scan {t / p:.2f}x; the scan adds {o - p:.2f} s "
              f"({(o - p) / p * 100:.0f}% of the ingest without it)")


def test_database(folder: Path) -> Path:
    """The tests' ClamAV database (tests/test_virus_scan.py): two body signatures. A real
    (freshclam) database holds millions: clamscan then loads it for every run it makes."""
    folder.mkdir()
    eicar = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS" +
             "-TEST-FILE!$H+H*").encode()
    (folder / "workbench-test.ndb").write_text(
        f"Workbench.Test.EICAR:0:*:{eicar.hex()}\n"
        f"Workbench.Test.BootSector:0:62:{b'WB-TEST-BOOT-VIRUS'.hex()}\n")
    return folder


if __name__ == "__main__":
    main()
