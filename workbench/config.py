"""Station settings: one TOML file, validated, with defaults that work in an empty folder.

Lookup order: --config, then $WORKBENCH_CONFIG, then ./workbench.toml, else defaults.
Relative paths in a file are taken relative to that file's folder; the defaults are
relative to the current directory.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from workbench import DATA_ROOT, IN_CHECKOUT
from workbench.errors import ConfigError
from workbench.i18n import LANGUAGES
from workbench.schema import Field, check_table, load_toml, one_of

CONFIG_ENV = "WORKBENCH_CONFIG"
DEFAULT_FILE = "workbench.toml"
_STATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def station_id_ok(value: str) -> bool:
    return _STATION_ID.match(value) is not None
UNNAMED = "Unnamed organisation"  # the placeholder of a station not yet set up


_CODEPAGES = "a legacy code page, e.g. cp932, shift_jis, euc_jp, cp437, cp850, cp1252, latin-1"
_ASCII = bytes(range(0x20, 0x7F))


def _codepage(value: str) -> str | None:
    """A legacy single- or double-byte code page: a text codec that reads and writes
    printable ASCII as itself (old file names are mostly ASCII). Not a Unicode
    encoding (utf-8, utf-16, utf-7: names in those are read as such anyway) and not a
    bytes transform (base64, rot13)."""
    try:
        info = codecs.lookup(value)
    except LookupError:
        return _CODEPAGES
    if not getattr(info, "_is_text_encoding", True):
        return _CODEPAGES + " (not a bytes transform)"
    if info.name.startswith("utf") or info.name in (
            "idna", "punycode", "unicode-escape", "raw-unicode-escape"):
        return _CODEPAGES + " (not a Unicode encoding)"
    try:
        ascii_ok = info.decode(_ASCII)[0] == _ASCII.decode("ascii") and \
            info.encode(_ASCII.decode("ascii"))[0] == _ASCII
    except (UnicodeError, ValueError):
        ascii_ok = False
    return None if ascii_ok else _CODEPAGES + " (one that keeps ASCII as it is)"


SPEC = {
    "station": Field(dict, table={
        "id": Field(str, default="station-1", allowed="letters, digits, . _ - (max 64)",
                    check=lambda v: None if _STATION_ID.match(v)
                    else "letters, digits, . _ - (max 64)"),
        "organisation": Field(str, default=UNNAMED),
        "contact_name": Field(str, default=""),
        "contact_email": Field(str, default=""),
        "operator": Field(str, default=""),
        "write_blocker": Field(str, default=""),
        "legacy_codepage": Field(str, default="cp932", check=_codepage),
        "language": Field(str, default="en", check=one_of(*LANGUAGES)),
    }),
    "paths": Field(dict, table={
        "staging": Field(str, default="staging"),
        "bags": Field(str, default="bags"),
        "tape": Field(str, default="tape"),
        "ledger": Field(str, default="logs/ledger.sqlite"),
        "logs": Field(str, default="logs"),
        "profiles": Field(str, default=""),
    }),
    # the shared ledger on a PostgreSQL server (issue 15); empty: the SQLite file of
    # [paths] ledger. WORKBENCH_LEDGER_URL overrides it.
    "ledger": Field(dict, table={
        "url": Field(str, default="", check=lambda v: None if not v or v.startswith(
            ("postgresql://", "postgres://")) else "postgresql://USER@HOST:PORT/DATABASE"),
    }),
    "tape": Field(dict, table={
        "pools": Field(list, default=["primary", "secondary"],
                       check=lambda v: None if v and all(isinstance(x, str) and x for x in v)
                       and len(set(v)) == len(v) else "a list of distinct pool names"),
        "headroom_percent": Field((int, float), default=5,
                                  check=lambda v: None if 0 <= v < 50 else "0 to 50"),
        "tar_threshold": Field(int, default=1000,
                               check=lambda v: None if v >= 1 else "1 or more files"),
        # issue 16: re-verification schedule (0: none), the LTFS drive (empty: folders
        # stand in for tapes) and its SCSI generic device for MAM reads
        "verify_after_days": Field(int, default=365,
                                   check=lambda v: None if v >= 0 else "0 or more days"),
        "device": Field(str, default=""),
        "sg_device": Field(str, default=""),
        # the LTFS tape backend (mkltfs --backend, ltfs -o tape_backend): "" is the
        # tools' default (sg); "file" is LTFS's file-backed simulator (tests, training)
        "ltfs_backend": Field(str, default=""),
    }),
    "ingest": Field(dict, table={
        # file names (globs) of checksum lists beside the files, besides the usual ones
        "checksum_lists": Field(list, default=[], check=lambda v: None if all(
            isinstance(x, str) and x and "/" not in x for x in v) else "file name patterns"),
    }),
    "optical": Field(dict, table={
        "eject_when_done": Field(bool, default=True),
        "online_lookup": Field(bool, default=False),
        "next_disc_wait_seconds": Field((int, float), default=600, check=lambda v: None
                                        if 1 <= v <= 86400 else "1 to 86400"),
        # drive (vendor and model, as `workbench drives` shows it) -> read offset in
        # samples, as AccurateRip lists it; corrected when audio is read
        "read_offsets": Field(dict, default={}, check=lambda v: None if all(
            isinstance(k, str) and isinstance(n, int) and -3000 <= n <= 3000
            for k, n in v.items()) else "a table of drive = whole number of samples"),
    }),
    "camera": Field(dict, table={
        # run to photograph a carrier; {path} is replaced by the file to write
        "command": Field(str, default="", check=lambda v: None if not v or "{path}" in v
                         else "a command holding {path}, the file it writes"),
        "timeout_seconds": Field((int, float), default=60, check=lambda v: None
                                 if 1 <= v <= 600 else "1 to 600"),
    }),
    "identify": Field(dict, table={
        # a whole image's identification stops here; the report says "incomplete"
        "time_limit_minutes": Field((int, float), default=60, check=lambda v: None
                                    if 0.1 <= v <= 7 * 24 * 60 else "0.1 to 10080"),
    }),
    "imaging": Field(dict, table={
        "map_save_seconds": Field((int, float), default=5,
                                  check=lambda v: None if 0.5 <= v <= 300 else "0.5 to 300"),
        "free_space_margin_mb": Field(int, default=64,
                                      check=lambda v: None if v >= 0 else "0 or more"),
    }),
}

# -- the disc robot (autoloader) of unattended batches: workbench.station.autoload -------
# Commands are split like a shell line (no shell runs them); {drive}, {item}, {batch}
# are filled in. Exit 0: done; an exit code in empty_exit_codes (or output matching
# empty_output) from `load` or `status`: the input stack is empty; anything else, or no
# answer within command_timeout_seconds: an error that stops the batch.
def _between(low: float, high: float) -> Callable[[float], str | None]:
    return lambda v: None if low <= v <= high else f"{low} to {high}"


def _regex_problem(value: str) -> str | None:
    try:
        re.compile(value)
    except re.error as exc:
        return f"a regular expression ({exc})"
    return None


SPEC["autoloader"] = Field(dict, table={
    "load": Field(str, default=""), "unload": Field(str, default=""),
    "reject": Field(str, default=""), "status": Field(str, default=""),
    "prepare": Field(str, default=""),
    "empty_exit_codes": Field(list, default=[3], check=lambda v: None if all(
        isinstance(n, int) and 1 <= n <= 255 for n in v) else "whole numbers 1 to 255"),
    "empty_output": Field(str, default="", check=lambda v: _regex_problem(v)),
    "command_timeout_seconds": Field((int, float), default=180, check=_between(1, 3600)),
    "medium_wait_seconds": Field((int, float), default=60, check=_between(0.1, 3600)),
    "open_tray": Field(bool, default=True),
})

UDEV_EXEMPT_KEYS = ("ID_SERIAL", "ID_SERIAL_SHORT", "ID_WWN", "ID_FS_UUID", "ID_PART_ENTRY_UUID")
UDEV_EXEMPT = re.compile(r"^(" + "|".join(UDEV_EXEMPT_KEYS) + r")=[A-Za-z0-9._:+-]+\Z")

# -- source protection and virus scanning (workbench/imaging/readonly.py, workbench/scan) --
SPEC["protect"] = Field(dict, table={
    # BLKROSET on a block-device source while it is imaged: then "restore" (clear the flag
    # the workbench set), "keep" (leave the device read-only), or "off" (never set it)
    "block_read_only": Field(str, default="restore", check=one_of("restore", "keep", "off")),
    # the station's own disks the udev rule leaves writable though they look removable
    # (a card-reader staging disk, a removable-flagged backup disk): "ID_SERIAL=..." or
    # "ID_FS_UUID=..." as `udevadm info` shows them; exact values, no udev globs
    "udev_exempt": Field(list, default=[], check=lambda v: None if all(
        isinstance(x, str) and UDEV_EXEMPT.match(x) for x in v) else
        "KEY=VALUE with KEY one of " + ", ".join(UDEV_EXEMPT_KEYS)
        + " and VALUE letters, digits and . _ - : + only"),
})
SPEC["virus_scan"] = Field(dict, table={
    "command": Field(str, default="clamscan", allowed="clamscan, or its full path"),
    # the signature database folder or file; "": the station's (freshclam's) own
    "database": Field(str, default=""),
    "enabled": Field(bool, default=True),
})


@dataclass(frozen=True)
class AutoloaderSettings:
    load: str = ""
    unload: str = ""
    reject: str = ""
    status: str = ""  # optional: asked before each load
    prepare: str = ""  # optional: once at the start of a batch (a robot's "pre-batch")
    empty_exit_codes: tuple[int, ...] = (3,)
    empty_output: str = ""  # a regular expression; "" matches nothing
    command_timeout_seconds: float = 180.0
    medium_wait_seconds: float = 60.0  # after a load, until the drive sees the disc
    open_tray: bool = True  # open the drive's tray before unload and reject

    @classmethod
    def from_table(cls, table: dict) -> AutoloaderSettings:
        return cls(**{**table, "empty_exit_codes": tuple(table["empty_exit_codes"]),
                      "command_timeout_seconds": float(table["command_timeout_seconds"]),
                      "medium_wait_seconds": float(table["medium_wait_seconds"])})


@dataclass(frozen=True)
class Paths:
    staging: Path
    bags: Path
    tape: Path
    ledger: Path
    logs: Path
    profiles: Path


@dataclass(frozen=True)
class Settings:
    station_id: str = "station-1"
    organisation: str = UNNAMED
    contact_name: str = ""
    contact_email: str = ""
    operator: str = ""
    write_blocker: str = ""  # the write blocker between the drives and this computer
    legacy_codepage: str = "cp932"
    language: str = "en"
    map_save_seconds: float = 5.0
    free_space_margin: int = 64 * 1024 * 1024
    tape_pools: tuple[str, ...] = ("primary", "secondary")
    tape_headroom: float = 0.05
    tar_threshold: int = 1000
    tape_verify_days: int = 365  # copies last checked longer ago are due (0: never due)
    tape_device: str = ""  # the LTFS tape drive (mkltfs/ltfs -o devname=); "": folders
    tape_sg_device: str = ""  # its SCSI generic device, for MAM reads (sg_read_attr)
    tape_backend: str = ""  # LTFS tape backend ("": the tools' default, sg)
    checksum_lists: tuple[str, ...] = ()  # ingest: more checksum list names (globs)
    read_offsets: dict[str, int] = field(default_factory=dict)
    eject_when_done: bool = True  # an optical drive opens its tray once a disc is imaged
    online_lookup: bool = False  # ask AccurateRip and the CUETools DB (network)
    next_disc_wait_seconds: float = 600.0  # a batch waits this long for the next disc
    identify_seconds: float = 3600.0  # identification of one image stops after this long
    autoloader: AutoloaderSettings = field(default_factory=AutoloaderSettings)
    camera_command: str = ""  # photographs a carrier: {path} is the file it writes
    camera_timeout: float = 60.0
    block_read_only: str = "restore"  # restore | keep | off ([protect])
    udev_exempt: tuple[str, ...] = ()  # KEY=VALUE: disks the udev rule leaves alone
    virus_scan: bool = True  # [virus_scan] enabled: False gives a "not scanned" entry
    virus_command: str = "clamscan"
    virus_database: str = ""  # "": the station's own (freshclam's) signature database
    paths: Paths = field(default_factory=lambda: _paths(Path.cwd(), {}))
    ledger_url: str = ""  # [ledger] url: the shared ledger on a server (ledger/link.py)
    source: Path | None = None
    training: bool = False

    @property
    def organisation_unset(self) -> bool:
        """A real station (not training) whose organisation was never set: its bags
        would say the placeholder. Said wherever a bag is made (a warning)."""
        return not self.training and self.organisation.strip() in ("", UNNAMED)

    def read_offset_of(self, drive: str) -> int:
        """The read offset set for a drive (vendor and model), 0 when none is."""
        return self.read_offsets.get(drive, 0)

    def for_training(self) -> Settings:
        """Training keeps its ledger and files apart from the real station's."""
        root = training_root()
        return replace(self, training=True, station_id=f"{self.station_id}-training",
                       paths=replace(self.paths, staging=root / "staging",
                                     bags=root / "bags", tape=root / "tape",
                                     ledger=root / "ledger.sqlite", logs=root / "logs"))


def training_root() -> Path:
    """Where training writes: ./training in a checkout (as always); an installed package
    uses the per-user data folder ($XDG_DATA_HOME, else ~/.local/share), never the
    install folder and never whatever folder the trainee happens to be in."""
    if IN_CHECKOUT:
        return Path.cwd() / "training"
    data = os.environ.get("XDG_DATA_HOME") or ""
    base = Path(data) if os.path.isabs(data) else Path.home() / ".local" / "share"
    return base / "migration-workbench" / "training"


def _paths(base: Path, table: dict) -> Paths:
    def resolve(key: str, default: str) -> Path:
        value = table.get(key) or default
        path = Path(value).expanduser()
        return path if path.is_absolute() else base / path
    profiles = table.get("profiles") or ""
    return Paths(
        staging=resolve("staging", "staging"),
        bags=resolve("bags", "bags"),
        tape=resolve("tape", "tape"),
        ledger=resolve("ledger", "logs/ledger.sqlite"),
        logs=resolve("logs", "logs"),
        profiles=resolve("profiles", "") if profiles else DATA_ROOT / "profiles",
    )


def find_config(explicit: str | os.PathLike | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path.cwd() / DEFAULT_FILE
    return local if local.is_file() else None


def load_settings(explicit: str | os.PathLike | None = None) -> Settings:
    path = find_config(explicit)
    if path is None:
        return Settings()
    if not path.is_file():
        raise ConfigError("error.file_missing", file=str(path))
    data = check_table(load_toml(path), SPEC, path)
    station, paths, imaging, tape = data["station"], data["paths"], data["imaging"], data["tape"]
    optical, identify, camera = data["optical"], data["identify"], data["camera"]
    return Settings(
        station_id=station["id"],
        organisation=station["organisation"],
        contact_name=station["contact_name"], contact_email=station["contact_email"],
        operator=station["operator"],
        write_blocker=station["write_blocker"],
        legacy_codepage=station["legacy_codepage"],
        language=station["language"],
        map_save_seconds=float(imaging["map_save_seconds"]),
        free_space_margin=imaging["free_space_margin_mb"] * 1024 * 1024,
        tape_pools=tuple(tape["pools"]), tape_headroom=tape["headroom_percent"] / 100,
        tar_threshold=tape["tar_threshold"],
        tape_verify_days=tape["verify_after_days"], tape_device=tape["device"],
        tape_sg_device=tape["sg_device"], tape_backend=tape["ltfs_backend"],
        checksum_lists=tuple(data["ingest"]["checksum_lists"]),
        read_offsets=dict(optical["read_offsets"]),
        eject_when_done=optical["eject_when_done"],
        online_lookup=optical["online_lookup"],
        next_disc_wait_seconds=float(optical["next_disc_wait_seconds"]),
        identify_seconds=float(identify["time_limit_minutes"]) * 60,
        autoloader=AutoloaderSettings.from_table(data["autoloader"]),
        camera_command=camera["command"], camera_timeout=float(camera["timeout_seconds"]),
        block_read_only=data["protect"]["block_read_only"],
        udev_exempt=tuple(data["protect"]["udev_exempt"]),
        virus_scan=data["virus_scan"]["enabled"], virus_command=data["virus_scan"]["command"],
        virus_database=data["virus_scan"]["database"],
        paths=_paths(path.resolve().parent, paths),
        ledger_url=data["ledger"]["url"],
        source=path,
    )


# -- writing (station set-up) ----------------------------------------------------------

def _toml_value(value: object) -> str:
    """A TOML value for the kinds settings hold: text, numbers, booleans, lists of text."""
    import json
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def _statements(lines: list[str]) -> list[tuple[int, int]]:
    """The file as (first, end) line spans, one per statement: a key's value written
    over several lines (a multi-line string, an array) is one span, so nothing inside it
    is taken for a key or a table header. A span is the shortest run of lines from its
    first that parses alone; a line that never does stands alone (the caller's check
    refuses what comes of it)."""
    import tomllib
    spans, n = [], 0
    while n < len(lines):
        end = n + 1
        if lines[n].strip() and not lines[n].lstrip().startswith("#"):
            for k in range(n + 1, len(lines) + 1):
                try:
                    tomllib.loads("\n".join(lines[n:k]))
                except tomllib.TOMLDecodeError:
                    continue
                end = k
                break
        spans.append((n, end))
        n = end
    return spans


def settings_text(old: str, changes: dict[str, dict[str, object]]) -> str:
    """old with changes ({table: {key: value}}) made in place: other lines, comments and
    order kept; a changed key's value is replaced (all its lines), a new key goes at the
    end of its table, a new table at the end. The caller checks the result parses as
    intended."""
    lines = old.splitlines()
    for table, values in changes.items():
        header = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]\s*(#.*)?$")
        for key, value in values.items():
            spans = _statements(lines)
            start = next((i for i, (a, _) in enumerate(spans) if header.match(lines[a])),
                         None)
            if start is None:
                if lines and lines[-1].strip():
                    lines.append("")
                lines.append(f"[{table}]")
                spans = _statements(lines)
                start = len(spans) - 1
            stop = next((i for i in range(start + 1, len(spans))
                         if re.match(r"^\s*\[", lines[spans[i][0]])), len(spans))
            text = f"{key} = {_toml_value(value)}"
            pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
            at = next((i for i in range(start + 1, stop)
                       if pattern.match(lines[spans[i][0]])), None)
            if at is not None:
                first, end = spans[at]
                lines[first:end] = [text]
            else:
                last = spans[stop - 1][1] if stop > start + 1 else spans[start][1]
                while last - 1 > spans[start][0] and not lines[last - 1].strip():
                    last -= 1  # after the table's last line, before blank lines
                lines.insert(last, text)
    return "\n".join(lines) + "\n"


def write_settings(path: Path, changes: dict[str, dict[str, object]]) -> Settings:
    """Set values in the station settings file at path (made when missing), keeping its
    comments and other lines; checked before anything is written, written atomically.
    Returns the settings as they now load."""
    import tomllib

    from workbench.atomic import write_atomic
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    new = settings_text(old, changes)
    try:
        data = tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("error.bad_toml", file=str(path), detail=str(exc)) from exc
    for table, values in changes.items():
        for key, value in values.items():
            got = data.get(table, {}).get(key)
            if got != (list(value) if isinstance(value, tuple) else value):
                # a key written across several lines (an array): not edited blindly
                raise ConfigError("setup.cannot_edit", file=str(path), key=f"{table}.{key}")
    check_table(data, SPEC, path)  # refused here: the file is untouched
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, new)
    return load_settings(path)
