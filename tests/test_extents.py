"""File data as extents of the image: holes and bytes past an initialised size read as
zeros, never as the image's bytes at some offset."""

import io
import os

from workbench.identify.model import ZERO, ExtentFile


def test_zero_extents_read_as_zeros_between_image_bytes(tmp_path):
    image = tmp_path / "image"
    image.write_bytes(b"A" * 100 + b"B" * 100)
    fd = os.open(image, os.O_RDONLY)
    try:
        f = io.BufferedReader(ExtentFile(fd, [(0, 10), (ZERO, 20), (100, 5)]))
        assert f.read() == b"A" * 10 + bytes(20) + b"B" * 5
        f.seek(8)
        assert f.read(4) == b"AA\0\0"
    finally:
        os.close(fd)
