#!/usr/bin/env python3
"""A throwaway PostgreSQL cluster for tests and benchmarks: a temporary folder, a local
unix socket only (no TCP port), fsync off. Standard library only.

    python3 scripts/pg_throwaway.py start [DIR]   # initdb + start; prints the URL
    python3 scripts/pg_throwaway.py url DIR       # the URL of a started cluster
    python3 scripts/pg_throwaway.py stop DIR      # stop it and remove DIR

As root (CI) the server runs as the user "postgres" (Debian's postgresql package makes
it; initdb refuses root). The cluster also has a role "ledger_pw" with the password
"right-password" (scram-sha-256), for the refused-password test.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PORT = 5432  # on a socket in DIR only: no two clusters meet
PASSWORD_ROLE, PASSWORD = "ledger_pw", "right-password"


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return candidates[-1] if candidates else None


def available() -> str:
    """'' when a cluster can be made here, else why not."""
    if find_bin("initdb") is None or find_bin("pg_ctl") is None:
        return "no initdb/pg_ctl (install Debian's postgresql package)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no user 'postgres' to run the server"
    return ""


def _as_server(cmd: list[str]) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)


def url(folder: Path) -> str:
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    return f"postgresql://{user}@/postgres?host={folder}&port={PORT}"


def start(folder: Path | None = None) -> str:
    why = available()
    if why:
        raise RuntimeError(why)
    folder = Path(folder or tempfile.mkdtemp(prefix="workbench-pg-"))
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    data = folder / "data"
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(folder, pw.pw_uid, pw.pw_gid)
    if not (data / "PG_VERSION").exists():
        _as_server([str(find_bin("initdb")), "-D", str(data), "--auth-local=trust",
                    "--auth-host=reject", "-E", "UTF8", "--locale=C", "--no-sync"])
        (data / "pg_hba.conf").write_text(
            f"local all {PASSWORD_ROLE} scram-sha-256\nlocal all all trust\n")
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(f"listen_addresses = ''\nunix_socket_directories = '{folder}'\n"
                       f"port = {PORT}\nfsync = off\nsynchronous_commit = off\n"
                       "full_page_writes = off\nmax_connections = 200\n")
    _as_server([str(find_bin("pg_ctl")), "-D", str(data), "-l", str(folder / "server.log"),
                "-w", "-t", "60", "start"])
    psql = find_bin("psql")
    if psql:
        sql = (f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
               f"'{PASSWORD_ROLE}') THEN CREATE ROLE {PASSWORD_ROLE} LOGIN SUPERUSER "
               f"PASSWORD '{PASSWORD}'; END IF; END $$")
        _as_server([psql, "-h", str(folder), "-p", str(PORT), "-d", "postgres", "-q",
                    "-c", sql])
    return url(folder)


def stop(folder: Path) -> None:
    data = folder / "data"
    if (data / "postmaster.pid").exists():
        _as_server([str(find_bin("pg_ctl")), "-D", str(data), "-m", "immediate", "-w",
                    "stop"])
    shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("start", "stop", "url") or \
            (argv[0] != "start" and len(argv) < 2):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "start":
        try:
            print(start(Path(argv[1]) if len(argv) > 1 else None))
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or ""
            print(f"pg_throwaway: cannot start: {exc} {detail}".strip(), file=sys.stderr)
            return 1
    elif argv[0] == "stop":
        stop(Path(argv[1]))
    else:
        print(url(Path(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
