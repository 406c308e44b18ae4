"""The sample carriers are rebuilt byte for byte by scripts/build_media.py."""

import hashlib
import subprocess
import sys
from pathlib import Path

from tests.conftest import MEDIA
from workbench import PROJECT_ROOT


def test_sample_media_are_reproducible_and_small(tmp_path: Path):
    for script in ("build_media.py", "build_discs.py"):  # the training discs' drives too
        subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / script),
                        str(tmp_path)], check=True, capture_output=True)
    built = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    shipped = sorted(p.name for p in MEDIA.iterdir() if p.is_file())
    assert built == shipped
    for name in built:
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == \
            hashlib.sha256((MEDIA / name).read_bytes()).hexdigest(), name
    assert sum((MEDIA / n).stat().st_size for n in shipped) < 10_000_000


def test_good_floppy_holds_a_cp932_short_name():
    image = (MEDIA / "fd35-2hd-good.img").read_bytes()
    assert "報告書".encode("cp932") + b"  TXT" in image
    assert image[510:512] == b"\x55\xaa" and image[54:62] == b"FAT12   "
