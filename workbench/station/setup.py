"""Station set-up and operator sign-in: the one place their input is judged, for the
set-up screen and `workbench setup` alike.

    settings = save(path, {"organisation": "National Library", "station_id": "fd-2"})
    settings = sign_in(settings, "Sato")    # this session's operator (events, bags)
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from workbench.carrier_info import check_text
from workbench.config import (
    DEFAULT_FILE,
    UNNAMED,
    Settings,
    find_config,
    station_id_ok,
    write_settings,
)
from workbench.errors import BadInput

# form field -> (settings table, key)
FIELDS: dict[str, tuple[str, str]] = {
    "station_id": ("station", "id"),
    "organisation": ("station", "organisation"),
    "contact_name": ("station", "contact_name"),
    "contact_email": ("station", "contact_email"),
    "language": ("station", "language"),
    "codepage": ("station", "legacy_codepage"),
    "operator": ("station", "operator"),
    "pools": ("tape", "pools"),
    "camera_command": ("camera", "command"),
    "camera_timeout": ("camera", "timeout_seconds"),
    "block_read_only": ("protect", "block_read_only"),  # restore | keep | off
}


def settings_file(settings: Settings) -> Path:
    """The file set-up writes: the one the settings came from (--config,
    $WORKBENCH_CONFIG, ./workbench.toml), else ./workbench.toml (made)."""
    return settings.source or find_config() or Path.cwd() / DEFAULT_FILE


def check_organisation(name: str) -> str:
    name = check_text("organisation", name)
    if not name or name == UNNAMED:
        raise BadInput("setup.organisation_needed")
    return name


def changes_from(values: dict[str, str | float | None]) -> dict[str, dict[str, object]]:
    """The settings changes a form (or the command line) asks for; None: unchanged."""
    changes: dict[str, dict[str, object]] = {}
    for name, value in values.items():
        if value is None:
            continue
        if name not in FIELDS:
            raise BadInput("setup.unknown_field", field=name, known=", ".join(FIELDS))
        table, key = FIELDS[name]
        out: object
        if name == "organisation":
            out = check_organisation(str(value))
        elif name == "pools":
            out = [p.strip() for p in str(value).split(",") if p.strip()]
        elif name == "camera_timeout":
            try:
                out = float(value)
            except ValueError as exc:
                raise BadInput("setup.bad_number", field=name, value=str(value)) from exc
            if not math.isfinite(out):  # nan is no number of seconds (and never equal)
                raise BadInput("mfix.not_finite", field=name, value=str(value))
        elif name == "station_id" and not station_id_ok(str(value).strip()):
            raise BadInput("lead.bad_station_id", value=str(value))
        elif name == "contact_email" and value and "@" not in str(value):
            raise BadInput("setup.bad_email", value=str(value))
        else:
            out = check_text(name, str(value))
        changes.setdefault(table, {})[key] = out
    return changes


def save(path: Path, values: dict[str, str | float | None]) -> Settings:
    """Write the changes into the station settings file (comments kept, atomically,
    checked first: a bad value leaves the file as it was)."""
    return write_settings(path, changes_from(values))


def sign_in(settings: Settings, name: str) -> Settings:
    """This session's operator: the name goes into attempts, events, bags and PREMIS."""
    name = check_text("operator", name)
    if not name:
        raise BadInput("setup.operator_needed")
    return replace(settings, operator=name)
