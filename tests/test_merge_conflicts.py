"""Two stations, one item ID, two discs: `ledger merge` keeps both histories and says so.
Also one disc under two item IDs at two stations, and the same image under two IDs in
`show` and `log` at one station. Ledgers are written through the Station layer, imaging
the training media."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import MEDIA, workbench_cmd
from workbench.config import Settings
from workbench.errors import ExitCode
from workbench.profiles import load_profiles
from workbench.station import Station

GOOD = MEDIA / "fd35-2hd-good.drive.toml"
USB = MEDIA / "usb-sample.drive.toml"


def station(root: Path, station_id: str) -> Settings:
    """A station in its own folder (workbench.toml there, so the CLI finds the same)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "workbench.toml").write_text(f'[station]\nid = "{station_id}"\n'
                                         '[imaging]\nfree_space_margin_mb = 0\n')
    base = Settings()
    return replace(base, station_id=station_id, free_space_margin=0, map_save_seconds=0.5,
                   paths=replace(base.paths, staging=root / "staging", bags=root / "bags",
                                 tape=root / "tape", ledger=root / "logs" / "ledger.sqlite",
                                 logs=root / "logs"))


def image(settings: Settings, *jobs: tuple[Path, str, str]) -> dict[str, str]:
    """Image (drive, profile, item) jobs at a station; item -> image SHA-256."""
    profiles = load_profiles(settings.paths.profiles)
    digests = {}
    with Station(settings) as st:
        for drive, profile, item in jobs:
            result = st.image_carrier(drive, profiles[profile], item)
            assert result.record.outcome == "success", result.record.reason
            digests[item] = result.record.digests["sha256"]
    return digests


def altered_floppy(folder: Path) -> Path:
    """The good floppy with one byte changed: the same kind of disc, other content."""
    data = bytearray((MEDIA / "fd35-2hd-good.img").read_bytes())
    data[40000] ^= 0xFF
    (folder / "altered.img").write_bytes(bytes(data))
    drive = folder / "altered.drive.toml"
    drive.write_text('image = "altered.img"\nmodel = "Other floppy drive"\n')
    return drive


@pytest.fixture
def two_stations(tmp_path):
    """Station A and station B, each with its ledger; B's exported to b.sqlite.
    A: ITEM-1 the good floppy, ITEM-2 the USB stick.
    B: ITEM-1 the USB stick (another carrier under A's ID, and A's ITEM-2 under another
    ID), ITEM-5 an altered floppy."""
    a, b = station(tmp_path / "a", "station-a"), station(tmp_path / "b", "station-b")
    da = image(a, (GOOD, "fd35-2hd", "ITEM-1"), (USB, "usb", "ITEM-2"))
    db = image(b, (USB, "usb", "ITEM-1"), (altered_floppy(tmp_path), "fd35-2hd", "ITEM-5"))
    exported = workbench_cmd("ledger", "export", str(tmp_path / "b.sqlite"), cwd=tmp_path / "b")
    assert exported.returncode == 0, exported.stderr
    return tmp_path, a, b, da, db


def test_one_item_id_with_two_discs_is_a_conflict_and_both_histories_stay(two_stations):
    root, _, _, da, db = two_stations
    merged = workbench_cmd("ledger", "merge", str(root / "b.sqlite"), "--conflicts",
                           str(root / "conflicts.csv"), cwd=root / "a")
    assert merged.returncode == ExitCode.CONFLICTS, merged.stdout + merged.stderr
    out = merged.stdout
    assert "CONFLICT ITEM-1: different content at station-a" in out, out
    assert da["ITEM-1"][:16] in out and db["ITEM-1"][:16] in out
    assert "1 item ID(s) with different content" in out and "Every history was merged" in out
    rows = list(csv.DictReader((root / "conflicts.csv").open()))
    items = [r for r in rows if r["kind"] == "item"]
    assert [(r["a_item_id"], r["a_station_id"], r["a_sha256"], r["a_profile_id"],
             r["b_station_id"], r["b_sha256"], r["b_profile_id"]) for r in items] == [
        ("ITEM-1", "station-a", da["ITEM-1"], "fd35-2hd", "station-b", db["ITEM-1"], "usb")]
    assert items[0]["a_started"] and items[0]["b_started"]
    # one image under two IDs: A's ITEM-2 and B's ITEM-1 are the same USB stick
    images = {(r["a_item_id"], r["a_station_id"], r["b_item_id"], r["b_station_id"])
              for r in rows if r["kind"] == "image"}
    assert images == {("ITEM-1", "station-b", "ITEM-2", "station-a")}
    # nothing was dropped: ITEM-1's history has both stations' attempts
    shown = workbench_cmd("show", "ITEM-1", cwd=root / "a").stdout
    assert "Workbench Training floppy drive" in shown and "Training USB stick" in shown
    assert "Same image (SHA-256) as ITEM-2" in shown  # B's ITEM-1 is A's USB stick


def test_a_second_merge_reports_nothing_new_but_the_conflicts_stand(two_stations):
    root, *_ = two_stations
    assert workbench_cmd("ledger", "merge", str(root / "b.sqlite"), cwd=root / "a"
                         ).returncode == ExitCode.CONFLICTS
    again = workbench_cmd("ledger", "merge", str(root / "b.sqlite"), "--conflicts",
                          str(root / "again.json"), cwd=root / "a")
    assert again.returncode == ExitCode.SUCCESS, again.stdout + again.stderr
    assert "attempts 0" in again.stdout and "No new conflict; 2 standing" in again.stdout
    assert json.loads((root / "again.json").read_text()) == []
    standing = workbench_cmd("ledger", "conflicts", "--out", str(root / "all.json"),
                             cwd=root / "a")
    assert standing.returncode == ExitCode.CONFLICTS
    found = json.loads((root / "all.json").read_text())
    assert sorted(c["kind"] for c in found) == ["image", "item"]
    assert {c["a"]["item_id"] for c in found if c["kind"] == "item"} == {"ITEM-1"}


def test_one_disc_under_one_id_at_two_stations_is_no_conflict(tmp_path):
    """B imaged ITEM-8 as A did (the same disc, the same ID: work done twice): merged
    without a word."""
    a, b = station(tmp_path / "a", "station-a"), station(tmp_path / "b", "station-b")
    image(a, (GOOD, "fd35-2hd", "ITEM-8"))
    image(b, (GOOD, "fd35-2hd", "ITEM-8"))
    with Station(a) as st:
        merged = st.records.merge(b.paths.ledger)
        assert merged.added["attempts"] == 1 and merged.conflicts == []
        assert st.records.conflicts() == []


def test_one_item_id_with_other_content_of_the_same_kind(two_stations):
    """ITEM-5 at B is an altered floppy; A then images the good floppy as ITEM-5: same
    profile, different digest, a conflict of content alone."""
    root, a, _, da, db = two_stations
    image(a, (GOOD, "fd35-2hd", "ITEM-5"))
    with Station(a) as st:
        merged = st.records.merge(root / "b.sqlite")
    conflicts = [c for c in merged.conflicts if c.kind == "item"]
    by_item = {c.a.item_id: c for c in conflicts}
    assert set(by_item) == {"ITEM-1", "ITEM-5"}
    five = by_item["ITEM-5"]
    assert five.a.profile_id == five.b.profile_id == "fd35-2hd"
    assert {(five.a.station_id, five.a.sha256), (five.b.station_id, five.b.sha256)} == {
        ("station-a", da["ITEM-1"]), ("station-b", db["ITEM-5"])}  # A's is the good floppy


def test_show_and_log_say_when_two_carriers_share_an_image(tmp_path):
    a = station(tmp_path / "a", "station-a")
    image(a, (GOOD, "fd35-2hd", "FD-1"), (GOOD, "fd35-2hd", "FD-2"), (USB, "usb", "USB-1"))
    shown = workbench_cmd("show", "FD-1", cwd=tmp_path / "a")
    assert "Same image (SHA-256) as FD-2" in shown.stdout, shown.stdout + shown.stderr
    assert "Same image" not in workbench_cmd("show", "USB-1", cwd=tmp_path / "a").stdout
    log = workbench_cmd("log", cwd=tmp_path / "a").stdout.splitlines()
    fd2 = next(line for line in log if " FD-2 " in line)
    usb = next(line for line in log if " USB-1 " in line)
    assert "same image as FD-1" in fd2 and "same image" not in usb
    ja = workbench_cmd("--lang", "ja", "log", cwd=tmp_path / "a").stdout
    assert "FD-2 と同一イメージ" in ja


def test_a_carrier_routed_at_one_station_and_retried_at_another_is_no_conflict(tmp_path):
    """Routing sends a carrier to other equipment (tryout 15c T3): the other station's
    image is the retry routing asked for, never "different content". Two images of one
    item at two stations still are."""
    from workbench.ledger.conflicts import find_conflicts
    from workbench.ledger.db import connect
    from workbench.ledger.export import merge_ledger
    a, b = station(tmp_path / "a", "station-a"), station(tmp_path / "b", "station-b")
    profiles = load_profiles(a.paths.profiles)
    with Station(a) as st:
        result = st.image_carrier(MEDIA / "fd35-2hd-truncating.drive.toml",
                                  profiles["fd35-2hd"], "RT-1")
        assert result.record.outcome == "failed"
        st.route("RT-1", "needs_flux", "weak signal")
    image(b, (GOOD, "fd35-2hd", "RT-1"))
    con = connect(a.paths.ledger)
    merge_ledger(con, b.paths.ledger)
    assert [c.kind for c in find_conflicts(con)] == []
    con.close()
