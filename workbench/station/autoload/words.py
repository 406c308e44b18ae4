"""A batch's news in words, one line each: the same lines in the terminal and the UI."""

from __future__ import annotations

from typing import Any

from workbench.i18n import t
from workbench.station.autoload.night import why


def news(kind: str, fields: dict[str, Any], lang: str | None = None) -> str:
    """kind and fields as AutoloadBatch's notify gives them."""
    if kind == "out":
        reason = why(str(fields.get("reason", "")), lang) if fields.get("reason") else ""
        fields = {**fields, "status": t(f"autoload.status.{fields['status']}", lang=lang),
                  "bin": t(f"autoload.bin.{fields['bin']}", lang=lang), "why": reason}
        kind = "out_why" if reason else "out"
    elif kind == "resume":
        fields = {**fields, "state": t(f"state.{fields['state']}", lang=lang)}
    elif kind == "continue" and fields.get("item"):
        kind = "continue_in_drive"
    return t(f"autoload.say.{kind}", lang=lang, **fields)
