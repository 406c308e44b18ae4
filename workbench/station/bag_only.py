"""`workbench bag JOB`: accept a job without staging it to tape (verify, identify, bag, all
recorded). The rules of which folder may be bagged and when a bag made already is shown
instead live here; the command only prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import BadInput
from workbench.station.states import State

if TYPE_CHECKING:
    from workbench.station.core import Station


@dataclass(frozen=True)
class BagOnly:
    bag: Path
    created: bool  # False: the carrier was bagged already (not withdrawn): shown again
    oxum: str
    algorithms: tuple[str, ...]  # the manifests' algorithms, e.g. ("sha256", "sha512")


def bag_only(station: Station, job: Path, batch: str | None = None,
             count: str | None = None) -> BagOnly:
    """Bag the imaged carrier of the station's job folder `job` (staging/ITEM)."""
    from workbench.imaging.record import JobRecord
    record = JobRecord.load(job)
    if record is None:
        raise BadInput("error.no_job", folder=str(job))
    staged = station.settings.paths.staging / record.item_id  # the station's job folder
    if job.resolve() != staged.resolve():
        raise BadInput("error.bag_not_staging", folder=str(job), item=record.item_id,
                       staging=str(staged))
    st = station.state(record.item_id)
    if st.bag is not None and st.state is not State.WITHDRAWN:  # bagged already
        return _described(Path(st.bag.path), created=False)
    result = station.accept(record.item_id, batch=batch, stage=False, bag_count=count)
    assert result.bag is not None  # accept bags or raises
    return _described(result.bag, created=True)


def _described(bag: Path, created: bool) -> BagOnly:
    from workbench.package.bags import read_info
    info = dict(read_info(bag))
    return BagOnly(bag, created, info.get("Payload-Oxum", ""),
                   tuple(p.name[9:-4] for p in sorted(bag.glob("manifest-*.txt"))))
