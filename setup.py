"""The one build step pyproject.toml cannot say: the top-level profiles/ and media/ folders
(where the repository keeps them) go into the wheel as workbench/_data/, so an installed
workbench finds them (workbench.DATA_ROOT). All other metadata is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DATA = ("profiles", "media")


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install runs from the checkout and uses its folders
        target = Path(self.build_lib) / "workbench" / "_data"
        for name in DATA:
            if not (HERE / name / "").is_dir():
                raise SystemExit(f"setup.py: {name}/ is missing: build from a full checkout")
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(HERE / name, target / name,
                            # built training flux captures: large, built again on use
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.scp",
                                                          "*.kryoflux"))


setup(cmdclass={"build_py": BuildWithData})
