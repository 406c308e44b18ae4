"""Migration workbench: rescue imaging and preservation packaging for legacy carriers."""

from pathlib import Path

__version__ = "0.1.0"  # the one place: pyproject.toml reads it from here

#: The folder above the package: the checkout when run from one (scripts/, tests/ ...).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: True when the code runs from a checkout (an editable install, PYTHONPATH), not from an
#: installed wheel: the checkout's own profiles/ and media/ are then the ones to use.
IN_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "profiles").is_dir()

#: The folder that holds profiles/ and media/: the checkout's, or the copy a wheel
#: carries in workbench/_data (setup.py puts it there at build time).
DATA_ROOT = PROJECT_ROOT if IN_CHECKOUT else Path(__file__).resolve().parent / "_data"
