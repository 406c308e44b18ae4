#!/usr/bin/env python3
"""The station at working speed: several drives at once through the whole pipeline.

    .venv/bin/python bench/bench_station.py [--drives 4] [--carriers 5] [--size-mib 24]
        [--rate-kib 3600] [--accept-workers 2] [--no-ui] [--dir DIR]

Four virtual optical drives read at a CD-like rate (24x, about 3.6 MB/s: a [[slow]] span
over the whole disc makes every 64 KiB read take its time at that rate), five carriers
each (a small ISO 9660 disc padded with distinct data to --size-mib, give or take 40%,
so the drives do not finish in step). Each carrier goes through the whole pipeline:
image on its drive, then in the background verify, identify, bag and stage to two
stand-in tape folders (primary and secondary pools), while the drive reads the next.

Throughput: the drives' own bound is what the reads alone take run in parallel, the
largest of the drives' summed imaging times; the station's time runs from the first
start to the last carrier on tape. Printed as a ratio (the target is at least 95%).

UI responsiveness (unless --no-ui): the same run inside the station app, headless
(App.run_test), the board showing all four drives; a cursor key is pressed every
0.3 s (sent as the terminal driver sends it) and the time until the board's cursor
moved and the screen was refreshed is measured. Printed as median and max (the
target is under 100 ms).

Absolute seconds on a shared machine are noise; the ratios are the result. No asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.config import Settings  # noqa: E402
from workbench.station import State, Station  # noqa: E402
from workbench.station.runner import Job, StationRunner  # noqa: E402

CLUSTER = 65536  # the cd profile's bytes per read in the copy phase
ISO = ROOT / "media" / "cd-sample.iso"


@dataclass
class Plan:
    drives: list[Path]
    carriers: dict[Path, list[tuple[str, Path]]]  # drive -> (item, image) in order
    nominal: dict[Path, float] = field(default_factory=dict)  # drive -> seconds at rate


def make_carriers(work: Path, drives: int, carriers: int, size_mib: float,
                  rate: float) -> Plan:
    """The discs: the sample ISO padded with data no other disc has, sizes varied."""
    plan = Plan([], {})
    iso = ISO.read_bytes()
    for d in range(drives):
        drive = work / f"drive{d}.drive.toml"
        plan.drives.append(drive)
        plan.carriers[drive] = []
        for c in range(carriers):
            # 0.6x .. 1.4x the size, different per carrier: drives end at other times
            scale = 0.6 + 0.8 * ((d * carriers + c) * 0.618 % 1.0)
            size = int(size_mib * scale * (1 << 20)) // 2048 * 2048
            image = work / "discs" / f"CD-{d}{c:02d}.iso"
            image.parent.mkdir(exist_ok=True)
            with open(image, "wb") as fh:
                fh.write(iso)
                seed = hashlib.sha256(image.name.encode()).digest()
                block = (seed * (1 << 15))[: 1 << 20]
                left, n = size - len(iso), 0
                while left > 0:
                    chunk = block[n % 32:] + block[: n % 32]
                    fh.write(chunk[:left])
                    left -= len(chunk)
                    n += 1
            plan.carriers[drive].append((f"CD-{d}{c:02d}", image))
            plan.nominal[drive] = plan.nominal.get(drive, 0.0) + size / rate
    return plan


def load(drive: Path, image: Path, rate: float) -> None:
    """Put the next disc into the virtual drive."""
    size = image.stat().st_size
    drive.write_text(f'image = "{image}"\nmodel = "Bench CD drive"\nserial = "{drive.stem}"\n'
                     'transport = "sr"\nsector_size = 2048\nprofile = "cd"\n'
                     f"[[slow]]\nstart = 0\nsize = {size}\nseconds = {CLUSTER / rate:.5f}\n")


def label_tapes(settings: Settings, size: int) -> None:
    with Station(settings) as station:
        for barcode, pool in (("P00001L8", "primary"), ("S00001L8", "secondary")):
            station.tapes.label(settings.paths.tape / barcode, barcode, pool, "LTO-8",
                                size * 3)


class Feeder:
    """Loads each drive's next disc as soon as the drive is free."""

    def __init__(self, runner: StationRunner, plan: Plan, rate: float) -> None:
        self.runner, self.plan, self.rate = runner, plan, rate
        self.left = {d: list(items) for d, items in plan.carriers.items()}
        self.started = 0.0

    def step(self) -> bool:
        """Start what can start; False when every carrier has been started."""
        for drive in self.runner.free([str(d) for d in self.left if self.left[d]]):
            path = Path(drive)
            item, image = self.left[path].pop(0)
            load(path, image, self.rate)
            if not self.started:
                self.started = time.perf_counter()
            self.runner.start(Job(item, drive, "cd"))
        return any(self.left.values())


def report(runner: StationRunner, plan: Plan, started: float, ended: float,
           read_done: float, items: list[str], settings: Settings) -> None:
    views = {v.drive: v for v in runner.drives()}
    bound = max(v.read_seconds for v in views.values())
    nominal = max(plan.nominal.values())
    wall = ended - started
    with Station(settings) as station:
        on_tape = sum(station.state(i).state is State.ON_TAPE for i in items)
    failed = [c for c in runner.carriers() if c.status == "failed"]
    print(f"  carriers on tape (both pools):  {on_tape}/{len(items)}"
          + (f"  failed: {[(c.item_id, c.error) for c in failed]}" if failed else ""))
    for drive in plan.drives:
        v = views[str(drive)]
        print(f"  {drive.stem}: {v.carriers} carriers, imaging {v.read_seconds:6.1f} s "
              f"(at the nominal rate alone {plan.nominal[drive]:6.1f} s), not imaging "
              f"before the last read {read_done - started - v.read_seconds:5.1f} s")
    print(f"  drives' bound (max of summed imaging): {bound:6.1f} s "
          f"(nominal reads alone {nominal:6.1f} s)")
    print(f"  station, first start to last on tape:  {wall:6.1f} s "
          f"(of which after the last read: {ended - read_done:4.1f} s)")
    print(f"  throughput / drives' bound:            {bound / wall:6.1%}  (target >= 95%)")
    print(f"  throughput / nominal read bound:       {nominal / wall:6.1%}")


def run_plain(settings: Settings, plan: Plan, rate: float, workers: int) -> None:
    runner = StationRunner(settings, accept_workers=workers)
    feeder = Feeder(runner, plan, rate)
    while feeder.step():
        runner.wait_for_free([str(d) for d in plan.drives], 1.0)
    while any(v.busy for v in runner.drives()):
        time.sleep(0.05)
    read_done = time.perf_counter()
    runner.wait_idle(3600)
    ended = time.perf_counter()
    report(runner, plan, feeder.started, ended, read_done,
           [i for items in plan.carriers.values() for i, _ in items], settings)
    runner.shutdown(deadline=30)


class Diagnosis:
    """--diagnose: what the UI thread did during the slowest presses. Wraps the board's
    tick, its record reads and the screen's update and layout with wall and processor
    (thread_time) clocks, and records garbage collections (gc.callbacks)."""

    def __init__(self) -> None:
        import gc

        from textual.screen import Screen

        from workbench.tui.home import HomeScreen
        self.spans: list[tuple[float, float, float, str]] = []  # start, end, cpu, what
        for cls, name in ((HomeScreen, "tick"), (HomeScreen, "_refresh_records"),
                          (Screen, "_on_timer_update"), (Screen, "_refresh_layout")):
            self._wrap(cls, name)
        self._gc_start, self._gc_cpu = 0.0, 0.0
        gc.callbacks.append(self._gc)
        self.gen2: list[tuple[int, int, list[tuple[str, int]]]] = []
        self.layouts: list[tuple[float, str]] = []  # when, the widget that asked
        original = Screen._on_layout
        layouts = self.layouts

        async def on_layout(screen: Any, message: Any) -> None:
            layouts.append((time.perf_counter(),
                            f"{type(message.widget).__name__}#{message.widget.id}"))
            await original(screen, message)
        patched: Any = Screen
        patched._on_layout = on_layout

    def _wrap(self, cls: Any, name: str) -> None:
        original = getattr(cls, name)
        spans = self.spans

        def timed(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is not threading.main_thread():
                return original(*args, **kwargs)
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spans.append((wall, time.perf_counter(), time.thread_time() - cpu, name))
        setattr(cls, name, timed)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            if info["generation"] == 2:
                import collections
                import gc
                kinds = collections.Counter(type(o).__name__ for o in gc.get_objects(2))
                self.gen2.append((len(gc.get_objects(2)), gc.get_freeze_count(),
                                  kinds.most_common(6)))
            self._gc_start, self._gc_cpu = time.perf_counter(), time.thread_time()
        elif self._gc_start:
            thread = threading.current_thread()
            self.spans.append((self._gc_start, time.perf_counter(),
                               time.thread_time() - self._gc_cpu,
                               f"gc gen{info['generation']} "
                               f"({'UI' if thread is threading.main_thread() else 'other'})"))

    def report(self, presses: list[tuple[float, float]]) -> None:
        first = min((p for p, _ in presses), default=0.0)  # the spans while keys pressed
        by: dict[str, list[float]] = {}
        for start, end, _cpu, what in self.spans:
            if start < first:
                continue
            by.setdefault(what, []).append((end - start) * 1000)
        for what, ms in sorted(by.items()):
            ms.sort()
            print(f"    {what:28s} {len(ms):5d} calls, median {statistics.median(ms):6.1f} "
                  f"ms, max {ms[-1]:6.1f} ms")
        asked: dict[str, int] = {}
        for when, what in self.layouts:
            if when >= first:
                asked[what] = asked.get(what, 0) + 1
        print(f"    (all from the first key press on) layouts asked for by: {asked}")
        for size, frozen, kinds in self.gen2:
            print(f"    full collection over {size} objects ({frozen} frozen): {kinds}")
        for started, latency in sorted(presses, key=lambda p: -p[1])[:3]:
            print(f"    press of {latency * 1000:.0f} ms overlaps:")
            for start, end, cpu, what in self.spans:
                if start < started + latency and end > started and end - start > 0.005:
                    print(f"      {what:28s} {(end - start) * 1000:6.1f} ms wall, "
                          f"{cpu * 1000:6.1f} ms processor, from +"
                          f"{(start - started) * 1000:.0f} ms")


async def press(app: Any, table: Any, key: str) -> float | None:
    """Seconds from a key press (sent as the terminal driver sends it) until the
    table's cursor moved and the screen was refreshed with it; None when it did not
    move. Pilot.press is not used: it waits until the whole process is idle, which it
    never is while drives image in other threads."""
    from textual import events
    before = table.cursor_row
    refreshed: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    event = events.Key(key, None)
    event.set_sender(app)
    started = time.perf_counter()
    app._driver.send_message(event)
    while table.cursor_row == before:
        if time.perf_counter() - started > 5:
            return None
        await asyncio.sleep(0.001)
    app.call_after_refresh(lambda: refreshed.set_result(time.perf_counter()))
    return await asyncio.wait_for(refreshed, 10) - started


def run_ui(settings: Settings, plan: Plan, rate: float, workers: int,
           diagnose: bool = False) -> None:
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.rowlist import RowList

    async def scenario() -> None:
        app = WorkbenchApp(settings)
        app.runner.shutdown(deadline=5)
        app.runner = StationRunner(settings, accept_workers=workers)
        latencies: list[float] = []
        diagnosis = Diagnosis() if diagnose else None
        presses: list[tuple[float, float]] = []  # (pressed at, seconds to the screen)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            runner = app.runner
            feeder = Feeder(runner, plan, rate)
            table = app.screen.query_one("#drives", RowList)
            read_done = 0.0

            def feed() -> None:  # the technician loads each free drive at once
                nonlocal read_done
                while feeder.step():
                    runner.wait_for_free([str(d) for d in plan.drives], 1.0)
                while any(v.busy for v in runner.drives()):
                    time.sleep(0.02)
                read_done = time.perf_counter()

            loader = threading.Thread(target=feed, daemon=True)
            loader.start()
            key, unmoved = "down", 0
            while loader.is_alive() or runner.busy():
                if table.row_count > 1:  # bounce between the ends of the table
                    if table.cursor_row >= table.row_count - 1:
                        key = "up"
                    elif table.cursor_row <= 0:
                        key = "down"
                    pressed = time.perf_counter()
                    latency = await press(app, table, key)
                    if latency is None:
                        unmoved += 1
                    else:
                        latencies.append(latency)
                        presses.append((pressed, latency))
                await asyncio.sleep(0.3)  # a key every 0.3 s
            ended = time.perf_counter()
            report(runner, plan, feeder.started, ended, read_done or ended,
                   [i for items in plan.carriers.values() for i, _ in items], settings)
        ms = sorted(x * 1000 for x in latencies)
        print(f"  key press to screen update while imaging: median {statistics.median(ms):.1f} "
              f"ms, 95th {ms[int(len(ms) * 0.95) - 1]:.1f} ms, max {ms[-1]:.1f} ms "
              f"over {len(ms)} presses (target < 100 ms); {unmoved} did not move the cursor")
        if diagnosis is not None:
            diagnosis.report(presses)
    asyncio.run(scenario())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--drives", type=int, default=4)
    ap.add_argument("--carriers", type=int, default=5)
    ap.add_argument("--size-mib", type=float, default=24.0)
    ap.add_argument("--rate-kib", type=float, default=3600.0,
                    help="each drive's read rate (CD 24x: about 3,600 KB/s)")
    ap.add_argument("--accept-workers", type=int, default=2)
    ap.add_argument("--no-ui", action="store_true", help="the runner alone, no TUI")
    ap.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument("--diagnose", action="store_true",
                    help="print what the UI thread did during the slowest presses")
    args = ap.parse_args()
    rate = args.rate_kib * 1000
    work = Path(tempfile.mkdtemp(prefix="bench-station-", dir=args.dir))
    os.chdir(work)
    try:
        settings = Settings()  # the station's folders under the work folder
        plan = make_carriers(work, args.drives, args.carriers, args.size_mib, rate)
        label_tapes(settings, sum(p.stat().st_size for p in (work / "discs").iterdir()))
        print(f"{args.drives} drives x {args.carriers} carriers of ~{args.size_mib:g} MiB at "
              f"{args.rate_kib:g} KB/s, {args.accept_workers} accept worker(s) + 1 tape "
              f"writer; {'runner alone' if args.no_ui else 'inside the station app'}")
        if args.no_ui:
            run_plain(settings, plan, rate, args.accept_workers)
        else:
            run_ui(settings, plan, rate, args.accept_workers, args.diagnose)
    finally:
        os.chdir("/")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
