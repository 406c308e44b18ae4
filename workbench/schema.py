"""One small validator for every TOML table we read (settings, profiles, drive files).

Each message names the file, the key and what is allowed, so a technician can fix the
file without reading code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError

_MISSING = object()


@dataclass(frozen=True)
class Field:
    kind: type | tuple[type, ...]
    required: bool = False
    default: Any = None
    #: returns an "allowed" description when the value is wrong, None when fine
    check: Callable[[Any], str | None] | None = None
    #: for a nested table: its own spec
    table: Mapping[str, Field] | None = None
    #: description of what is allowed (for type errors)
    allowed: str = ""


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError("error.file_missing", file=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("error.bad_toml", file=str(path), detail=str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("error.bad_toml", file=str(path), detail=str(exc)) from exc


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "text", int: "integer", float: "number", bool: "true/false",
             list: "list", dict: "table"}
    return " / ".join(names.get(k, k.__name__) for k in kinds)


def check_table(data: Mapping[str, Any], spec: Mapping[str, Field], file: Path,
                where: str = "") -> dict[str, Any]:
    """Validate data against spec; return it with defaults filled in."""
    out: dict[str, Any] = {}
    for key in data:
        if key not in spec:
            raise ConfigError("error.unknown_key", file=str(file), key=where + key,
                              allowed=", ".join(sorted(spec)))
    for key, field in spec.items():
        name = where + key
        value = data.get(key, _MISSING)
        if value is _MISSING:
            if field.required:
                raise ConfigError("error.missing_key", file=str(file), key=name,
                                  allowed=field.allowed or _type_name(field.kind))
            out[key] = (check_table({}, field.table, file, name + ".")
                        if field.table is not None and field.default is None
                        else field.default)
            continue
        # bool is an int in Python; never accept true for a number
        bad_bool = isinstance(value, bool) and bool not in (
            field.kind if isinstance(field.kind, tuple) else (field.kind,))
        if not isinstance(value, field.kind) or bad_bool:
            raise ConfigError("error.bad_value", file=str(file), key=name, value=repr(value),
                              allowed=field.allowed or _type_name(field.kind))
        if field.table is not None:
            if not isinstance(value, Mapping):  # a spec whose kind is not dict
                raise ConfigError("error.bad_value", file=str(file), key=name,
                                  value=repr(value), allowed=field.allowed or "table")
            value = check_table(value, field.table, file, name + ".")
        if field.check is not None:
            problem = field.check(value)
            if problem:
                raise ConfigError("error.bad_value", file=str(file), key=name,
                                  value=repr(value), allowed=problem)
        out[key] = value
    return out


def one_of(*choices: object) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else "one of " + ", ".join(map(str, choices))
    return check


def list_of(kind: type, allowed: str, each: Callable[[Any], bool] = lambda v: True
            ) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        ok = all(isinstance(v, kind) and not isinstance(v, bool) and each(v) for v in value)
        return None if ok else allowed
    return check
