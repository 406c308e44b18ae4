"""Migration workbench: rescue imaging and preservation packaging for legacy carriers."""

from importlib import metadata
from pathlib import Path

try:
    __version__ = metadata.version("migration-workbench")
except metadata.PackageNotFoundError:  # running from a checkout without install
    __version__ = "0.1.0"

#: The checkout (or install) root that holds profiles/ and media/.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
