"""Describing a carrier: catalogue record, title, volume N of M, condition, photos.

    info = describe(station, "FD-1", record_id="MMS-991", title="...", volume="2/3",
                    conditions="mould,scratches", note="...",
                    photos=[("label", Path("label.jpg"))], camera=["carrier"])

Every call records a new version in the ledger (when anything changed); photos are
copied into the job folder (<staging>/<item>/photos/, atomically, digests recorded) and
go into the bag as tag files. A camera set in the station settings takes a photo by
running its command. Input is judged before anything is copied or recorded: a bad field
or a missing photo changes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import signal
import stat
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.atomic import fsync_dir
from workbench.carrier_info import (
    PHOTO_ROLES,
    CarrierInfo,
    CarrierTags,
    Photo,
    check_text,
    condition_words,
    parse_conditions,
    parse_volume,
    sniff_format,
)
from workbench.errors import BadInput, IntegrityFailure, Refused
from workbench.i18n import human_bytes, t, translate
from workbench.imaging.engine import job_dir
from workbench.ledger import carrier_meta

if TYPE_CHECKING:
    from workbench.config import Settings
    from workbench.station.core import Station

PHOTO_DIR = "photos"
MAX_PHOTO = 200 * 1024 * 1024  # a photo larger than this is not a photo
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif", ".webp",
                  ".gif", ".bmp")
# a photo's name in the bag ends as its bytes say, whatever it was called
FORMAT_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "HEIF": ".heic",
                 "WebP": ".webp", "GIF": ".gif", "BMP": ".bmp"}
HEAD = 40 * 1024  # enough to say what a file that is no photo is (an ISO's CD001)


def current(station: Station, item_id: str) -> CarrierInfo | None:
    from workbench.imaging.preflight import check_item_id
    return carrier_meta.current(station.con, check_item_id(item_id))


def describe(station: Station, item_id: str, *, record_id: str | None = None,
             title: str | None = None, volume: str | None = None,
             conditions: str | Iterable[str] | None = None, note: str | None = None,
             photos: Iterable[tuple[str, Path]] = (), photo_folder: Path | None = None,
             camera: Iterable[str] = (), warnings: list[str] | None = None
             ) -> CarrierInfo:
    """Record the carrier's description; None keeps a field as it is, "" clears it.
    Photos are added to those it has (the same file twice is one photo). warnings gets
    what was recorded but is worth a look: a folder's entries that are no photos, a
    volume that another carrier of the set already is."""
    said = warnings if warnings is not None else []
    from workbench.imaging.preflight import check_item_id
    item_id = check_item_id(item_id)
    before = carrier_meta.current(station.con, item_id) or CarrierInfo(item_id)
    info = before
    if record_id is not None:
        info = info.changed(record_id=check_text("record_id", record_id))
    if title is not None:
        info = info.changed(title=check_text("title", title))
    if volume is not None:
        n, m = parse_volume(volume)
        info = info.changed(volume=n, volumes=m)
    if conditions is not None:
        info = info.changed(conditions=parse_conditions(
            conditions if isinstance(conditions, str) else list(conditions)))
    if note is not None:
        info = info.changed(condition_note=check_text("condition_note", note, multiline=True))
    if info.volumes and info.volumes > 1 and not info.record_id:
        raise BadInput("meta.set_needs_record", item=item_id, count=info.bag_count)
    sources = [(_role(role), Path(path)) for role, path in photos]
    if photo_folder is not None:
        sources += folder_photos(photo_folder, said)
    for _, path in sources:  # every file checked before any is copied
        _check_photo_file(path)
    roles = [_role(r) for r in camera]
    if roles and not station.settings.camera_command:
        raise Refused("meta.camera_not_set")
    job = job_dir(station.settings, item_id)
    added = list(info.photos)
    for role, path in sources:
        added = _add(added, _import(job, role, path, added, path.name))
    for role in roles:
        taken = take_photo(station.settings, job / PHOTO_DIR, role)
        try:
            try:
                _check_photo_file(taken)
            except BadInput as exc:
                raise Refused("meta.camera_failed", command=station.settings.camera_command,
                              detail=exc.message()) from exc
            added = _add(added, _import(job, role, taken, added, "camera"))
        finally:
            taken.unlink(missing_ok=True)
    info = info.changed(photos=tuple(added), operator=station.settings.operator,
                        station_id=station.settings.station_id)
    said += set_warnings(station, info)
    return carrier_meta.record(station.con, info)


def set_warnings(station: Station, info: CarrierInfo) -> list[str]:
    """What contradicts info's volume N of M among the other carriers of its catalogue
    record: one that is volume N already, one of a set of another size. Said, not
    refused: a library re-describes, and either carrier may be the wrong one."""
    if not info.record_id or not info.volumes:
        return []
    out = []
    for other in carrier_meta.same_record(station.con, info.record_id, info.item_id):
        if not other.volumes:
            continue
        fields: dict[str, object] = {
            "record": info.record_id, "item": info.item_id, "n": info.volume,
            "m": info.volumes, "other": other.item_id, "other_n": other.volume,
            "other_m": other.volumes}
        if other.volumes != info.volumes:
            out.append(translate("mfix.set_size", fields))
        elif other.volume == info.volume:
            out.append(translate("mfix.set_volume_taken", fields))
    return out


def _role(role: str) -> str:
    role = role.strip().lower()
    if role not in PHOTO_ROLES:
        raise BadInput("meta.bad_photo_role", role=role, roles=", ".join(PHOTO_ROLES))
    return role


def _check_photo_file(path: Path) -> None:
    if not path.is_file():
        raise BadInput("meta.photo_missing", file=str(path))
    size = path.stat().st_size
    if size == 0 or size > MAX_PHOTO:
        raise BadInput("meta.photo_size", file=str(path), size=human_bytes(size),
                       limit=human_bytes(MAX_PHOTO))
    with open(path, "rb") as fh:
        head = fh.read(HEAD)
    if sniff_format(head) not in FORMAT_SUFFIX:  # by its bytes, not its name
        raise BadInput("mfix.not_a_photo", file=str(path), found=_what_is(head))


def _what_is(head: bytes) -> str:
    """What a file that is no photo seems to be, in words (for the refusal)."""
    if head.startswith(b"%PDF"):
        return t("mfix.found_pdf")
    if head[32769:32774] == b"CD001":
        return t("mfix.found_iso")
    if head.startswith(b"PK\x03\x04"):
        return t("mfix.found_zip")
    if head[510:512] == b"\x55\xaa":
        return t("mfix.found_disk")
    try:
        text = head[:512].decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return t("mfix.found_text")
    return t("mfix.found_bytes", bytes=head[:8].hex(" "))


def _not_a_photo(path: Path) -> str:
    """Why a folder entry is no photo file, in words."""
    try:
        mode = path.stat().st_mode  # follows a link: where it leads counts
    except OSError:
        return t("mfix.skip_broken")
    if stat.S_ISDIR(mode):
        return t("mfix.skip_folder")
    if stat.S_ISFIFO(mode):
        return t("mfix.skip_fifo")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return t("mfix.skip_device")
    if not stat.S_ISREG(mode):
        return t("mfix.skip_special")
    return t("mfix.skip_suffix", suffix=path.suffix or "-")


def folder_photos(folder: Path, skipped: list[str] | None = None
                  ) -> list[tuple[str, Path]]:
    """The photos in a folder: image files by their suffix; a name that begins with a
    role (label.jpg, sleeve-back.png) takes that role, others are 'other'. Every other
    entry (a folder, a pipe, a device, a file of another kind) is named in skipped."""
    if not folder.is_dir():
        raise BadInput("meta.photo_folder_missing", folder=str(folder))
    found, passed = [], []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES:
            role = next((r for r in PHOTO_ROLES if path.name.lower().startswith(r)), "other")
            found.append((role, path))
        else:
            passed.append(t("mfix.skipped", file=path.name, folder=str(folder),
                            why=_not_a_photo(path)))
    if not found:
        raise BadInput("meta.photo_folder_empty", folder=str(folder),
                       suffixes=" ".join(PHOTO_SUFFIXES)) if not passed else \
            BadInput("mfix.photo_folder_none", folder=str(folder), skipped=" ".join(passed))
    if skipped is not None:
        skipped += passed
    return found


def photo_entries(text: str, skipped: list[str] | None = None) -> list[tuple[str, Path]]:
    """Photos as typed in the UI: entries separated by ';', each ROLE=PATH or PATH; a
    folder's photos are all taken (see folder_photos), a file without a role takes the
    role its name begins with (else 'other')."""
    found: list[tuple[str, Path]] = []
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        role, eq, rest = entry.partition("=")
        path = Path(rest.strip() if eq and role.strip().lower() in PHOTO_ROLES
                    else entry).expanduser()
        if path.is_dir():
            found += folder_photos(path, skipped)
            continue
        named = next((r for r in PHOTO_ROLES if path.name.lower().startswith(r)), "other")
        found.append((role.strip() if eq and role.strip().lower() in PHOTO_ROLES else named,
                      path))
    return found


def _add(photos: list[Photo], photo: Photo | None) -> list[Photo]:
    return photos if photo is None else [*photos, photo]


def _import(job: Path, role: str, source: Path, have: list[Photo], origin: str
            ) -> Photo | None:
    """Copy a photo into the job folder's photos/ (temp name, fsync, rename): its
    digest is computed from the bytes written. None: the carrier has it already."""
    folder = job / PHOTO_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".incoming-{os.getpid()}.tmp"
    digest = hashlib.sha256()
    size, head = 0, b""
    try:
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                head = head or chunk[:16]
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        sha = digest.hexdigest()
        if any(p.sha256 == sha for p in have):
            return None
        suffix = FORMAT_SUFFIX.get(sniff_format(head), ".bin")
        n = 1 + sum(1 for p in have if p.role == role)
        while (folder / f"{role}-{n}{suffix}").exists() and \
                _sha256(folder / f"{role}-{n}{suffix}") != sha:
            n += 1  # a file left by a describe that crashed before its record
        target = folder / f"{role}-{n}{suffix}"
        os.replace(tmp, target)
        fsync_dir(folder)
    finally:
        tmp.unlink(missing_ok=True)
    return Photo(role, f"{PHOTO_DIR}/{target.name}", sha, size, sniff_format(head), origin)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def take_photo(settings: Settings, folder: Path, role: str) -> Path:
    """Run the station's camera command ({path}: the file it must write) within its
    timeout. Any failure is a Refused saying what happened; nothing is recorded."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f".camera-{role}-{os.getpid()}.jpg"
    target.unlink(missing_ok=True)
    try:
        args = [a.replace("{path}", str(target)) for a in shlex.split(settings.camera_command)]
    except ValueError as exc:
        raise Refused("meta.camera_failed", command=settings.camera_command,
                      detail=str(exc)) from exc
    try:  # its own process group: a timeout ends the command and anything it started
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, errors="replace",
                                start_new_session=True)
    except FileNotFoundError as exc:
        raise Refused("meta.camera_not_found", program=args[0] if args else "",
                      command=settings.camera_command) from exc
    except OSError as exc:
        raise Refused("meta.camera_failed", command=settings.camera_command,
                      detail=exc.strerror or str(exc)) from exc
    try:
        stdout, stderr = proc.communicate(timeout=settings.camera_timeout)
    except subprocess.TimeoutExpired as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()  # the pipes close with the group
        target.unlink(missing_ok=True)
        raise Refused("meta.camera_timeout", command=settings.camera_command,
                      seconds=f"{settings.camera_timeout:g}") from exc
    done = subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
        raise Refused("meta.camera_failed", command=settings.camera_command,
                      detail=t("meta.camera_exit", code=done.returncode, text=last[0][:200]))
    if not target.is_file() or target.stat().st_size == 0:
        target.unlink(missing_ok=True)
        raise Refused("meta.camera_no_file", command=settings.camera_command,
                      path=str(target))
    return target


def carrier_tags(station: Station, item_id: str) -> CarrierTags | None:
    """What the bag carries of the description (None: the carrier has none). Each
    photo is read from the job folder, or else from an earlier bag of the carrier (its
    staging copy released), and must match its recorded digest."""
    info = carrier_meta.current(station.con, item_id)
    if info is None or info.empty:
        return None
    job = job_dir(station.settings, item_id)
    bags = sorted(station.settings.paths.bags.glob(f"{item_id}*/metadata/{PHOTO_DIR}"))
    files = []
    for photo in info.photos:
        for path in [job / photo.file, *(b / photo.name for b in bags)]:
            if path.is_file():
                data = path.read_bytes()
                if hashlib.sha256(data).hexdigest() == photo.sha256:
                    files.append((photo, data))
                    break
        else:
            raise IntegrityFailure("meta.photo_lost", item=item_id, file=str(job / photo.file),
                                   sha256=photo.sha256)
    cameras = (station.settings.camera_command,) if any(
        p.source == "camera" for p in info.photos) and station.settings.camera_command else ()
    return CarrierTags(info, files, cameras)


def stale_bag(station: Station, item_id: str) -> str | None:
    """The name of the carrier's current bag when it holds another description than the
    current one (described after bagging: a bag never changes; a withdrawal and a new
    bag version carry the new one), else None."""
    import json
    info = carrier_meta.current(station.con, item_id)
    bag = station.state(item_id).bag
    if info is None or bag is None:
        return None
    try:
        held = json.loads((Path(bag.path) / "metadata" / "carrier.json").read_text(
            encoding="utf-8")).get("version", "")
    except (OSError, ValueError):
        held = ""
    return None if held == info.version else bag.name


def lines(info: CarrierInfo | None) -> list[str]:
    """The description in words (`workbench show`, the UI)."""
    if info is None or info.empty:
        return [t("meta.none")]
    out = []
    if info.record_id:
        out.append(t("meta.line_record", record=info.record_id))
    if info.title:
        out.append(t("meta.line_title", title=info.title))
    if info.volumes:
        out.append(t("meta.line_volume", n=info.volume, m=info.volumes))
    if info.conditions:
        out.append(t("meta.line_condition", words=condition_words(info.conditions)))
    if info.condition_note:
        out.append(t("meta.line_note", note=" ".join(info.condition_note.split())))
    out += photo_lines(info)
    out.append(t("meta.line_by", operator=info.operator or "-", station=info.station_id,
                 recorded=info.recorded))
    return out


def photo_lines(info: CarrierInfo | None) -> list[str]:
    return [t("meta.line_photo", role=t(f"meta.role_{photo.role}"), file=photo.file,
              size=human_bytes(photo.size), sha=photo.sha256[:12])
            for photo in (info.photos if info is not None else ())]


def shown(station: Station, item_id: str) -> list[str]:
    """The description as `workbench show` and the carrier detail screen show it ([]
    when the carrier has none)."""
    info = current(station, item_id)
    if info is None:
        return []
    stale = stale_bag(station, item_id)
    return [t("meta.heading"), *("  " + line for line in lines(info)),
            *(["  " + t("meta.bag_older", bag=stale)] if stale else [])]
