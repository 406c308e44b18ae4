"""The format report's environment as a PREMIS 3 environment (an intellectual entity):
the carrier's original platform, whether it boots, what starts it, and the emulators
suggested, for the image object to require."""

from __future__ import annotations

from typing import Any

from workbench.package.premis import PremisEnvironment

# Platforms that name a system as well as hardware: both environment functions apply
_WITH_SYSTEM = {"dos", "win16", "win32", "win64", "os2", "x68000", "mac", "mac68k", "macppc",
                "unix"}


def premis_environments(env: dict[str, Any], image_id: str) -> list[PremisEnvironment]:
    """One environment for the best-supported platform, or none when nothing pointed to
    one (a data-only carrier)."""
    if not env or not env.get("platform"):
        return []
    top = env["platforms"][0]
    functions = [("hardware architecture", "1")]
    if top["platform"] in _WITH_SYSTEM:
        functions.append(("operating system", "2"))
    state = env.get("bootable")
    bootable = "true" if state is True else "false" if state is False else "unknown"
    notes = [f"bootable: {bootable}", *top["evidence"]]
    extension: list[tuple[str, str, dict[str, str]]] = [
        ("platform", top["platform"], {}), ("bootable", bootable, {})]
    for run in env.get("autorun", []):
        if run.get("open"):
            extension.append(("autorun", run["open"], {"path": run["path"]}))
    for inst in env.get("installers", []):
        extension.append(("installer", inst["path"], {}))
    for emulator in env.get("emulators", []):
        extension.append(("emulator", emulator["name"], {"id": emulator["id"],
                                                        "platform": emulator["platform"]}))
    return [PremisEnvironment(f"{image_id}#environment", top["name"], tuple(functions),
                              tuple(notes), tuple(extension))]
