"""Fuzzing the image loading path with hypothesis: any bytes, and valid PNG/JPEG files with bytes
flipped, cut or spliced in, either decode to a valid 8-bit image or raise ImageLoadError naming
the file. Nothing else escapes (bounded: a few hundred examples, a second or two)."""

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnlab.data.images import ImageLoadError, decode_image
from reliability.image_corpus import jpeg_bytes

_png = io.BytesIO()
Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(_png, "PNG")
SEEDS = [_png.getvalue(), jpeg_bytes(20)]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decodes_or_refuses(data: bytes) -> None:
    try:
        img = decode_image(data, "fuzz.bin")
    except ImageLoadError as e:
        assert "fuzz.bin" in str(e)
        return
    assert img.mode in ("L", "RGB") and min(img.size) >= 1


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data):
    decodes_or_refuses(data)


@FUZZ
@given(seed=st.sampled_from(SEEDS), edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                                                    max_size=12),
       cut=st.one_of(st.none(), st.integers(0, 10_000)), splice=st.binary(max_size=64))
def test_corrupted_images(seed, edits, cut, splice):
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    if splice:
        at = len(data) // 2
        data[at:at] = splice
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    decodes_or_refuses(bytes(data))
