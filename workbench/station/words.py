"""Counted words: English says "1 copy", "2 copies". A key KEY has a sibling KEY_one for
a count of one (Japanese gives both the same text); the count is the {count} field."""

from __future__ import annotations

from workbench.i18n import t


def plural(key: str, count: int, /, lang: str | None = None, **fields: object) -> str:
    return t(f"{key}_one" if count == 1 else key, lang=lang, count=count, **fields)
