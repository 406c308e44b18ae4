"""Migration workbench: rescue imaging and preservation packaging for legacy carriers."""

from pathlib import Path

__version__ = "0.1.0"  # the one place: pyproject.toml reads it from here

#: The checkout (or install) root that holds profiles/ and media/.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
