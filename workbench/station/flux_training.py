"""Training: the flux captures that are of the carrier's own disk.

A training carrier read on a training drive (media/*.drive.toml) is of that drive's
image; a training flux recipe (media/flux/*.flux.toml) is of the image it names. Only
recipes of the same image are offered for "image with flux": any other would be
refused as another disk. A carrier imaged from a recipe's capture is offered that recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import WorkbenchError
from workbench.flux.training import Recipe, recipes
from workbench.imaging.engine import job_dir
from workbench.imaging.record import JobRecord
from workbench.imaging.sources import DRIVE_SUFFIX
from workbench.schema import load_toml

if TYPE_CHECKING:
    from workbench.station.core import Station


def _drive_image(source: str) -> Path | None:
    """The image a training drive holds (None: not a training drive, or unreadable)."""
    if not source.endswith(DRIVE_SUFFIX):
        return None
    path = Path(source)
    try:
        image = load_toml(path).get("image")
    except WorkbenchError:  # a drive file gone or damaged: no recipe is its disk
        return None
    return (path.parent / str(image)).resolve() if image else None


def own_recipes(station: Station, item_id: str) -> list[Recipe]:
    """The training recipes of the carrier's own disk, of its profile ([] outside
    training, or when none is: then only a Greaseweazle can capture it)."""
    if not station.settings.training:
        return []
    record = JobRecord.load(job_dir(station.settings, item_id))
    if record is None:
        return []
    names = {f.split("/")[2] for f in (str(e["file"]) for e in
                                        (record.flux or {}).get("files", []))
             if f.startswith("flux/import/") and f.count("/") >= 2}
    images = {_drive_image(p) for p in [record.source, *(str(r.drive.get("path", ""))
                                                         for r in record.runs)]} - {None}
    return [r for r in recipes() if r.profile == record.profile_id and (
        r.output_name in names or (r.image is not None and r.image.resolve() in images))]
