"""Image files written by tests (the corpus lives in benchmarks/reliability/, for the reliability matrix too)."""

from reliability.image_corpus import (blob_image, exif_rotated_jpeg, jpeg_bytes,  # noqa: F401
                                      make_class_folder, png_with_declared_size, save_image,
                                      write_bad_images)
