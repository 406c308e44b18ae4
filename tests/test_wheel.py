"""The built wheel runs on its own: profiles, sample media and the stylesheet are inside
it, and an installed workbench trains from any folder, writing to the user's data folder.

The wheel is built from a copy of the checkout (the build leaves build/ and *.egg-info
behind) and installed with --no-deps into a fresh venv that borrows this environment's
installed dependencies through a .pth file: no network.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from workbench import PROJECT_ROOT

SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "workbench",
           "profiles", "media")
DATA_FILES = ("workbench/_data/profiles/media/fd35-2hd.toml",
              "workbench/_data/profiles/bagit/workbench-carrier.json",
              "workbench/_data/media/fd35-2hd-good.drive.toml",
              "workbench/_data/media/fd35-2hd-good.img",
              "workbench/_data/media/discs/audio.cue", "workbench/tui/app.tcss",
              "workbench/locales/ja.toml")


def _can_build_offline() -> bool:
    """bdist_wheel is in setuptools from 70.1, in the wheel package before: with it the
    build needs no isolated (downloaded) build environment."""
    return (importlib.util.find_spec("wheel") is not None
            or importlib.util.find_spec("setuptools.command.bdist_wheel") is not None)


class Installed:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.cwd = root / "elsewhere"  # outside the checkout, and no workbench.toml
        self.cwd.mkdir()
        self.data = root / "xdg"
        self.bin = root / "venv" / "bin"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "WORKBENCH_CONFIG", "WORKBENCH_LANG")}
        # training drives at full speed (tests/conftest.py says the same for the suite)
        return {**env, "XDG_DATA_HOME": str(self.data), "HOME": str(self.root / "home"),
                "WORKBENCH_TRAINING_SPEED": "fast"}

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / "workbench"), *args], cwd=self.cwd,
                              env=self.env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def python(self, code: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / "python"), "-c", code], cwd=self.cwd,
                              env=self.env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        path = PROJECT_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", "_data"))
        else:
            shutil.copy2(path, source / name)
    # without bdist_wheel here, pip fetches the build requirements (needs the index)
    flags = ["--no-build-isolation"] if _can_build_offline() else []
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "--disable-pip-version-check", *flags, str(source),
                           "-w", str(root / "dist")], capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = (root / "dist").glob("migration_workbench-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    box = Installed(tmp_path_factory.mktemp("installed"))
    venv = box.root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    # --ignore-installed: a checkout on PYTHONPATH (with an editable install's egg-info)
    # would otherwise count as the package already installed
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                           "install", "-q", "--no-deps", "--no-index", "--ignore-installed",
                           "--disable-pip-version-check", str(wheel)],
                          capture_output=True, text=True, timeout=120, env=box.env())
    assert done.returncode == 0, done.stdout + done.stderr
    # the dependencies this environment already has, after the venv's own packages: a
    # plain path line (the .pth files there, e.g. an editable install's, are not run)
    purelib = Path(subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=30).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "zz-borrowed-deps.pth").write_text("".join(f"{p}\n" for p in sorted(deps)))
    return box


def test_the_wheel_carries_profiles_media_and_the_stylesheet(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in DATA_FILES if name not in names]
    assert not missing, f"not in the wheel: {missing}"
    drives = [n for n in names if n.startswith("workbench/_data/media/")
              and n.endswith(".drive.toml")]
    committed = list((PROJECT_ROOT / "media").glob("*.drive.toml"))
    assert len(drives) == len(committed) > 0
    for drive in committed:  # every image a drive names is shipped with it
        image = next(line.split("=", 1)[1].strip().strip('"')
                     for line in drive.read_text().splitlines() if line.startswith("image"))
        assert f"workbench/_data/media/{image}" in names, (drive.name, image)


def test_the_installed_workbench_uses_its_own_data(installed):
    done = installed.python("import workbench; print(workbench.__file__); "
                            "print(workbench.IN_CHECKOUT); print(workbench.DATA_ROOT)")
    assert done.returncode == 0, done.stderr
    module, in_checkout, data = done.stdout.split("\n")[:3]
    assert not module.startswith(str(PROJECT_ROOT)), "the checkout's code ran, not the wheel's"
    assert in_checkout == "False"
    assert data.endswith(os.path.join("workbench", "_data")) and Path(data).is_dir()


def test_profiles_and_drives_outside_the_checkout(installed):
    done = installed.run("--training", "profiles", "--json")
    assert done.returncode == 0, done.stderr
    ids = {p["id"] for p in json.loads(done.stdout)}
    assert {"fd35-2hd", "cd", "usb"} <= ids
    done = installed.run("--training", "drives", "--json")
    assert done.returncode == 0, done.stderr
    drives = {Path(d["path"]).name: d for d in json.loads(done.stdout) if d["kind"] == "virtual"}
    good = drives["fd35-2hd-good.drive.toml"]
    assert good["suggested_profile"] == "fd35-2hd" and not good["problem"]
    assert Path(good["path"]).is_relative_to(installed.root / "venv")


def test_a_training_migration_writes_to_the_user_data_folder(installed):
    drives = json.loads(installed.run("--training", "drives", "--json").stdout)
    floppy = next(d["path"] for d in drives if d["path"].endswith("fd35-2hd-good.drive.toml"))
    done = installed.run("--training", "migrate", floppy, "--profile", "fd35-2hd",
                         "--item", "WHEEL-1")
    assert done.returncode == 0, done.stdout + done.stderr
    training = installed.data / "migration-workbench" / "training"
    assert (training / "bags" / "WHEEL-1" / "bagit.txt").is_file()
    assert (training / "ledger.sqlite").is_file()
    assert list(installed.cwd.iterdir()) == []  # nothing dropped where the trainee stood
    package = installed.root / "venv"
    written = [p for p in package.rglob("*") if p.name in ("ledger.sqlite", "WHEEL-1")]
    assert written == []  # and nothing in the install
    done = installed.run("--training", "show", "WHEEL-1")
    assert done.returncode == 0 and "WHEEL-1" in done.stdout, done.stderr


def test_the_installed_ui_starts_with_its_stylesheet(installed):
    code = textwrap.dedent("""
        import asyncio
        from workbench.config import Settings
        from workbench.tui.app import WorkbenchApp

        async def main():
            app = WorkbenchApp(Settings().for_training())
            async with app.run_test(size=(100, 40)) as pilot:
                await pilot.pause()
                print(type(app.screen).__name__)
                print(len(app.stylesheet.rules))
                print(*[str(p) for p in app.css_path])
        asyncio.run(main())
    """)
    done = installed.python(code)
    assert done.returncode == 0, done.stdout + done.stderr
    screen, rules, css = done.stdout.splitlines()[:3]
    assert screen not in ("Screen", "_DefaultScreen")
    assert int(rules) > 0
    assert css.endswith("app.tcss") and str(installed.root / "venv") in css


def test_training_writes_to_the_user_data_folder_when_installed(monkeypatch, tmp_path):
    from workbench import config
    monkeypatch.setattr(config, "IN_CHECKOUT", False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    root = tmp_path / "xdg" / "migration-workbench" / "training"
    paths = config.Settings().for_training().paths
    assert (paths.ledger, paths.staging, paths.bags) == (
        root / "ledger.sqlite", root / "staging", root / "bags")
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # the XDG spec: absolute only
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config.training_root() == \
        tmp_path / "home" / ".local" / "share" / "migration-workbench" / "training"
    monkeypatch.setattr(config, "IN_CHECKOUT", True)
    assert config.training_root() == Path.cwd() / "training"  # a checkout: as always
