"""How a rescue reads: cluster size, retries, checkpoints, and the dead-medium sample
and budgets a media profile sets (see rescue.py for what they do)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class _ReadProfile(Protocol):
    """What a read strategy takes from a media profile (read-only: profiles are frozen)."""

    @property
    def family(self) -> str: ...
    @property
    def cluster_size(self) -> int: ...
    @property
    def retries(self) -> int: ...
    @property
    def dead_sample(self) -> int: ...
    @property
    def max_consecutive_failures(self) -> int: ...
    @property
    def time_budget_seconds(self) -> float: ...
    @property
    def failure_budget(self) -> int: ...


@dataclass(frozen=True)
class Strategy:
    cluster_size: int
    sector_size: int
    retries: int
    map_save_seconds: float = 5.0
    # single sectors spread over the untried medium, read when a run starts with failing
    # reads and nothing read; none reads: the medium is dead (0: never sample)
    dead_sample: int = 64
    # failing reads in a row before checking that the drive still answers (0: never)
    max_consecutive_failures: int = 32
    # a run that has met read errors stops after this many seconds (0: no limit)
    time_budget_seconds: float = 0.0
    # a run stops after this many failing reads (0: no limit)
    failure_budget: int = 0
    # go on whatever the sample and the budgets say (the technician chose to)
    keep_going: bool = False
    # floppy disks: a dead one needs flux imaging rather than another drive
    floppy: bool = False

    @classmethod
    def from_profile(cls, profile: _ReadProfile, sector_size: int,
                     retries: int | None = None, map_save_seconds: float = 5.0,
                     keep_going: bool = False) -> Strategy:
        """The read strategy a media profile sets; retries overrides the profile's."""
        return cls(cluster_size=profile.cluster_size, sector_size=sector_size,
                   retries=profile.retries if retries is None else retries,
                   map_save_seconds=map_save_seconds, dead_sample=profile.dead_sample,
                   max_consecutive_failures=profile.max_consecutive_failures,
                   time_budget_seconds=profile.time_budget_seconds,
                   failure_budget=profile.failure_budget, keep_going=keep_going,
                   floppy=profile.family == "FD")
