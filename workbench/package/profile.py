"""BagIt Profiles 1.4: load our profile and check a bag against it."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.package.bags import read_info

PROFILE_NAME = "workbench-carrier.json"
_REQUIRED = ("BagIt-Profile-Info", "Bag-Info", "Manifests-Required", "Accept-BagIt-Version")


@dataclass(frozen=True)
class BagProfile:
    data: dict[str, Any]
    source: Path

    @property
    def identifier(self) -> str:
        return self.data["BagIt-Profile-Info"]["BagIt-Profile-Identifier"]

    def check(self, bag: Path) -> list[str]:
        """Problems of bag against this profile (empty: conforms)."""
        d, problems = self.data, []
        version = (bag / "bagit.txt").read_text(encoding="utf-8").splitlines()[0]
        if version.split(":", 1)[-1].strip() not in d.get("Accept-BagIt-Version", []):
            problems.append(f"BagIt version {version!r} is not accepted")
        info = read_info(bag)
        for label, rule in d["Bag-Info"].items():
            values = [v for lab, v in info if lab.lower() == label.lower()]
            if rule.get("required") and not values:
                problems.append(f"bag-info.txt lacks {label}")
            if not rule.get("repeatable", True) and len(values) > 1:
                problems.append(f"bag-info.txt repeats {label}")
            allowed = rule.get("values")
            if allowed and any(v not in allowed for v in values):
                problems.append(f"{label} must be one of {', '.join(allowed)}")
        manifests = {p.name[9:-4] for p in bag.glob("manifest-*.txt")}
        tagmanifests = {p.name[12:-4] for p in bag.glob("tagmanifest-*.txt")}
        for kind, have in (("Manifests", manifests), ("Tag-Manifests", tagmanifests)):
            for algorithm in d.get(f"{kind}-Required", []):
                if algorithm not in have:
                    problems.append(f"{kind.lower()} lack {algorithm}")
            allowed = d.get(f"{kind}-Allowed")
            if allowed is not None:
                problems += [f"{kind.lower()} {a} is not allowed" for a in sorted(have)
                             if a not in allowed]
        if not d.get("Allow-Fetch.txt", True) and (bag / "fetch.txt").exists():
            problems.append("fetch.txt is not allowed")
        files = {str(p.relative_to(bag)) for p in bag.rglob("*") if p.is_file()}
        payload = {f for f in files if f.startswith("data/")}
        tags = files - payload
        for kind, have in (("Tag-Files", tags), ("Payload-Files", payload)):
            for name in d.get(f"{kind}-Required", []):
                if name not in have:
                    problems.append(f"{name} is required")
            allowed = d.get(f"{kind}-Allowed")
            if allowed is not None:
                problems += [f"{name} is not allowed by the profile" for name in sorted(have)
                             if not any(fnmatch.fnmatchcase(name, pat) for pat in allowed)]
        return problems


def load_bag_profile(profiles_root: Path) -> BagProfile:
    path = profiles_root / "bagit" / PROFILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError("error.bad_bag_profile", file=str(path), detail=str(exc)) from exc
    missing = [k for k in _REQUIRED if k not in data]
    if missing or "BagIt-Profile-Identifier" not in data.get("BagIt-Profile-Info", {}):
        raise ConfigError("error.bad_bag_profile", file=str(path),
                          detail="missing " + ", ".join(missing or ["BagIt-Profile-Identifier"]))
    return BagProfile(data, path)
