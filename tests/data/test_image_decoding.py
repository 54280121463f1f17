"""data/images.py against decoders that crash and images far larger than the model (issue 19
items 7 and 10): only the supported formats are tried, any decoder failure is an ImageLoadError
naming the file, and a caller that knows its size gets the image decoded smaller."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from cnnlab.data.images import IMAGE_FORMATS, UnknownImageFormat, decode_image, read_image
from cnnlab.errors import ImageLoadError


def encoded(array: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt, **kw)
    return buf.getvalue()


def dds_unknown_pixel_format() -> bytes:
    """A DDS header with a made-up FourCC: Pillow's DDS plugin raises NotImplementedError."""
    header = b"DDS " + struct.pack("<7I", 124, 0x1007, 4, 4, 0, 0, 0) + b"\0" * 44
    return header + struct.pack("<2I4s5I", 32, 0x4, b"ABCD", 0, 0, 0, 0, 0) + b"\0" * 84


@pytest.mark.parametrize("fmt", ["ICO", "TGA", "PPM", "PCX", "SGI"])
def test_formats_cnnlab_does_not_support_are_refused(fmt):
    data = encoded(np.full((16, 16, 3), 90, np.uint8), fmt)
    with pytest.raises(UnknownImageFormat, match="photo.png: not a readable image"):
        decode_image(data, "photo.png")


def test_a_decoder_that_raises_anything_is_an_image_load_error(tmp_path):
    """The issue's case: a mutated DDS saved as photo.png raised NotImplementedError (exit 1)."""
    path = tmp_path / "photo.png"
    path.write_bytes(dds_unknown_pixel_format())
    with pytest.raises(ImageLoadError, match="photo.png"):
        read_image(path)


def test_a_plugin_crash_while_decoding_is_an_image_load_error(monkeypatch):
    """Whatever type a supported decoder raises (here AttributeError) names the file."""
    from PIL import ImageFile

    def broken(self, *a, **kw):
        raise AttributeError("'NoneType' object has no attribute 'read'")

    monkeypatch.setattr(ImageFile.ImageFile, "load", broken)
    with pytest.raises(ImageLoadError, match=r"x.png: corrupt or truncated image \(AttributeError"):
        decode_image(encoded(np.zeros((8, 8), np.uint8), "PNG"), "x.png")


def test_every_supported_format_still_decodes():
    array = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    for fmt in IMAGE_FORMATS:
        img = decode_image(encoded(array, fmt), f"a.{fmt.lower()}")
        assert img.size == (30, 20) and img.mode == "RGB", fmt


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_large_image_is_decoded_at_reduced_size(fmt):
    """4000×3000 with min_side 100: reduced by an integer factor, both sides ≥ 100, same picture."""
    array = np.zeros((3000, 4000), np.uint8)
    array[:, 2000:] = 255  # right half white
    img = decode_image(encoded(array, fmt), "big", channels=1, min_side=100)
    assert 100 <= min(img.size) < 300 and img.info["full_size"] == (4000, 3000)
    small = np.asarray(img)
    assert small[:, : small.shape[1] // 2 - 2].mean() < 10 and small[:, small.shape[1] // 2 + 2:].mean() > 245


def test_reduced_decode_keeps_exif_rotation_and_reports_the_rotated_size():
    array = np.zeros((1000, 2000, 3), np.uint8)
    array[:, :1000] = 255  # left half white
    img = Image.fromarray(array)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    out = decode_image(buf.getvalue(), "r.jpg", channels=1, min_side=100)
    assert out.info["full_size"] == (1000, 2000) and out.height > out.width  # portrait after rotation
    top = np.asarray(out)[: out.height // 2 - 4]
    assert top.mean() > 240  # the white half is on top after a clockwise turn


def test_palette_and_16_bit_images_reduce_too():
    pal = Image.fromarray(np.full((800, 800, 3), 200, np.uint8)).convert("P")
    buf = io.BytesIO()
    pal.save(buf, "PNG")
    assert decode_image(buf.getvalue(), "p.png", min_side=100).size == (100, 100)  # factor 8
    grey16 = encoded((np.full((800, 800), 40000)).astype(np.uint16), "PNG")
    img = decode_image(grey16, "g.png", channels=1, min_side=100)
    assert img.size == (100, 100) and abs(int(np.asarray(img).mean()) - round(40000 / 65535 * 255)) <= 1
