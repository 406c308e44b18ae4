"""Build the training flux captures from their recipes (media/flux/*.flux.toml) with the
encoder: the same bytes every run (every random choice is seeded).

    python scripts/build_flux.py              # into media/flux/ (ignored by git)
    python scripts/build_flux.py --out DIR    # elsewhere
    python scripts/build_flux.py --check      # build twice into temporary folders, compare

The captures are large (a 3-revolution 2HD disk is ~90 MB of SCP): the recipes are
committed, the captures are not; training mode builds a missing one on first use.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.flux.training import build, recipes  # noqa: E402


def digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in [path] if path.is_file() else sorted(path.iterdir()):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size
                                                          for p in path.iterdir())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "media" / "flux")
    parser.add_argument("--check", action="store_true",
                        help="build every capture twice and compare the bytes")
    args = parser.parse_args()
    failed = 0
    for recipe in recipes(ROOT / "media" / "flux"):
        if args.check:
            with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
                same = digest(build(recipe, Path(a))) == digest(build(recipe, Path(b)))
            print(f"{recipe.name}: {'same bytes' if same else 'DIFFERENT'}")
            failed += not same
            continue
        out = build(recipe, args.out)
        print(f"{out}: {size(out) / 1e6:.1f} MB, sha256 {digest(out)[:16]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
