#!/usr/bin/env python3
"""Identification speed: `workbench identify` on an image vs the fido CLI on the same
files extracted to a folder, side by side, medians of N runs. Also checks that every file
gets the same PUID from both.

    .venv/bin/python bench/bench_identify.py [--files 2400] [--runs 3] [--large 130000]

--large N adds a volume of N small files (ext4, made by mkfs.ext4 -d): files/s and the
peak memory of the whole process tree (workers included), beside the Sleuth Kit's
`fls -r` listing the same volume (a listing only: no reading, no digests, no formats).
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import build_media as samples  # noqa: E402
from fatimage import Entry, FatImage, Geometry, short_name  # noqa: E402

from tests.test_formats import docx  # noqa: E402


def corpus(count: int) -> dict[str, bytes]:
    kinds = [("pdf", lambda n: samples.pdf(f"document {n}")),
             ("png", lambda n: samples.png(8 + n % 24, 8 + n % 17)),
             ("jpg", lambda n: samples.JPEG), ("gif", lambda n: samples.GIF),
             ("htm", lambda n: samples.HTML.replace(b"1998", str(1900 + n % 100).encode())),
             ("xml", lambda n: samples.XML.replace(b"0001", f"{n:04d}".encode())),
             ("wav", lambda n: samples.wav(0.01 + (n % 10) / 100)),
             ("txt", lambda n: samples.long_text(5 + n % 50, f"t{n}")),
             ("zip", lambda n: samples.zipped({f"{n}.txt": b"x" * n})),
             ("doc", lambda n: docx()), ("bin", lambda n: bytes((n * i) % 251 for i in range(300))),
             ("csv", lambda n: f"a,b,c\n{n},{n + 1},{n + 2}\n".encode())]
    files = {}
    for n in range(count):
        ext, make = kinds[n % len(kinds)]
        ext = "docx" if ext == "doc" else ext
        files[f"D{n // 200:03d}/F{n:05d}.{ext}"] = make(n)
    return files


def fat_name(name: str) -> bytes:
    base, ext = name.split(".")
    return short_name(f"{base}.{ext[:3]}")


def build_image(files: dict[str, bytes], path: Path) -> None:
    folders: dict[str, list[Entry]] = {}
    for name, data in files.items():
        folder, leaf = name.split("/")
        folders.setdefault(folder, []).append(Entry(fat_name(leaf), data, long=leaf))
    entries = [Entry(short_name(f), children=c) for f, c in folders.items()]
    size = sum(len(d) for d in files.values())
    sectors = max(65536, (size * 3) // 512)
    geo = Geometry(total_sectors=sectors, sectors_per_cluster=4, root_entries=512, media=0xF8)
    path.write_bytes(FatImage(geo).build(entries))


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, out


def peak_tree_rss(cmd: list[str], cwd: Path) -> tuple[float, int]:
    """Seconds and the peak resident memory of cmd and all its descendants together,
    sampled every 50 ms."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, done = 0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                tree = [proc, *proc.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            done.wait(0.05)

    watcher = threading.Thread(target=sample)
    watcher.start()
    _, err = proc.communicate(timeout=3600)
    done.set()
    watcher.join()
    if proc.returncode:
        raise SystemExit(f"{cmd[0]} failed: {err.decode()[-500:]}")
    return time.perf_counter() - start, peak


def large_volume(count: int, runs: int) -> None:
    """A volume of many small files: our files/s and peak memory, and fls -r beside it."""
    mkfs = shutil.which("mkfs.ext4") or "/usr/sbin/mkfs.ext4"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tree = work / "tree"
        kinds = [b"%PDF-1.4\n%%EOF\n", b"GIF89a" + bytes(20), b"<html><body>x</body></html>",
                 b"plain text\n"]
        for n in range(count):
            folder = tree / f"D{n // 1000:04d}"
            if n % 1000 == 0:
                folder.mkdir(parents=True)
            (folder / f"F{n:06d}.{('pdf', 'gif', 'htm', 'txt')[n % 4]}").write_bytes(
                kinds[n % 4] + str(n).encode())
        image = work / "large.img"
        size_mb = 64 + count // 150
        subprocess.run([mkfs, "-q", "-F", "-N", str(count + 2000), "-d", str(tree),
                        str(image), f"{size_mb}M"], check=True)
        shutil.rmtree(tree)
        wb = [sys.executable, "-m", "workbench", "identify", str(image), "--format", "csv"]
        ours = [peak_tree_rss(wb, work) for _ in range(runs)]
        fls = shutil.which("fls")
        listing = [peak_tree_rss([fls, "-r", "-p", str(image)], work)[0]
                   for _ in range(runs)] if fls else []
    o = statistics.median(t for t, _ in ours)
    peak = max(p for _, p in ours)
    print(f"\n== A volume of {count} files (ext4), {runs} runs, medians ==")
    print(f"workbench identify     {o:7.2f} s  {count / o:7.0f} files/s  "
          f"peak memory {peak / 2**20:5.0f} MB (process tree)")
    if listing:
        f = statistics.median(listing)
        print(f"fls -r -p (list only)  {f:7.2f} s  {count / f:7.0f} files/s  "
              f"(workbench takes {o / f:.1f}x a bare listing, reading and identifying "
              "every file)")
    else:
        print("fls is not installed (apt install sleuthkit): no listing to compare")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2400)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--large", type=int, default=0,
                    help="also a volume of this many small files (e.g. 130000)")
    args = ap.parse_args()
    if args.large:
        large_volume(args.large, args.runs)
    files = corpus(args.files)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        image = work / "corpus.img"
        build_image(files, image)
        folder = work / "extracted"
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        fido = str(Path(sys.executable).parent / "fido")
        wb = [sys.executable, "-m", "workbench", "identify", str(image), "--format", "csv"]
        ours_t, theirs_t = [], []
        for _ in range(args.runs):
            t, ours_out = timed(wb, work)
            ours_t.append(t)
            t, fido_out = timed([fido, "-q", "-recurse", str(folder)], work)
            theirs_t.append(t)
    ours = {}
    for row in csv.DictReader(io.StringIO(ours_out.lstrip("\ufeff"))):
        ours[row["PATH"].lstrip("/")] = row["PUID"]
    theirs: dict[str, str] = {}
    for row in csv.reader(io.StringIO(fido_out)):
        if row and row[0] in ("OK", "KO"):
            rel = str(Path(row[6] if row[0] == "OK" else row[-2]).relative_to(folder))
            theirs.setdefault(rel, row[2] if row[0] == "OK" else "")
    same = sum(ours.get(k) == v for k, v in theirs.items())
    o, f = statistics.median(ours_t), statistics.median(theirs_t)
    n = len(files)
    print(f"\n== Identify {n} files, {args.runs} runs, medians (process start included) ==")
    print(f"workbench identify (image)   {o:7.2f} s  {n / o:7.0f} files/s")
    print(f"fido -recurse (extracted)    {f:7.2f} s  {n / f:7.0f} files/s")
    print(f"speed-up {f / o:.2f}x (target >= 5x: {'MET' if f / o >= 5 else 'NOT MET'})")
    print(f"identical first PUIDs: {same}/{len(theirs)} "
          f"({'MET' if same == len(theirs) == n else 'NOT MET'})")
    for k, v in list(theirs.items()):
        if ours.get(k) != v:
            print(f"  differs: {k}: fido {v} workbench {ours.get(k)}")
            break


if __name__ == "__main__":
    main()
