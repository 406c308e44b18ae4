"""Carrier metadata: catalogue record, title, volume N of M, condition codes from the
controlled list, photos (files, a folder, a camera command), in the ledger (versions,
merged between stations) and in the bag (carrier.json, photos as tag files, bag-info,
PREMIS), valid by bagit-python and our own validators."""

from __future__ import annotations

import json
import sqlite3
import stat
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import xmlschema

from tests.conftest import MEDIA
from workbench import PROJECT_ROOT
from workbench.carrier_info import parse_volume

# at collection, not under a test's capsys (console binds sys.stderr on import)
from workbench.cli import main
from workbench.config import Settings
from workbench.errors import BadInput, Refused
from workbench.package.bags import check_bag, read_info, read_manifest
from workbench.package.profile import load_bag_profile
from workbench.package.validate import bagit_python
from workbench.station import Station
from workbench.station.metadata import current, describe, photo_entries, stale_bag

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).parent / "premis-subset.xsd"))
NS = {"p": "http://www.loc.gov/premis/v3"}
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + bytes(300)


def settings_in(root: Path, camera_command: str = "", camera_timeout: float = 60.0
                ) -> Settings:
    base = Settings()
    return replace(base, free_space_margin=0, map_save_seconds=0.5,
                   organisation="National Library", operator="Sato",
                   camera_command=camera_command, camera_timeout=camera_timeout,
                   paths=replace(base.paths, staging=root / "staging", bags=root / "bags",
                                 tape=root / "tape", ledger=root / "logs" / "ledger.sqlite",
                                 logs=root / "logs"))


@pytest.fixture
def station(tmp_path: Path):
    with Station(settings_in(tmp_path)) as st:
        yield st


def photos(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "shots").mkdir(exist_ok=True)
    label, sleeve = tmp_path / "shots" / "label.jpg", tmp_path / "shots" / "IMG_0002.png"
    label.write_bytes(JPEG)
    sleeve.write_bytes(PNG)
    return label, sleeve


def test_a_described_carrier_bag_holds_its_metadata_and_photos_and_is_valid(station,
                                                                              tmp_path):
    label, sleeve = photos(tmp_path)
    describe(station, "FD-1", record_id="MMS-991", title="鴎外全集 第2巻", volume="2 of 3",
             conditions="mould, bent-shutter", note="white spots\non the label",
             photos=[("label", label), ("sleeve", sleeve)])
    profile = station.profiles["fd35-2hd"]
    result = station.migrate(MEDIA / "fd35-2hd-good.drive.toml", profile, "FD-1",
                             batch="B-7")
    bag = result.bag
    assert bag is not None
    # valid three ways: bagit-python, our RFC 8493 validator, the BagIt profile
    assert bagit_python(bag) == [] and check_bag(bag) == []
    assert load_bag_profile(PROJECT_ROOT / "profiles").check(bag) == []
    info = dict(read_info(bag))
    assert info["External-Identifier"] == "FD-1"
    assert info["Internal-Sender-Identifier"] == "MMS-991"
    assert info["External-Description"].startswith("鴎外全集 第2巻 (")
    assert info["Bag-Group-Identifier"] == "MMS-991" and info["Bag-Count"] == "2 of 3"
    assert info["Batch-Identifier"] == "B-7"
    assert info["Carrier-Condition"] == "mould, bent shutter"
    assert info["Carrier-Condition-Note"] == "white spots on the label"  # one line
    assert info["Source-Organization"] == "National Library"
    # photos are tag files (not the carrier's content): in the tag manifests, not payload
    tags = read_manifest(bag / "tagmanifest-sha256.txt")
    assert {"metadata/carrier.json", "metadata/photos/label-1.jpg",
            "metadata/photos/sleeve-1.png"} <= set(tags)
    assert not any("photos" in name for name in read_manifest(bag / "manifest-sha256.txt"))
    assert (bag / "metadata" / "photos" / "label-1.jpg").read_bytes() == JPEG
    carrier = json.loads((bag / "metadata" / "carrier.json").read_text())
    assert carrier["volume"] == 2 and carrier["volumes"] == 3
    assert [c["code"] for c in carrier["conditions"]] == ["mould", "bent_shutter"]
    assert carrier["conditions"][0]["ja"] == "カビ"
    assert carrier["condition_note"] == "white spots\non the label"
    assert [p["format"] for p in carrier["photos"]] == ["JPEG", "PNG"]
    assert carrier["photos"][1]["source"] == "IMG_0002.png"
    # PREMIS: the carrier with its significant properties, the photos with fixity, the
    # condition assessment and the photography with the operator as agent
    xml = (bag / "metadata" / "premis.xml").read_bytes()
    SCHEMA.validate(xml.decode())
    root = ET.fromstring(xml)
    kinds = [e.text for e in root.findall("p:event/p:eventType", NS)]
    assert kinds[-3:] == ["condition assessment", "creation", "packing"]
    props = {p.findtext("p:significantPropertiesType", namespaces=NS):
             p.findtext("p:significantPropertiesValue", namespaces=NS)
             for p in root.findall("p:object/p:significantProperties", NS)}
    assert props["volume"] == "2 of 3" and props["catalogue record"] == "MMS-991"
    assert props["title"] == "鴎外全集 第2巻"
    assessment = next(e for e in root.findall("p:event", NS)
                  if e.findtext("p:eventType", namespaces=NS) == "condition assessment")
    assert "bent_shutter" in assessment.findtext(".//p:eventDetail", namespaces=NS)
    person = next(a for a in root.findall("p:agent", NS)
              if a.findtext("p:agentType", namespaces=NS) == "person")
    person_id = person.findtext(".//p:agentIdentifierValue", namespaces=NS)
    assert person.findtext("p:agentName", namespaces=NS) == "Sato"
    assert person_id in [x.text for x in assessment.findall(
        ".//p:linkingAgentIdentifierValue", NS)]
    photo_digests = [f.text for f in root.findall(".//p:fixity/p:messageDigest", NS)]
    assert carrier["photos"][0]["sha256"] in photo_digests
    # described again after bagging: the bag stays as it is, and says it is behind
    assert stale_bag(station, "FD-1") is None
    describe(station, "FD-1", title="鴎外全集 第二巻")
    assert stale_bag(station, "FD-1") == "FD-1"
    assert json.loads((bag / "metadata" / "carrier.json").read_text())["title"] == \
        "鴎外全集 第2巻"


def test_without_a_description_the_bag_is_as_before(station):
    bag = station.migrate(MEDIA / "fd35-2hd-good.drive.toml", station.profiles["fd35-2hd"],
                          "FD-2").bag
    assert bag is not None and not (bag / "metadata" / "carrier.json").exists()
    assert "Carrier-Condition" not in dict(read_info(bag))


@pytest.mark.parametrize("text,expected", [("2/3", (2, 3)), ("2 of 3", (2, 3)),
                                           (" 1 / 1 ", (1, 1)), ("", (None, None))])
def test_volume_n_of_m(text, expected):
    assert parse_volume(text) == expected


@pytest.mark.parametrize("text", ["4/3", "0/3", "3", "two of three", "1/0", "-1/2"])
def test_volume_out_of_range_or_malformed_is_refused(text):
    with pytest.raises(BadInput) as err:
        parse_volume(text)
    assert text.strip() in str(err.value) or "N" in str(err.value)


def test_a_volume_of_a_set_needs_its_catalogue_record(station):
    with pytest.raises(BadInput, match="catalogue record"):
        describe(station, "FD-1", volume="2/3")
    assert describe(station, "FD-1", volume="1/1").bag_count == "1 of 1"


def test_an_unknown_condition_code_is_refused_with_the_nearest_codes(station):
    with pytest.raises(BadInput) as err:
        describe(station, "FD-1", title="kept?", conditions="mould,mold,scratchs")
    message = err.value.message()
    assert '"mold"' in message and "Nearest: mould" in message
    assert "workbench conditions" in message
    assert current(station, "FD-1") is None  # nothing recorded, not even the title
    assert "「mold」" in err.value.message("ja")


def test_hostile_input_is_refused_and_changes_nothing(station, tmp_path):
    label, _ = photos(tmp_path)
    describe(station, "FD-1", title="first")
    for field, value in (("title", "bad\x07title"), ("record_id", "MMS\x1b[31m"),
                         ("title", "evil\u202etxt.exe")):
        with pytest.raises(BadInput, match="control character"):
            describe(station, "FD-1", **{field: value})
    with pytest.raises(BadInput, match="does not exist"):
        describe(station, "FD-1", title="second", photos=[("label", label),
                                                          ("sleeve", tmp_path / "nope.jpg")])
    with pytest.raises(BadInput, match="not a photo role"):
        describe(station, "FD-1", photos=[("selfie", label)])
    with pytest.raises(BadInput, match="at most 500"):
        describe(station, "FD-1", title="x" * 501)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(BadInput, match="more than 0 bytes"):
        describe(station, "FD-1", photos=[("label", tmp_path / "empty.jpg")])
    info = current(station, "FD-1")
    assert info is not None and info.title == "first" and info.photos == ()
    assert not (station.settings.paths.staging / "FD-1" / "photos").exists() or not any(
        (station.settings.paths.staging / "FD-1" / "photos").iterdir())
    # a note may hold line breaks and tabs; nothing else invisible
    assert describe(station, "FD-1", note="a\n\tb").condition_note == "a\n\tb"


def test_versions_are_appended_never_changed(station, tmp_path):
    label, _ = photos(tmp_path)
    first = describe(station, "FD-1", title="A", conditions="dust")
    second = describe(station, "FD-1", title="B", photos=[("label", label)])
    again = describe(station, "FD-1", title="B", photos=[("label", label)])  # same photo
    assert again.version == second.version and len(again.photos) == 1
    assert second.conditions == ("dust",)  # None keeps a field
    rows = station.con.execute("SELECT id, supersedes, title FROM carrier_metadata "
                               "ORDER BY rowid").fetchall()
    assert [(r["title"], r["supersedes"]) for r in rows] == [("A", ""), ("B", first.version)]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        station.con.execute("UPDATE carrier_metadata SET title = 'C'")
    photo = station.settings.paths.staging / "FD-1" / "photos" / "label-1.jpg"
    assert photo.read_bytes() == JPEG
    assert describe(station, "FD-1", conditions="").conditions == ()


def test_a_folder_of_photos_takes_roles_from_names(station, tmp_path):
    photos(tmp_path)
    (tmp_path / "shots" / "notes.txt").write_text("not a photo")
    entries = photo_entries(f"{tmp_path / 'shots'}")
    assert sorted(r for r, _ in entries) == ["label", "other"]
    info = describe(station, "FD-1", photo_folder=tmp_path / "shots")
    assert sorted(p.file for p in info.photos) == ["photos/label-1.jpg", "photos/other-1.png"]
    with pytest.raises(BadInput, match="holds no photos"):
        describe(station, "FD-1", photo_folder=tmp_path / "staging")


def fake_camera(tmp_path: Path, body: str) -> str:
    script = tmp_path / "camera.sh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return f"{script} --filename {{path}}"


def test_the_camera_command_takes_a_photo(tmp_path):
    command = fake_camera(tmp_path, f'printf "$(cat {tmp_path}/frame)" > "$2"\n')
    (tmp_path / "frame").write_bytes(b"\\377\\330\\377\\340camera")
    with Station(settings_in(tmp_path, camera_command=command)) as st:
        info = describe(st, "FD-1", camera=["carrier"])
    assert [(p.role, p.source, p.format) for p in info.photos] == [("carrier", "camera",
                                                                     "JPEG")]
    folder = tmp_path / "staging" / "FD-1" / "photos"
    assert sorted(p.name for p in folder.iterdir()) == ["carrier-1.jpg"]  # no temp left


@pytest.mark.parametrize("body,timeout,words", [
    ('echo "gphoto2: no camera found" >&2\nexit 3\n', 60, ["exit code 3", "no camera found"]),
    ("exit 0\n", 60, ["wrote no photo"]),
    ("sleep 5\n", 0.3, ["did not finish within 0.3 s"]),
])
def test_a_camera_failure_is_a_clear_message_and_records_nothing(tmp_path, body, timeout,
                                                                  words):
    command = fake_camera(tmp_path, body)
    with Station(settings_in(tmp_path, camera_command=command, camera_timeout=timeout)) as st:
        with pytest.raises(Refused) as err:
            describe(st, "FD-1", title="t", camera=["label"])
        assert current(st, "FD-1") is None
    for word in words:
        assert word in err.value.message()
    folder = tmp_path / "staging" / "FD-1" / "photos"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_no_camera_set_or_not_installed(tmp_path):
    with Station(settings_in(tmp_path)) as st, \
            pytest.raises(Refused, match=r"\[camera\] command"):
        describe(st, "FD-1", camera=["label"])
    missing = "/nonexistent/gphoto2 --filename {path}"
    with Station(settings_in(tmp_path, camera_command=missing)) as st, \
            pytest.raises(Refused, match="was not found"):
        describe(st, "FD-1", camera=["label"])


def test_ledger_merge_carries_the_descriptions(tmp_path):
    from workbench.ledger.export import merge_ledger
    a, b = settings_in(tmp_path / "a"), replace(settings_in(tmp_path / "b"),
                                                station_id="station-2")
    with Station(b) as other:
        describe(other, "CD-9", record_id="MMS-5", title="Other station's disc")
    with Station(a) as st:
        first = merge_ledger(st.con, b.paths.ledger)
        again = merge_ledger(st.con, b.paths.ledger)
        info = current(st, "CD-9")
    assert first["carrier_metadata"] == 1 and again["carrier_metadata"] == 0
    assert info is not None and info.station_id == "station-2" and info.record_id == "MMS-5"


def test_cli_describe_show_and_queue_columns(tmp_path, capsys):
    config = tmp_path / "workbench.toml"
    config.write_text('[station]\norganisation = "National Library"\n')
    label, _ = photos(tmp_path)
    assert main(["describe", "FD-1", "--catalogue", "MMS-1", "--title", "Disk one",
                 "--volume", "1/2", "--condition", "dust,label_damaged",
                 "--photo", f"label={label}"]) == 0
    out = capsys.readouterr()
    assert "Volume 1 of 2" in out.out and "label damaged or missing" in out.out
    assert main(["describe", "FD-1", "--condition", "mold"]) == 2
    assert "Nearest: mould" in capsys.readouterr().err
    assert main(["describe", "FD-1", "--photo", "label"]) == 2  # ROLE=FILE
    assert main(["show", "FD-1"]) == 0  # described, not yet imaged
    assert "Catalogue record: MMS-1" in capsys.readouterr().out
    queue = tmp_path / "queue.csv"
    queue.write_text("item,profile,catalogue,title,volume,condition\n"
                     "FD-2,fd35-2hd,MMS-1,Disk two,2/2,scratches\n"
                     "FD-3,fd35-2hd,MMS-1,Disk three,3/2,\n")
    code = main(["queue", str(queue), "--yes", "--drive",
                 str(MEDIA / "fd35-2hd-good.drive.toml")])
    out = capsys.readouterr()
    assert code == 2 and "FD-3" in out.err and "3/2" in out.err  # that row only
    bag = tmp_path / "bags" / "FD-2"
    info = dict(read_info(bag))
    assert info["Bag-Count"] == "2 of 2" and info["Bag-Group-Identifier"] == "MMS-1"
    assert bagit_python(bag) == []
    assert main(["conditions"]) == 0
    assert "cracked_hub" in capsys.readouterr().out


def test_the_metadata_screen_in_the_flow(tmp_path):
    import asyncio

    from textual.widgets import Input, SelectionList, Static

    from workbench.tui.app import WorkbenchApp
    from workbench.tui.flow import ProfileScreen
    from workbench.tui.metadata import MetadataScreen

    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.press("m", *"META-1", "enter")
            await pilot.pause()
            assert isinstance(app.screen, MetadataScreen)
            app.screen.query_one("#record", Input).value = "MMS-77"
            app.screen.query_one("#volume", Input).value = "9/3"
            app.screen.query_one("#conditions", SelectionList).select("scratches")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, MetadataScreen)  # refused, the form kept
            assert "9/3" in str(app.screen.query_one("#meta-message", Static).render())
            app.screen.query_one("#volume", Input).value = "1/3"
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, ProfileScreen)
            info = current(app.station, "META-1")
            assert info is not None and info.conditions == ("scratches",)
            assert info.record_id == "MMS-77" and info.bag_count == "1 of 3"
            await pilot.press("escape")  # back to the description, as saved
            await pilot.pause()
            assert app.screen.query_one("#record", Input).value == "MMS-77"
    asyncio.run(scenario())


def test_the_camera_from_the_metadata_screen(tmp_path):
    import asyncio
    import time

    from textual.widgets import Static

    from workbench.tui.app import WorkbenchApp
    from workbench.tui.metadata import MetadataScreen
    command = fake_camera(tmp_path, 'printf "\\377\\330\\377\\340shot" > "$2"\n')
    settings = replace(Settings().for_training(), camera_command=command)

    async def scenario() -> None:
        app = WorkbenchApp(settings)
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.press("m", *"CAM-1", "enter")
            await pilot.pause()
            assert isinstance(app.screen, MetadataScreen)
            await pilot.press("ctrl+t")
            deadline = time.monotonic() + 20
            while "label-1.jpg" not in str(app.screen.query_one("#photo-list",
                                                                 Static).render()):
                assert time.monotonic() < deadline, "the photo never showed"
                await pilot.pause(0.05)
            info = current(app.station, "CAM-1")
            assert info is not None and info.photos[0].source == "camera"
    asyncio.run(scenario())
