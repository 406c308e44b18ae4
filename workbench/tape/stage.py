"""Writing bags to tape and reading them back.

Each bag is written as one sequential stream in large blocks (file after file, or one
tar for bags with many small files), hashed as it is written, fsync'ed, then read back
from the tape (page cache dropped first) and checked against the bag's manifests. Only a
copy that was read back and matched counts as verified. A tape that fills mid-write is
marked full, its partial copy removed and the copy recorded as failed; the bag is then
planned onto the next tape of the pool.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypedDict

from workbench import __version__
from workbench.atomic import write_atomic
from workbench.config import Settings
from workbench.errors import BadInput, IntegrityFailure
from workbench.imaging.digests import DigestStream
from workbench.imaging.record import utc_now
from workbench.package.premis import Agent, Event, PremisDocument, PremisObject
from workbench.tape.catalogue import FAILED, VERIFIED, WRITTEN, CopyBook, CopyEntry, to_json
from workbench.tape.held import HeldMount, TapeGone, is_dead, makedirs, tape_gone
from workbench.tape.plan import Assignment, Unplaced, bag_size, plan
from workbench.tape.readback import (
    BLOCK,
    TapeProgress,
    bag_files,
    check_copy,
    copy_path,
    damaged_in_staging,
    drop_cache,
    manifest_digests,
    verify_copy,
)
from workbench.tape.tapes import Tape, find_tapes, load_generations, ltfs_problems, still_mounted


class TapeFull(Exception):
    pass


class _CopyBase(TypedDict):
    bag: str
    barcode: str
    pool: str
    bytes: int
    files: int
    layout: str
    copy: int


CHECK_EVERY = 16  # blocks (128 MiB) between two looks at whether the tape is still there


class _Writer:
    def __init__(self, held: HeldMount, limit: int, progress: Callable[[int], None],
                 cancel: threading.Event) -> None:
        self.held, self.limit, self.progress, self.cancel = held, limit, progress, cancel
        self.written = 0
        self.blocks = 0

    def counted(self, n: int) -> None:
        """n more bytes on their way to the tape: over the limit is a full tape; every
        few blocks, a tape gone is seen (TapeGone) before more is written."""
        self.written += n
        if self.written > self.limit:
            raise TapeFull
        self.blocks += 1
        if self.blocks % CHECK_EVERY == 0:
            self.held.check()

    def stream(self, source: Path, out: BinaryIO) -> str:
        """Copy one file into an open binary stream, hashing as it goes."""
        digest = DigestStream(("sha256",))
        try:
            with open(source, "rb") as src:
                while block := src.read(BLOCK):
                    if self.cancel.is_set():
                        raise KeyboardInterrupt
                    self.counted(len(block))
                    try:
                        out.write(block)
                    except OSError as exc:
                        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                            raise TapeFull from exc
                        raise
                    digest.update(block)
                    self.progress(self.written)
            return digest.finish()["sha256"]
        finally:
            digest.abandon()


def _write_folder(bag: Path, dest: str, writer: _Writer) -> dict[str, str]:
    digests = {}
    folder = writer.held.mkdir(dest)
    try:
        for src in bag_files(bag):
            writer.held.check()
            digests[str(src.relative_to(bag))] = _write_file(src, bag, folder, writer)
    finally:
        os.close(folder)
    return digests


def _write_file(src: Path, bag: Path, folder: int, writer: _Writer) -> str:
    rel = src.relative_to(bag)
    try:
        makedirs(folder, rel.parent)
        with open(writer.held.create(str(rel), folder), "wb") as out:
            digest = writer.stream(src, out)
            out.flush()
            os.fsync(out.fileno())
            return digest
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise TapeFull from exc
        raise


class _TarSource:
    """tarfile reads a member through this: what it reads is counted and hashed."""

    def __init__(self, path: Path, writer: _Writer) -> None:
        self.fh = open(path, "rb")  # noqa: SIM115 - closed by _write_tar
        self.hash = hashlib.sha256()
        self.writer = writer

    def read(self, n: int = -1) -> bytes:
        if self.writer.cancel.is_set():  # a stop: the tar copy is cut short and removed
            raise KeyboardInterrupt
        block = self.fh.read(n)
        self.writer.counted(len(block))
        self.hash.update(block)
        return block


def _write_tar(bag: Path, dest: str, writer: _Writer) -> dict[str, str]:
    """One tar stream. A full tape is TapeFull wherever the tape says so: in a member's
    write, or in the flush of tarfile's or the file's buffer at close (which would
    otherwise put a plain ENOSPC OSError in TapeFull's place: a failed, not a full,
    tape)."""
    digests = {}
    try:
        with open(writer.held.create(dest), "wb") as raw, \
                tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for src in bag_files(bag):
                writer.held.check()
                rel = str(src.relative_to(bag))
                source = _TarSource(src, writer)
                try:
                    tar.addfile(tar.gettarinfo(str(src), arcname=f"{bag.name}/{rel}"),
                                source)
                finally:
                    source.fh.close()
                digests[rel] = source.hash.hexdigest()
                writer.progress(writer.written)
            tar.close()
            raw.flush()
            os.fsync(raw.fileno())
    except OSError as exc:
        if isinstance(exc.__context__, (TapeFull, TapeGone, KeyboardInterrupt)):
            raise exc.__context__ from exc  # the close's error hid why the write ended
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise TapeFull from exc
        raise
    return digests


def write_copy(bag: Path, tape: Tape, catalogue: CopyBook, settings: Settings,
               progress: Callable[[TapeProgress], None] | None = None,
               cancel: threading.Event | None = None, verify: bool = True) -> CopyEntry:
    """Write one bag to one tape, read it back, record the result in the catalogue."""
    problems = ltfs_problems([bag.name] + [str(p.relative_to(bag)) for p in bag_files(bag)])
    if problems:
        raise BadInput("error.ltfs_names", bag=bag.name, problems="; ".join(problems[:5]))
    cancel = cancel or threading.Event()
    files = bag_files(bag)
    layout = "tar" if len(files) >= settings.tar_threshold else "folder"
    size = bag_size(bag)
    final = copy_path(tape, bag.name, layout)
    copy_no = settings.tape_pools.index(tape.pool) + 1 if tape.pool in settings.tape_pools \
        else 0
    base = _CopyBase(bag=bag.name, barcode=tape.barcode, pool=tape.pool, bytes=size,
                     files=len(files), layout=layout, copy=copy_no)
    try:
        there = final.exists()
    except OSError as exc:  # a dead LTFS mount (ENOTCONN): the tape is not there
        raise tape_gone(tape) from exc
    if there:
        previous = catalogue.current().get((bag.name, tape.barcode))
        if previous is not None and previous.result == VERIFIED:
            return previous
        # a copy this book recorded writing is ours; any other (another station's, a
        # ledger restored from an older export) is never removed, even after this
        # station recorded it as a failed copy there
        ours = any(e.barcode == tape.barcode and e.result in (WRITTEN, VERIFIED)
                   for e in catalogue.history(bag.name))
        if previous is None or previous.result == WRITTEN or not ours:
            # complete (renamed only after fsync) but not read back: a run killed after
            # the rename, or a copy this book never recorded. Read it back against the
            # bag's own manifests first.
            drop_cache(final)
            try:
                found = check_copy(final, bag.name, layout, manifest_digests(bag, "folder"))
            except OSError as exc:
                if is_dead(exc):
                    raise tape_gone(tape, dead=True) from exc
                raise
            if found and not still_mounted(tape):  # the tape went, not the copy
                raise tape_gone(tape)
            if not found:
                if previous is None or previous.result != WRITTEN:
                    catalogue.add(CopyEntry(**base, result=WRITTEN, written=utc_now(),
                                            detail="found complete on the tape after an "
                                            "interrupted run"))
                entry = verify_copy(bag.name, tape, catalogue,
                                    manifest_digests(bag, "folder"), progress)
                record_events(bag.name, catalogue, settings)
                return entry
            if not ours:
                # not ours and not this bag: another station's copy of the same name, or
                # a ledger restored from an older export. Never touched.
                entry = CopyEntry(**base, result=FAILED, written=utc_now(),
                                  detail=f"tape {tape.barcode} already holds a different "
                                  f"{final.name} that this station did not write: left "
                                  "untouched; use another tape")
                catalogue.add(entry)
                record_events(bag.name, catalogue, settings)
                return entry
    held = HeldMount(tape)  # the tape gone before a byte: Refused, nothing recorded
    try:
        digests = _write(bag, tape, held, layout, size, final.name, progress, cancel)
    except TapeFull:
        tape.full = True  # this run plans no more onto it (run_plan), label or not
        with contextlib.suppress(OSError):  # a full LTFS tape may refuse even the label:
            tape.save_label()  # its free space then keeps the planner off it
        entry = CopyEntry(**base, result=FAILED, written=utc_now(),
                          detail=f"tape {tape.barcode} filled during the write")
        catalogue.add(entry)
        record_events(bag.name, catalogue, settings)
        return entry
    except OSError as exc:  # read-only, write-protected or failing tape: a failed copy
        if exc.filename is not None and Path(exc.filename).is_relative_to(bag):
            raise  # the staging bag cannot be read: not the tape's fault
        entry = CopyEntry(**base, result=FAILED, written=utc_now(),
                          detail=f"cannot write to tape {tape.barcode}: "
                          f"{exc.strerror or exc}")
        catalogue.add(entry)
        record_events(bag.name, catalogue, settings)
        return entry
    finally:
        held.close()
    catalogue.add(CopyEntry(**base, result=WRITTEN, written=utc_now()))
    try:
        _keep_index(tape, settings)
    except OSError as exc:  # the LTFS process ended after the copy was synced: its read-
        if is_dead(exc):  # back waits for the next write (written, not verified)
            raise tape_gone(tape, dead=True) from exc
        raise
    if not verify:
        record_events(bag.name, catalogue, settings)
        return catalogue.current()[(bag.name, tape.barcode)]
    entry = verify_copy(bag.name, tape, catalogue, digests, progress)
    record_events(bag.name, catalogue, settings)
    return entry


def _write(bag: Path, tape: Tape, held: HeldMount, layout: str, size: int, name: str,
           progress: Callable[[TapeProgress], None] | None,
           cancel: threading.Event) -> dict[str, str]:
    """Write the copy as .NAME.partial, renamed to NAME once whole and fsync'ed. A copy
    cut short is removed (a full tape, a failing one, a stop); a tape that went
    mid-write raises Refused and nothing about the copy is recorded: the next write
    makes it again (a copy renamed into place just before the tape went is found whole
    and read back then)."""
    partial = f".{name}.partial"

    def tick(done: int) -> None:
        if progress:
            progress(TapeProgress(bag.name, tape.barcode, "write", done, size))

    try:
        held.check()
        writer = _Writer(held, max(0, tape.capacity - tape.used()), tick, cancel)
        held.remove(name)  # our own copy that failed its read-back: written anew
        held.remove(partial)  # a crash during an earlier write
        if layout == "folder":
            digests = _write_folder(bag, partial, writer)
        else:
            digests = _write_tar(bag, partial, writer)
        damaged = damaged_in_staging(bag, digests)
        if damaged:  # what was read from the staging bag no longer matches its manifests
            raise IntegrityFailure("error.bag_damaged", bag=str(bag),
                                   files=", ".join(damaged[:5]))
        held.check()
        held.rename(partial, name)
        try:
            held.sync_index()  # on the tape for good before it is recorded anywhere
        except OSError:
            if held.there():
                held.remove(name)  # not on the tape for good: no copy, nothing left
            raise
        held.check()  # renamed, but is it on the tape? the next write reads it back
        return digests
    except TapeGone as exc:
        held.remove(partial)
        raise held.gone(bag.name) from exc
    except BaseException as exc:
        held.remove(partial)
        if is_dead(exc):  # the LTFS process ended, whatever the cached stat says
            raise held.gone(bag.name, dead=True) from exc
        if isinstance(exc, (OSError, TapeFull)) and not held.there():
            raise held.gone(bag.name) from exc  # the tape went: not full, not failing
        raise


def record_events(bag_name: str, catalogue: CopyBook, settings: Settings) -> Path:
    """PREMIS events of every tape copy of a bag (replication, then the read-back's fixity
    check), kept beside the catalogue: the bag itself never changes once on tape."""
    workbench = Agent("software", "migration workbench", __version__)
    copies = catalogue.history(bag_name)
    size = copies[-1].bytes if copies else 0
    doc = PremisDocument(objects=[PremisObject(bag_name, bag_name, size, {}, "BagIt bag")])
    for e in copies:
        tape = Agent("hardware", f"LTFS tape {e.barcode} ({e.pool} pool)")
        agents = ((workbench, "executing program"), (tape, "executing program"))
        if e.result in (WRITTEN, FAILED) and not e.verified:
            doc.events.append(Event("replication", e.written, "success" if e.result == WRITTEN
                                    else "failure", f"copy {e.copy} to tape {e.barcode}, "
                                    f"{e.layout} layout, {e.bytes} bytes", e.detail, agents,
                                    (bag_name,)))
        if e.verified:
            doc.events.append(Event("fixity check", e.verified, "success" if
                                    e.result == VERIFIED else "failure",
                                    f"read back from tape {e.barcode} against the manifests",
                                    e.detail, agents, (bag_name,)))
    folder = settings.paths.logs / "tape-premis"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{bag_name}.premis.xml"
    write_atomic(path, doc.to_xml())
    return path


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _keep_index(tape: Tape, settings: Settings) -> None:
    """Keep a copy of the LTFS index when the mount exposes one (ltfs-index*.xml)."""
    for index in tape.mount.glob("ltfs-index*.xml"):
        folder = settings.paths.logs / "ltfs-index"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(index, folder / f"{tape.barcode}-{utc_now().replace(':', '')}.xml")


# -- whole runs ------------------------------------------------------------------------

def staged_bags(settings: Settings) -> list[Path]:
    root = settings.paths.bags
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and (p / "bagit.txt").is_file()) if root.is_dir() else []


def station_tapes(settings: Settings) -> list[Tape]:
    """The labelled tapes mounted at the station; two with one barcode are refused (the
    copies of one would be counted for the other)."""
    tapes = find_tapes(settings.paths.tape, load_generations(settings.paths.profiles))
    seen: dict[str, Tape] = {}
    for tape in tapes:
        if tape.barcode in seen:
            raise BadInput("error.duplicate_barcode", barcode=tape.barcode,
                           first=str(seen[tape.barcode].mount), second=str(tape.mount))
        seen[tape.barcode] = tape
    return tapes


def make_plan(settings: Settings, book: CopyBook, bags: list[Path] | None = None,
              avoid: frozenset[str] = frozenset()) -> tuple[list[Assignment], list[Unplaced]]:
    """avoid: barcodes not to write to (a tape whose copy of the bag just failed)."""
    return plan(staged_bags(settings) if bags is None else bags, [
        t for t in station_tapes(settings) if t.barcode not in avoid], book,
        settings.tape_pools, settings.tape_headroom)


def run_plan(settings: Settings, book: CopyBook, bags: list[Path] | None = None,
             progress: Callable[[TapeProgress], None] | None = None,
             cancel: threading.Event | None = None, avoid: frozenset[str] = frozenset()
             ) -> tuple[list[CopyEntry], list[Unplaced]]:
    """Write every bag that lacks a verified copy in a pool; re-plan after a failed copy
    (a full tape: the next one). A bag is tried at most once on each tape in one run: one
    that failed there is reported (reason "failed"), never written again and again.
    Each tape written to gets the catalogue of what it holds (write_tape_catalogue)."""
    done: list[CopyEntry] = []
    touched: dict[str, Tape] = {}
    tried: set[tuple[str, str]] = set()

    filled: set[str] = set()  # tapes that filled in this run

    def left() -> list[Unplaced]:
        assignments, unplaced = make_plan(settings, book, bags, avoid | filled)
        return unplaced + [Unplaced(a.bag, a.size, a.pool, "failed") for a in assignments
                           if (a.bag.name, a.barcode) in tried]

    for tape in station_tapes(settings):  # a write cut short (a kill, a tape that went)
        for bag in staged_bags(settings) if bags is None else bags:  # gives its room back
            for name in (bag.name, f"{bag.name}.tar"):
                if os.path.lexists(tape.mount / f".{name}.partial"):
                    with contextlib.suppress(OSError):  # a read-only tape: it stays
                        _remove(tape.mount / f".{name}.partial")
    try:
        for _ in range(64):  # each round writes, or fails a (bag, tape) pair for good
            assignments, _ = make_plan(settings, book, bags, avoid | filled)
            fresh = [a for a in assignments if (a.bag.name, a.barcode) not in tried]
            if not fresh:
                return done, left()
            tapes = {t.barcode: t for t in station_tapes(settings)}
            for a in fresh:
                if cancel is not None and cancel.is_set():  # a stop between two bags:
                    raise KeyboardInterrupt  # the next bag is not started
                tried.add((a.bag.name, a.barcode))
                touched[a.barcode] = tapes[a.barcode]
                entry = write_copy(a.bag, tapes[a.barcode], book, settings, progress, cancel)
                done.append(entry)
                if tapes[a.barcode].full:
                    filled.add(a.barcode)
                if entry.result == FAILED:
                    break  # the plan changes (a full tape): plan again
        return done, left()
    finally:
        for tape in touched.values():
            write_tape_catalogue(tape, book)


TAPE_CATALOGUE = "workbench-catalogue.json"


def write_tape_catalogue(tape: Tape, book: CopyBook) -> None:
    """What this tape holds, on the tape itself: the tape can be read on its own."""
    entries = [e for (_, barcode), e in sorted(book.current().items()) if barcode == tape.barcode]
    if not still_mounted(tape):  # never into a bare mount point: the tape went away
        return
    with contextlib.suppress(OSError):  # a full tape: the ledger's export still says it all
        write_atomic(tape.mount / TAPE_CATALOGUE, to_json(entries))


def remove_staging(paths: list[Path]) -> list[Path]:
    """Remove staging copies (the caller has checked every pool holds a verified copy)."""
    removed = []
    for path in paths:
        if path.exists():
            shutil.rmtree(path)
            removed.append(path)
    return removed
