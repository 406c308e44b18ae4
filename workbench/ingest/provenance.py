"""The source's identity, kept as provenance: which disc or disk the files came from
(its device, file system, label, UUID, serial where the system says them), read without
writing anything."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

import psutil

from workbench.ingest.sources import FolderSource, ImageSource


def _lsblk(device: str) -> dict[str, str]:
    if not device.startswith("/dev/") or shutil.which("lsblk") is None:
        return {}
    try:
        out = subprocess.run(["lsblk", "-ndP", "-o", "LABEL,UUID,SERIAL,MODEL,FSTYPE,SIZE",
                              device], capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    fields: dict[str, str] = {}
    for pair in shlex.split(out):
        key, _, value = pair.partition("=")
        if value:
            fields[key.lower()] = value
    return fields


def _mount_of(path: Path) -> Any:
    best = None
    for part in psutil.disk_partitions(all=True):
        mp = part.mountpoint
        inside = str(path) == mp or str(path).startswith(mp.rstrip("/") + "/")
        if inside and (best is None or len(mp) > len(best.mountpoint)):
            best = part
    return best


def provenance(path: Path, source: FolderSource | ImageSource) -> dict[str, Any]:
    real = path.resolve()
    out: dict[str, Any] = {"kind": source.kind, "path": str(real), "host": socket.gethostname()}
    if isinstance(source, FolderSource):
        mount = _mount_of(real)
        if mount is not None:
            out.update({"device": mount.device, "mountpoint": mount.mountpoint,
                        "fstype": mount.fstype, "mount_options": mount.opts})
            out.update(_lsblk(mount.device))
    else:
        st = os.stat(real)
        out["size"] = source.image.size
        out["volumes"] = source.volumes
        if stat.S_ISBLK(st.st_mode):
            out["device"] = str(real)
            out.update(_lsblk(str(real)))
    return out
