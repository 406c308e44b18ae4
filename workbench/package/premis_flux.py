"""PREMIS for a carrier imaged from flux: the capture files (the preservation master)
and the D88 access copy as objects, and the capture event's words."""

from __future__ import annotations

from workbench.imaging.record import JobRecord
from workbench.package.premis import PremisObject

FORMATS = {".scp": "SuperCard Pro flux image (SCP)", ".raw": "KryoFlux stream file",
           ".hfe": "HxC floppy emulator image (HFE)",
           ".d88": "D88 floppy disk image (access copy)"}


def flux_objects(record: JobRecord) -> list[PremisObject]:
    flux = record.flux or {}
    files = list(flux.get("files", [])) + ([flux["d88"]] if flux.get("d88") else [])
    out = []
    for f in files:
        name = str(f["file"])
        suffix = name[name.rfind("."):].lower() if "." in name else ""
        out.append(PremisObject(f"{record.item_id}/data/{name}", name, int(f.get("size", 0)),
                                dict(f["digests"]), FORMATS.get(suffix, "flux capture")))
    return out


def capture_detail(record: JobRecord) -> str:
    """The capture event's detail for a flux-imaged carrier ("" for any other)."""
    flux = record.flux
    if not flux:
        return ""
    from workbench.flux.session import revolutions_text  # "3-11" after a retry round
    return (f"flux imaging: {flux.get('format', '?')} capture, {revolutions_text(flux)} "
            f"revolution(s) a track in {max(1, int(flux.get('rounds', 0) or 1))} round(s), "
            f"decoded by {flux.get('decoder', '?')} (a sector is good when a revolution gives "
            f"it with a correct CRC); the sector image read from the decoded sectors by the "
            f"rescue engine, a {record.profile_id} carrier")
