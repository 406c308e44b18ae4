"""The one translation layer: every user-facing string is looked up here.

Catalogs are TOML files in workbench/locales/: one per language (en.toml) plus one per
area in the language's folder (en/identify.toml), merged; a key defined twice is an
error. Sections flatten to dotted keys ("error.unknown_profile"). Messages use
str.format placeholders.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

LANGUAGES = ("en", "ja")
_LOCALES = Path(__file__).parent / "locales"
_current = os.environ.get("WORKBENCH_LANG", "en") if os.environ.get(
    "WORKBENCH_LANG", "en") in LANGUAGES else "en"


def _flatten(table: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


@cache
def catalog(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in [_LOCALES / f"{lang}.toml", *sorted((_LOCALES / lang).glob("*.toml"))]:
        with open(path, "rb") as fh:
            part = _flatten(tomllib.load(fh))
        twice = sorted(set(part) & set(merged))
        if twice:
            raise ValueError(f"{path}: keys defined twice: {', '.join(twice[:5])}")
        merged.update(part)
    return merged


def set_language(lang: str) -> None:
    global _current
    if lang not in LANGUAGES:
        raise ValueError(lang)
    _current = lang


def language() -> str:
    return _current


def t(key: str, /, lang: str | None = None, **params: object) -> str:
    """Translate key into the current (or given) language, falling back to English."""
    return translate(key, params, lang)


def translate(key: str, params: Mapping[str, object], lang: str | None = None) -> str:
    """t() with the placeholders' values as a mapping: any name may be a placeholder, even
    "lang", which t() takes as the language."""
    text = catalog(lang or _current).get(key) or catalog("en").get(key)
    if text is None:
        return key  # a missing key is caught by tests; never crash a technician's run
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        return text


def human_bytes(n: float, lang: str | None = None) -> str:
    """Binary units, as technicians compare them to drive labels."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"


def is_utf8(text: str) -> bool:
    """Whether text can be written as UTF-8: a name of undecodable bytes (surrogate
    escapes from another system) cannot be held by records, the ledger or PREMIS."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
