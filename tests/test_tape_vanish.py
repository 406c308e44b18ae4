"""Issue 16 item 6 on `tape write`: a tape that goes mid-copy (a stand-in folder moved
away, a real mount lazily unmounted), a full cartridge part-way through a bag, a write
killed part-way. Nothing cut short is recorded or counted, nothing lands in the bare
mount point, and the next write after the tape is back makes the copy."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.test_station import GOOD, mount_tapes, settings_in
from workbench.errors import Aborted
from workbench.station import State, Station
from workbench.tape import stage
from workbench.tape.tapes import LABEL, Tape

IS_ROOT = os.geteuid() == 0


def away_on_first_write(root: Path, barcode: str = "P00001L8"):
    """A progress callback that, at the first block written to the tape, moves the tape
    folder away and leaves an empty folder at its path: a mount point whose tape went."""
    mount = root / "tape" / barcode
    moved = root / "away" / barcode

    def progress(*args: object) -> None:
        p = args[-1]
        if getattr(p, "phase", "") == "write" and getattr(p, "barcode", "") == barcode \
                and not moved.exists():
            moved.parent.mkdir(exist_ok=True)
            mount.rename(moved)
            mount.mkdir()
    return progress, mount, moved


def put_back(mount: Path, moved: Path) -> None:
    mount.rmdir()
    moved.rename(mount)


def copies_on(st: Station, barcode: str) -> list[str]:
    return [e.result for e in st.tapes.book.history("FD-1") if e.barcode == barcode]


@pytest.mark.parametrize("tar", [False, True], ids=["folder", "tar"])
def test_a_tape_gone_mid_write_records_nothing_and_the_next_write_makes_the_copy(
        tmp_path: Path, tar: bool):
    mount_tapes(tmp_path)
    settings = replace(settings_in(tmp_path), tar_threshold=2 if tar else 1000)
    with Station(settings) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1", review=True)
        st.accept("FD-1", stage=False)
        progress, mount, moved = away_on_first_write(tmp_path)
        with pytest.raises(Aborted) as gone:
            st.tapes.write(progress=progress)
        assert gone.value.key == "tapefix.tape_gone_write"
        words = gone.value.message("en")
        assert "P00001L8" in words and "FD-1" in words and "tape write" in words
        assert copies_on(st, "P00001L8") == []  # not failed, not written: nothing
        assert st.state("FD-1").state is State.BAGGED
    assert list(mount.iterdir()) == []  # nothing into the bare mount point
    assert sorted(p.name for p in moved.iterdir()) == [LABEL]  # the cut copy removed
    put_back(mount, moved)
    with Station(settings) as st:
        assert st.tapes.write()[1] == []
        assert copies_on(st, "P00001L8") == ["written", "verified"]
        assert st.state("FD-1").state is State.ON_TAPE


def test_a_tape_gone_while_accepting_leaves_the_bag_waiting_for_tape(tmp_path: Path):
    mount_tapes(tmp_path)
    progress, mount, moved = away_on_first_write(tmp_path)
    with Station(settings_in(tmp_path), progress=progress) as st:
        result = st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1")
        waiting = [d for step, outcome, d in result.steps
                   if step == "tape" and outcome == "waiting"]
        assert waiting and "P00001L8" in waiting[0]
        assert result.record.outcome == "success" and result.bag is not None
        assert st.state("FD-1").state is State.BAGGED
        assert copies_on(st, "P00001L8") == []
    assert list(mount.iterdir()) == []
    put_back(mount, moved)
    with Station(settings_in(tmp_path)) as st:
        st.tapes.write()
        assert st.state("FD-1").state is State.ON_TAPE


def test_a_tape_gone_before_the_rename_is_never_recorded_written(tmp_path: Path,
                                                                 monkeypatch):
    """The last look before the copy counts: gone after the last byte, before the
    rename (the bag's files are all written), nothing recorded."""
    mount_tapes(tmp_path)
    mount, moved = tmp_path / "tape" / "P00001L8", tmp_path / "away"
    real = stage.damaged_in_staging

    def then_gone(bag: Path, digests: dict[str, str]) -> list[str]:
        if not moved.exists():
            mount.rename(moved)
            mount.mkdir()
        return real(bag, digests)

    monkeypatch.setattr(stage, "damaged_in_staging", then_gone)
    with Station(settings_in(tmp_path)) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1", review=True)
        st.accept("FD-1", stage=False)
        with pytest.raises(Aborted):
            st.tapes.write()
        assert copies_on(st, "P00001L8") == []
    assert list(mount.iterdir()) == []
    assert not (moved / "FD-1").exists() and not (moved / ".FD-1.partial").exists()


@pytest.mark.skipif(not IS_ROOT, reason="mounting a tmpfs needs root")
def test_a_real_mount_lazily_unmounted_mid_write_gets_nothing_in_its_mount_point(
        tmp_path: Path):
    """umount -l: the open folder still works, its path now names the station's own
    disk. No file of the copy may go there, and no label, catalogue or partial."""
    mount_tapes(tmp_path)
    primary = tmp_path / "tape" / "P00001L8"
    label = (primary / LABEL).read_bytes()
    (primary / LABEL).unlink()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(primary)]
                      ).returncode != 0:
        pytest.skip("this machine cannot mount tmpfs")
    mounted = True
    try:
        (primary / LABEL).write_bytes(label)

        def unmount(*args: object) -> None:
            nonlocal mounted
            p = args[-1]
            if mounted and getattr(p, "barcode", "") == "P00001L8":
                subprocess.run(["umount", "-l", str(primary)], check=True)
                mounted = False

        with Station(settings_in(tmp_path)) as st:
            st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1", review=True)
            st.accept("FD-1", stage=False)
            with pytest.raises(Aborted) as gone:
                st.tapes.write(progress=unmount)
            assert "P00001L8" in gone.value.message("en")
            assert copies_on(st, "P00001L8") == []
        assert not mounted and list(primary.iterdir()) == []
    finally:
        if mounted:
            subprocess.run(["umount", str(primary)])


def test_a_partial_copy_left_by_a_killed_write_is_removed_wherever_it_lies(tmp_path: Path):
    """A write killed part-way leaves `.BAG.partial` on its tape; the next run may plan
    the bag onto another tape (the first filled meanwhile): the leftover still goes, and
    gives its room back."""
    mount_tapes(tmp_path)
    left = tmp_path / "tape" / "S00001L8" / ".FD-1.partial"
    (left / "data").mkdir(parents=True)
    (left / "data" / "image.img").write_bytes(b"\0" * 4096)
    (tmp_path / "tape" / "P00001L8" / ".FD-1.tar.partial").write_bytes(b"\0" * 512)
    with Station(settings_in(tmp_path)) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1")
        assert st.state("FD-1").state is State.ON_TAPE
    leftovers = [p for p in (tmp_path / "tape").rglob("*") if ".partial" in p.name]
    assert leftovers == []


def test_a_full_cartridge_mid_bag_goes_on_to_the_next_and_never_splits(tmp_path: Path,
                                                                      monkeypatch):
    """The planner saw room (its estimate was wrong); the tape fills part-way. The copy
    cut short is removed, the tape is marked full even when its label cannot be
    rewritten (a full LTFS tape may refuse even that), the bag goes whole onto the next
    cartridge, and the failed attempt is no copy."""
    mount_tapes(tmp_path)
    from workbench import PROJECT_ROOT
    from workbench.tape.tapes import label_tape, load_generations
    label_tape(tmp_path / "tape" / "P00002L8", "P00002L8", "primary", "LTO-8", 50_000_000,
               load_generations(PROJECT_ROOT / "profiles"))
    small = tmp_path / "tape" / "P00001L8"
    (small / LABEL).write_text((small / LABEL).read_text().replace("50000000", "400000"))
    monkeypatch.setattr(Tape, "room", lambda self, headroom: 10**9 if not self.full else 0)
    real_save = Tape.save_label

    def refuse_on_full(self: Tape) -> None:
        if self.full:
            raise OSError(28, "No space left on device", str(self.mount / LABEL))
        real_save(self)

    monkeypatch.setattr(Tape, "save_label", refuse_on_full)
    with Station(settings_in(tmp_path)) as st:
        result = st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1")
        assert st.state("FD-1").state is State.ON_TAPE
        history = [(e.barcode, e.result) for e in st.tapes.book.history("FD-1")]
        assert ("P00001L8", "failed") in history and ("P00002L8", "verified") in history
        assert not any(b == "P00001L8" and r in ("written", "verified") for b, r in history)
        steps = [d for s, _, d in result.steps if s.startswith("tape copy")]
        assert any("filled" in d for d in steps)
    assert not any(".partial" in p.name or p.name == "FD-1" for p in small.iterdir())
    assert (tmp_path / "tape" / "P00002L8" / "FD-1" / "bagit.txt").is_file()


KILL_WRITE = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
import workbench.tape.stage as stage
real = stage._Writer.counted
def counted(self, n):
    real(self, n)
    if self.held.tape.barcode == "P00001L8":  # part of the bag is on the tape
        os.kill(os.getpid(), signal.SIGKILL)
stage._Writer.counted = counted
from workbench.cli import main
sys.exit(main(["tape", "write"]))
"""


def test_a_tape_write_killed_mid_copy_counts_nothing_and_the_next_write_makes_it(
        tmp_path: Path):
    import sys

    from tests.test_tape_retrieve import cli
    from workbench import PROJECT_ROOT
    root = tmp_path / "station"
    root.mkdir()
    assert cli(root, "migrate", str(GOOD), "--profile", "fd35-2hd", "--item", "FD-1"
               ).returncode == 0  # no tape mounted: the bag waits
    mount_tapes(root)
    killed = subprocess.run([sys.executable, "-c", KILL_WRITE, str(PROJECT_ROOT)], cwd=root,
                            timeout=120)
    assert killed.returncode == -9
    primary = root / "tape" / "P00001L8"
    assert (primary / ".FD-1.partial").is_dir()  # the cut copy, under its partial name
    with Station(settings_in(root)) as st:
        assert copies_on(st, "P00001L8") == []  # nothing recorded of it
        assert st.state("FD-1").state is State.BAGGED
    again = cli(root, "tape", "write")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not (primary / ".FD-1.partial").exists()
    with Station(settings_in(root)) as st:
        assert copies_on(st, "P00001L8") == ["written", "verified"]
        assert st.state("FD-1").state is State.ON_TAPE


def test_another_stations_copy_survives_every_later_write(tmp_path: Path):
    """The first write records a failed copy ("left untouched"); a later write must not
    take that record for one of its own failed copies and remove the other station's
    copy to write its own (it did: a second `tape write` destroyed it)."""
    from tests.conftest import workbench_run
    from tests.test_station import DAMAGED
    from tests.test_station_seams import migrate, station_folder
    s2 = station_folder(tmp_path / "s2", "station-2")
    mount_tapes(s2)
    assert migrate(s2, GOOD, "FD-1").returncode == 0
    theirs = s2 / "tape" / "P00001L8" / "FD-1" / "data" / "image.img"
    before = theirs.read_bytes()
    s1 = station_folder(tmp_path / "s1", "station-1")
    migrate(s1, DAMAGED, "FD-1")
    (s1 / "tape").mkdir()
    os.rename(s2 / "tape" / "P00001L8", s1 / "tape" / "P00001L8")
    for _ in range(3):
        out = workbench_run("tape", "write", cwd=s1)
        assert "left untouched" in out.stdout, out.stdout
    assert (s1 / "tape" / "P00001L8" / "FD-1" / "data" / "image.img").read_bytes() == before
