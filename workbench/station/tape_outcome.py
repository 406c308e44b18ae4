"""What a tape run's exit code says: the final state of each bag, not every attempt on
the way. A copy that failed (a tape that filled part-way, a cartridge that would not
take it) and was then made whole and verified on another tape of the same pool in the
same run is the plan working, not a failure: `tape write` then exits as `ingest` and
`accept` do in the same case (0 when every pool got its verified copy)."""

from __future__ import annotations

from collections.abc import Sequence

from workbench.errors import ExitCode
from workbench.tape.catalogue import VERIFIED, CopyEntry
from workbench.tape.plan import Unplaced


def unresolved(done: Sequence[CopyEntry]) -> list[CopyEntry]:
    """The copies of a run that did not end verified and were not replaced by a verified
    copy of the same bag in the same pool later in the run."""
    out = []
    for i, e in enumerate(done):
        if e.result == VERIFIED:
            continue
        if any(later.bag == e.bag and later.pool == e.pool and later.result == VERIFIED
               for later in done[i + 1:]):
            continue
        out.append(e)
    return out


def write_code(done: Sequence[CopyEntry], unplaced: Sequence[Unplaced]) -> ExitCode:
    """4: a copy failed for good (or a bag is missing, or failed on every tape it could
    go to); 3: a bag still waits for room in a pool; 0: every bag written is verified in
    every pool it was written for."""
    if unresolved(done) or any(u.reason in ("missing", "failed") for u in unplaced):
        return ExitCode.FAILED
    return ExitCode.PARTIAL if unplaced else ExitCode.SUCCESS
