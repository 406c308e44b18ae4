"""A PostgreSQL server for the ledger tests: the one CI started (WORKBENCH_TEST_PG_URL),
else a throwaway cluster this session starts (scripts/pg_throwaway.py) where initdb is
at hand, else the PostgreSQL cases skip saying why. One cluster per session (per xdist
worker), one schema per test.

Import the fixtures into a test module: `from tests.pg_fixtures import backend, ...`.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from workbench import PROJECT_ROOT

ENV = "WORKBENCH_TEST_PG_URL"
__all__ = ["backend", "pg_server", "pg_url"]  # the fixtures, for `import *`


def _throwaway():  # the script as a module (scripts/ is no package)
    spec = importlib.util.spec_from_file_location(
        "pg_throwaway", PROJECT_ROOT / "scripts" / "pg_throwaway.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The URL of a PostgreSQL server to make schemas on (skips when there is none)."""
    url = os.environ.get(ENV, "").strip()
    if url:
        yield url
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'psycopg[binary]')")
    script = _throwaway()
    why = script.available()
    if why:
        pytest.skip(f"no PostgreSQL server: {ENV} is not set and {why}")
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="workbench-pg-test-"))
    try:
        url = script.start(folder)
    except Exception as exc:  # any failure to start is a reason to skip
        script.stop(folder)
        pytest.skip(f"could not start a throwaway PostgreSQL cluster: {exc}")
    try:
        yield url
    finally:
        script.stop(folder)


def with_schema(url: str, schema: str) -> str:
    """The URL whose connections work in schema (search_path)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-c search_path={schema}')}"


def new_schema(server: str) -> str:
    import psycopg
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {name}")
    return with_schema(server, name)


def drop_schema(server: str, url: str) -> None:
    import psycopg
    name = url.rsplit("search_path%3D", 1)[1]
    with psycopg.connect(server, autocommit=True) as con:
        # stations still connected (a killed process) must not keep the schema
        con.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid() AND application_name LIKE 'workbench%%' "
                    "AND query LIKE %s", (f"%{name}%",))
        con.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty ledger on the server (a schema of its own)."""
    url = new_schema(pg_server)
    try:
        yield url
    finally:
        drop_schema(pg_server, url)


@dataclass
class Backend:
    """Where a test's ledger lives: name is "sqlite" or "postgresql"; target(path) is
    what db.connect takes (the file for SQLite, the server's URL for PostgreSQL)."""

    name: str
    url: str = ""

    def target(self, path: Path) -> Path | str:
        return self.url or path

    def station_ledger(self, cwd: Path) -> Path | str:
        """The ledger a station in cwd (default settings) writes to."""
        return self.url or cwd / "logs" / "ledger.sqlite"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Backend:
    """Each test twice: on SQLite, and on PostgreSQL (stations in the test use it through
    WORKBENCH_LEDGER_URL)."""
    if request.param == "sqlite":
        monkeypatch.delenv("WORKBENCH_LEDGER_URL", raising=False)
        return Backend("sqlite")
    url = request.getfixturevalue("pg_url")
    monkeypatch.setenv("WORKBENCH_LEDGER_URL", url)
    return Backend("postgresql", url)
