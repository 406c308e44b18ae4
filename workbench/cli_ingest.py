"""`workbench ingest SOURCE --item ID`: an existing preservation image (a folder, a disc
or disk image, a block device) copied, checked against its checksum lists, bagged and
staged to tape through the station (workbench.station.ingest)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.console import ProgressLine, cancel_on_sigint
from workbench.errors import ExitCode
from workbench.i18n import human_bytes, t


def add_parser(sub: Any) -> None:
    p = sub.add_parser("ingest", help=t("ingest.cli"))
    p.add_argument("source", type=Path, metavar="SOURCE", help=t("ingest.cli_source"))
    p.add_argument("--item", required=True, metavar="ID", help=t("cli.image_item"))
    p.add_argument("--batch", default="", metavar="B", help=t("cli.bag_batch"))
    p.add_argument("--operator", default="", metavar="NAME", help=t("ingest.cli_operator"))
    p.add_argument("--accept-mismatch", action="store_true", help=t("ingest.cli_accept"))
    p.add_argument("--review-partial", action="store_true", help=t("ingest.cli_review"))
    p.add_argument("--source-digest", action="store_true", help=t("ingest.cli_source_digest"))
    p.add_argument("--again", action="store_true", help=t("ingestfix.cli_again"))


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.station import Station
    from workbench.station.ingest import ingest
    bar = ProgressLine()
    try:
        with Station(settings, cancel=cancel_on_sigint("ingestfix.cancelling")) as station:
            done = ingest(station, args.source, args.item, args.accept_mismatch,
                          args.review_partial, args.batch, args.operator, progress=bar,
                          source_digest=args.source_digest, again=args.again)
    finally:
        bar.close()
    r = done.report
    if not r.lists:  # never read as verified
        print(t("ingestfix.no_lists", item=done.item_id, files=len(r.files),
                size=human_bytes(r.bytes)))
    else:
        print(t("ingest.summary", item=done.item_id, files=len(r.files),
                size=human_bytes(r.bytes), verified=len(r.of("verified")),
                lists=len(r.lists), unlisted=len(r.unverified)))
        if r.nothing_verified:
            print("  " + t("ingestfix.nothing_verified"))
        elif r.unverified:  # named (the first 20), not only counted in bag-info
            names = ", ".join(f.path for f in r.unverified[:20])
            print("  " + t("ingest2.unverified", count=len(r.unverified),
                           names=names + (", …" if len(r.unverified) > 20 else "")))
    for name in r.look_like_lists:
        print("  " + t("ingestfix.looks_like_list", path=name))
    for f in r.of("mismatch"):
        wrong = [c for c in f.expected if not c["ok"]]
        for c in wrong:
            print("  " + t("ingest.mismatch", path=f.path, algorithm=c["algorithm"],
                           listed=c["digest"], read=f.digests[c["algorithm"]],
                           list=c["list"], line=c["line"]))
    for f in r.of("damaged"):
        print("  " + t("ingest.damaged", path=f.path, detail="; ".join(f.errors)))
    for m in r.missing:
        print("  " + t("ingest.missing", path=m["name"], list=m["list_path"], line=m["line"]))
    for s in r.skipped:
        print("  " + t("ingest.skipped", path=s["path"], why=s["why"]))
    for e in r.errors:
        print("  " + t("ingest.source_error", detail=e))
    for lst in r.lists:
        if lst["ignored_lines"]:
            print("  " + t("tapefix.unread_lines", list=lst["path"],
                           count=len(lst["ignored_lines"]),
                           lines=", ".join(map(str, lst["ignored_lines"][:20]))))
        if lst["outside"]:
            print("  " + t("tapefix.outside", list=lst["path"],
                           names=", ".join(lst["outside"][:20])))
        if lst.get("encoding", "utf-8") != "utf-8":
            print("  " + t("tapefix.list_encoding", list=lst["path"],
                           encoding=lst["encoding"]))
    if r.virus_scan:
        from workbench.scan.record import words
        print("  " + t("tapefix.virus", words=words({"virus_scan": r.virus_scan})))
    if done.waiting == "mismatch":
        print(t("ingestfix.waiting_mismatch", item=done.item_id,
                count=len(r.of("mismatch")),
                source=str(r.source.get("path", args.source))), file=sys.stderr)
        return ExitCode.PARTIAL
    if done.waiting == "review":
        print(t("ingest.waiting_review", item=done.item_id), file=sys.stderr)
        return ExitCode.PARTIAL
    if done.cancelled in ("copied", "bagged") or done.bag is None:
        print(t(f"ingestfix.cancelled_{done.cancelled or 'copied'}", item=done.item_id,
                bag=str(done.bag), source=str(args.source)), file=sys.stderr)
        return ExitCode.ABORTED
    print(t("ingest.bagged", bag=str(done.bag), outcome=t(f"outcome.{r.outcome}")))
    from workbench.station.result import step_line
    for step, outcome, detail in done.steps:
        print("  " + step_line(step, outcome, detail).rstrip())
    if done.missing_pools and not done.cancelled and \
            not any(step.startswith("tape") for step, _, _ in done.steps):
        print("  " + t("ingest2.tape_waits", pools=", ".join(done.missing_pools)))
    if done.cancelled:  # staging stopped, or ended as the cancel came
        print(t(f"ingestfix.cancelled_{done.cancelled}", item=done.item_id,
                bag=str(done.bag), source=str(args.source)), file=sys.stderr)
        return ExitCode.ABORTED
    return ExitCode.PARTIAL if r.outcome == "partial" else ExitCode.SUCCESS


COMMANDS = {"ingest": cmd_ingest}
