"""`workbench tape format | mount | unmount` (real LTFS cartridges through the station,
workbench.station.cartridge) and `workbench tape forecast` (cartridges the backlog
needs, workbench.station.forecast); the forecast also goes into `workbench report
--forecast`."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.config import Settings
from workbench.errors import ExitCode
from workbench.i18n import human_bytes, t

if TYPE_CHECKING:
    from workbench.station.forecast import Forecast


def cmd_cartridge(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.station import Station
    from workbench.station.cartridge import format_cartridge, mount_cartridge, unmount
    with Station(settings) as station:
        if args.tape_command == "unmount":
            gone = unmount(station, args.barcode)
            index = gone.index
            print(t("lto.unmounted", barcode=args.barcode))
            print("  " + (t("lto.index_kept", path=str(index)) if index
                          else t("deadfix.unmount_dead", barcode=args.barcode,
                                 device=str(settings.tape_device or "-")) if gone.dead
                          else t("lto.index_none")))
            return ExitCode.SUCCESS if index else ExitCode.PARTIAL
        if args.tape_command == "format":
            done = format_cartridge(station, args.pool, args.generation, args.barcode)
            print(t("lto.formatted", barcode=done.tape.barcode, pool=done.tape.pool,
                    generation=done.tape.generation, mount=str(done.tape.mount)))
        else:
            done = mount_cartridge(station, args.barcode)
            print(t("lto.mounted_at", barcode=done.tape.barcode, pool=done.tape.pool,
                    mount=str(done.tape.mount)))
    if done.mam is not None and done.mam.serial:
        print("  " + t("lto.mam", serial=done.mam.serial, barcode=done.mam.barcode or "-",
                       generation=done.mam.generation or "-"))
    if not done.generation_checked:
        print("  " + t("labelfix.generation_unchecked", generation=done.tape.generation,
                       capacity=human_bytes(done.ltfs_capacity) if done.ltfs_capacity
                       else "-"))
    if done.usable:
        print(t("labelfix.generation_doubt", barcode=done.tape.barcode,
                generation=done.tape.generation, usable=human_bytes(done.usable),
                capacity=human_bytes(done.ltfs_capacity)), file=sys.stderr)
    if done.read_only:
        print(t(f"lto.read_only_{done.read_only}", barcode=done.tape.barcode),
              file=sys.stderr)
        return ExitCode.PARTIAL
    return ExitCode.SUCCESS


def queue_rows(paths: list[Path]) -> list[tuple[str, str]]:
    from workbench.cli_queue import read_rows
    return [((r.get("item") or "").strip(), (r.get("profile") or "").strip())
            for path in paths for r in read_rows(path)]


def forecast_lines(settings: Settings, queues: list[Path], planned: list[str],
                   generation: str = "") -> tuple[list[str], Forecast]:
    from workbench.station import Station
    from workbench.station.forecast import forecast
    with Station(settings) as station:
        f = forecast(station, queue_rows(queues), planned, generation)
    lines = [t("lto.forecast_head")]
    lines.append("  " + t("lto.forecast_waiting", bags=f.waiting_bags,
                          size=human_bytes(f.waiting_bytes)))
    for m in f.media:
        lines.append("  " + t("lto.forecast_media", media=m.media, carriers=m.carriers,
                              average=human_bytes(m.average) if m.average else "?",
                              basis=t(f"lto.basis_{m.basis}", bags=m.bags),
                              size=human_bytes(m.bytes)))
    for p in f.pools:
        lines.append("  " + t("labelfix.forecast_pool_one" if p.cartridges == 1
                              else "lto.forecast_pool", pool=p.pool,
                              size=human_bytes(p.needed), room=human_bytes(p.room),
                              cartridges=p.cartridges, generation=p.generation,
                              per=human_bytes(p.per_cartridge)))
    if f.unknown:
        lines.append("  " + t("lto.forecast_unknown", media=", ".join(f.unknown)))
    return lines, f


def cmd_forecast(args: argparse.Namespace, settings: Settings) -> int:
    lines, f = forecast_lines(settings, args.queues, args.plan, args.generation)
    if args.json:
        print(json.dumps(asdict(f), ensure_ascii=False, indent=2))
        return ExitCode.SUCCESS
    print("\n".join(lines))
    return ExitCode.PARTIAL if f.unknown else ExitCode.SUCCESS
