"""ClamAV's clamscan, run over bytes held in memory: no file is extracted to disk.

    engine = find_clamscan(settings)          # None, and why, when it cannot run
    results = engine.scan([(name, data_fd), ...])   # name -> ("ok" | "found" | ..., sig)

clamscan reads only regular files and a single stdin stream (a FIFO is "not supported"),
and loads its whole signature database on every run (seconds with the full database).
So each file's bytes go into an anonymous memory file (memfd_create), and one clamscan
run reads a batch of them as /proc/self/fd/N, named in a file list: one database load
per batch, and a batch holds a whole floppy, MO or CD in the usual case.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE = Path("/var/lib/clamav")  # Debian's, which freshclam keeps up to date
DATABASE_ENV = "WORKBENCH_VIRUS_DATABASE"  # overrides an empty setting (the test suite)
DB_SUFFIXES = (".cvd", ".cld", ".cud", ".hdb", ".hsb", ".hdu", ".hsu", ".mdb", ".msb",
               ".ndb", ".ndu", ".ldb", ".ldu", ".idb", ".cdb", ".cbc", ".pdb", ".gdb",
               ".wdb", ".fp", ".sfp", ".ign", ".ign2", ".yar", ".yara", ".crb", ".cat")
# a file larger than this is scanned only in part: clamscan says so (alert-exceeds-max)
MAX_FILE = "2000M"
LIMIT_PREFIX = "Heuristics.Limits.Exceeded"
TIMEOUT_SECONDS = 3600.0
_LINE = re.compile(r"^/proc/self/fd/(\d+): (.*)$")


@dataclass(frozen=True)
class Verdict:
    status: str  # ok | found | limit | error | unknown
    signature: str = ""  # the signature that matched, the limit, or clamscan's error


@dataclass(frozen=True)
class ClamScan:
    """A clamscan that can run, with the database it reads."""

    command: str
    database: Path
    engine_version: str  # "1.4.6"
    signatures: str  # each database file and its version (or digest for a custom one)

    def describe(self) -> str:
        return f"ClamAV clamscan {self.engine_version}; signatures: {self.signatures}"

    def scan(self, fds: list[int], cancel: threading.Event | None = None
             ) -> dict[int, Verdict]:
        """One clamscan run over memory files (their descriptors, inherited by it):
        each descriptor's verdict; a descriptor clamscan said nothing of is "unknown".
        cancel: the run is stopped (Cancelled) when it is set."""
        listing = os.memfd_create("workbench-scan-list", os.MFD_CLOEXEC)
        try:
            os.write(listing, "".join(f"/proc/self/fd/{fd}\n" for fd in fds).encode())
            proc = subprocess.Popen(
                [self.command, "--no-summary", "--stdout", "--database", str(self.database),
                 f"--max-filesize={MAX_FILE}", f"--max-scansize={MAX_FILE}",
                 "--alert-exceeds-max=yes", "--file-list", f"/proc/self/fd/{listing}"],
                pass_fds=(*fds, listing), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, errors="replace", stdin=subprocess.DEVNULL)
            out, err = _wait(proc, cancel)
        finally:
            os.close(listing)
        verdicts = {fd: Verdict("unknown") for fd in fds}
        for line in out.splitlines():
            match = _LINE.match(line)
            if not match or int(match.group(1)) not in verdicts:
                continue
            verdicts[int(match.group(1))] = _verdict(match.group(2))
        if proc.returncode not in (0, 1):  # 2: an error; files it reached still count
            why = _last_line(err) or f"clamscan exited with {proc.returncode}"
            for fd, verdict in verdicts.items():
                if verdict.status == "unknown":
                    verdicts[fd] = Verdict("error", why)
        return verdicts


def _wait(proc: subprocess.Popen[str], cancel: threading.Event | None) -> tuple[str, str]:
    """clamscan's output, waiting at most TIMEOUT_SECONDS; stopped on cancel."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        try:
            return proc.communicate(timeout=0.5)
        except subprocess.TimeoutExpired:
            if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
                proc.kill()
                proc.communicate()
                if cancel is not None and cancel.is_set():
                    from workbench.imaging.rescue import Cancelled
                    raise Cancelled from None
                return "", f"clamscan took longer than {TIMEOUT_SECONDS:.0f} s: stopped"


def _verdict(text: str) -> Verdict:
    if text == "OK" or text == "Empty file":
        return Verdict("ok")
    if text.endswith(" FOUND"):
        name = text[:-len(" FOUND")]
        return Verdict("limit" if name.startswith(LIMIT_PREFIX) else "found", name)
    return Verdict("error", text.removesuffix(" ERROR"))


def _last_line(text: str) -> str:
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return lines[-1][:300] if lines else ""


def database_of(setting: str) -> Path:
    """The signature database: the setting, else $WORKBENCH_VIRUS_DATABASE, else the
    station's own (/var/lib/clamav, which the station's freshclam updates)."""
    return Path(setting or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE)


def database_files(database: Path) -> list[Path]:
    if database.is_file():
        return [database]
    if not database.is_dir():
        return []
    return sorted(p for p in database.iterdir() if p.suffix in DB_SUFFIXES and p.is_file())


def signature_versions(files: list[Path]) -> str:
    """"daily.cvd 27512 (26 Nov 2026 ...), main.cvd 62, custom.ndb sha256 1a2b3c4d5e6f":
    an official database's version from its header, a custom one's digest."""
    words = []
    for path in files:
        if path.suffix in (".cvd", ".cld", ".cud"):
            try:
                with open(path, "rb") as fh:
                    head = fh.read(512).decode("ascii", "replace").split(":")
            except OSError:
                head = []
            if len(head) > 3 and head[0] == "ClamAV-VDB":
                words.append(f"{path.name} {head[2]} ({head[1].strip()}, {head[3]} signatures)")
                continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        words.append(f"{path.name} sha256 {digest}")
    return ", ".join(words)


def find_clamscan(command: str, database_setting: str) -> tuple[ClamScan | None, str]:
    """The scanner, or None and why it cannot scan (words for the report). The database
    is looked for first: a station without ClamAV has none either, and the words then
    say both steps."""
    database = database_of(database_setting)
    files = database_files(database)
    if not files:
        return None, (f"no ClamAV signature database at {database} (install the Debian "
                      "package clamav and run freshclam, or set [virus_scan] database)")
    found = shutil.which(command or "clamscan")
    if found is None:
        return None, (f"{command or 'clamscan'} is not installed on this station "
                      "(Debian package clamav)")
    try:
        out = subprocess.run([found, "--version"], capture_output=True, text=True,
                             timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{found} --version failed: {exc}"
    match = re.match(r"ClamAV ([^/\s]+)", out.stdout.strip())
    if out.returncode != 0 or not match:
        return None, f"{found} --version said: {_last_line(out.stdout + out.stderr)}"
    return ClamScan(found, database, match.group(1), signature_versions(files)), ""


def open_file_limit(wanted: int) -> int:
    """Raise this process's open-file limit towards wanted (each file of a batch is one
    descriptor); the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    return soft
