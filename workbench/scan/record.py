"""The virus check in the bag: its tag file, its bag-info words and its PREMIS event,
all from the format report's virus_scan entry (workbench/scan/virus.py)."""

from __future__ import annotations

import json
from typing import Any

from workbench.package.premis import Agent, Event

TAG_FILE = "metadata/virus-scan.json"
NOT_RECORDED = {"status": "not_scanned", "infected": [], "not_scanned": [],
                "reason": "the format report was made before virus scanning existed"}


def scan_of(report: dict[str, Any]) -> dict[str, Any]:
    return report.get("virus_scan") or dict(NOT_RECORDED)


def tag_file(report: dict[str, Any]) -> bytes:
    return (json.dumps(scan_of(report), ensure_ascii=False, indent=2) + "\n").encode()


def words(report: dict[str, Any]) -> str:
    """One line for bag-info's Virus-Scan field."""
    scan = scan_of(report)
    if scan["status"] == "not_scanned":
        return f"not scanned: {scan.get('reason', '')}"
    found = scan["infected"]
    head = f"{len(found)} infected" if found else "no virus found"
    if scan["status"] == "partly_scanned":
        head += f", {len(scan['not_scanned'])} not scanned (see {TAG_FILE})" \
            if scan["not_scanned"] else ", the listing of files was incomplete"
    return (f"{head}; {scan.get('files_scanned', 0)} files and "
            f"{scan.get('boot_sectors_scanned', 0)} boot sectors by ClamAV "
            f"{scan.get('engine_version', '')}")


def virus_event(report: dict[str, Any], when: str, image_id: str) -> Event:
    """PREMIS "virus check" (LoC eventType): the scanner and its signature version as
    the agent; outcome pass | fail | not performed, with what was found or why not."""
    scan = scan_of(report)
    if scan["status"] == "not_scanned":
        return Event("virus check", when, "not performed",
                     "virus check of the files inside the image and its boot sectors",
                     f"not scanned: {scan.get('reason', '')}", objects=(image_id,))
    clam = Agent("software", "ClamAV clamscan", f"{scan.get('engine_version', '')}; "
                 f"signatures: {scan.get('signatures', '')}")
    found = scan["infected"]
    note = "; ".join(f"{f['path']}: {f['signature']}" for f in found) or "no virus found"
    if scan["not_scanned"]:
        note += "; not scanned: " + "; ".join(f"{f['path']} ({f['reason']})"
                                              for f in scan["not_scanned"][:50])
    if not scan.get("listing_complete", True):
        note += "; the listing of files was incomplete: unlisted files were not scanned"
    return Event("virus check", scan.get("ended") or when, "fail" if found else "pass",
                 f"ClamAV clamscan {scan.get('engine_version', '')} over "
                 f"{scan.get('files_scanned', 0)} files streamed from the image and "
                 f"{scan.get('boot_sectors_scanned', 0)} boot sectors; signatures: "
                 f"{scan.get('signatures', '')}; infected files are flagged, not altered",
                 note, ((clam, "executing program"),), (image_id,))
