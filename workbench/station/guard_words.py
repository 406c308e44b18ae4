"""The source's protection and the virus scan in the user's words: the CLI and the
station UI show the same lines."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import WorkbenchError
from workbench.i18n import t

if TYPE_CHECKING:
    from workbench.profiles import MediaProfile
    from workbench.station.core import Station


def preflight_notes(station: Station, source: str | Path, profile: MediaProfile,
                    item_id: str) -> list[str]:
    """The pre-flight's informative lines (the medium's write protection, what imaging
    does at the block layer), as the station UI shows them, for the CLI to print before
    imaging; none for image files and virtual drives. The refusals are migrate's own."""
    return [t("guard.preflight_note", text=c.message())
            for c in station.preflight(source, profile, item_id) if c.note]


def retry_notes(station: Station, item_id: str, drive: str | None) -> list[str]:
    """The pre-flight lines for the drive a `retry` will read, as migrate prints them;
    none for a carrier read from flux. Refusals are retry's own, in its words."""
    from workbench.imaging.engine import job_dir
    from workbench.imaging.record import JobRecord
    from workbench.station.flux import reads_flux
    from workbench.station.recover import retry_source
    try:
        st = station.state(item_id)
        if st.is_ingest or st.attempt is None:  # retry refuses these, in its own words
            return []
        job = job_dir(station.settings, st.item_id)
        before = JobRecord.load(job)
        if before is not None and reads_flux(job, before):
            return []
        source, profile = retry_source(station, st, before, drive)
        return preflight_notes(station, source, profile, st.item_id)
    except WorkbenchError:
        return []


def protection_line(protection: dict[str, Any]) -> str:
    """How the source was kept read-only while imaged, and its write-protect state."""
    from workbench.imaging.readonly import wp_key
    wp = protection.get("write_protect") or {}
    medium = t(f"guard.{wp_key(wp)}", basis=wp.get("basis", ""))
    if protection.get("set_by_workbench"):
        after = protection.get("after") or "running"
        block = t(f"guard.ro_set_{after}")
        if protection.get("taken_back"):
            block = t("guard.ro_taken_back", block=block)
    elif protection.get("read_only_before"):
        block = t("guard.ro_before")
    elif protection.get("policy") == "off":
        block = t("guard.ro_off")
    else:
        block = t("guard.ro_not_set", error=protection.get("error") or "-")
    return t("guard.protection", block=block, medium=medium)


def virus_lines(scan: dict[str, Any], limit: int = 8) -> list[str]:
    """The virus scan: what was found (flagged, never altered), or not scanned and why."""
    if not scan:
        return []
    if scan.get("status") == "not_scanned":
        return [t("guard.virus_not_scanned", reason=scan.get("reason", ""))]
    found = scan.get("infected", [])
    head = t("guard.virus_found", count=len(found)) if found else t("guard.virus_clean")
    lines = [t("guard.virus_line", result=head, files=scan.get("files_scanned", 0),
               boot=scan.get("boot_sectors_scanned", 0),
               version=scan.get("engine_version", ""))]
    lines += ["  " + t("guard.virus_file", path=f["path"], signature=f["signature"])
              for f in found[:limit]]
    if len(found) > limit:
        lines.append("  " + t("guard.virus_more", count=len(found) - limit))
    skipped = scan.get("not_scanned", [])
    if skipped or not scan.get("listing_complete", True):
        lines.append(t("guard.virus_partly", count=len(skipped)))
    return lines
