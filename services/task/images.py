"""What an uploaded photo is and what is kept of it: pure functions over bytes (Pillow), no I/O.

`inspect_type` tells JPEG, PNG and WebP apart by their magic bytes (kit.media: the content decides, never a file name
or a client's Content-Type); `clean` then has Pillow open and verify the image, refuses one of more pixels than allowed
before decoding it (a decompression bomb: a few KiB of file for gigabytes of pixels), and re-encodes it without any
of its metadata — EXIF (GPS position, camera, time), XMP, comments, text chunks — after applying the EXIF
orientation to the pixels (ImageOps.exif_transpose), so the picture still looks the way it was taken. The ICC
colour profile is kept: it is about the colours, not about anyone. Only the first frame of an animation is kept.
`thumbnail` makes the small version the worker stores.

Every refusal is a domain error: UnsupportedMediaType (not one of the three kinds: 415) or InvalidArgument on
`chunk` (truncated, corrupt, too many pixels: 422).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from kit import media
from kit.errors import UnsupportedMediaType, invalid

JPEG, PNG, WEBP = media.JPEG, media.PNG, media.WEBP
# The Pillow format each content type is read and written as.
FORMATS = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP"}
UNSUPPORTED_MESSAGE = "a photo must be a JPEG, PNG or WebP image"
FIELD = "chunk"
# Re-encoding quality of lossy formats: visually the same as a phone's own output.
QUALITY = 90


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def inspect_type(head: bytes) -> str:
    """The content type the first bytes of a file announce; UnsupportedMediaType for anything but the three."""
    kind = media.image_type(head)
    if kind is None:
        raise UnsupportedMediaType(UNSUPPORTED_MESSAGE)
    return kind


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    content_type: str
    width: int
    height: int
    sha256: str


def _opened(data: bytes, content_type: str, max_pixels: int) -> Image.Image:
    """The image, opened (header only) as the format its magic bytes named, checked for size and integrity."""
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns from MAX_IMAGE_PIXELS and raises from twice that; ours comes first.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data), formats=[FORMATS[content_type]])
            if probe.width * probe.height > max_pixels:
                raise invalid(FIELD, f"the image has more than {max_pixels} pixels")
            probe.verify()  # the whole file's structure (checksums, truncation); the object is spent after it
            image = Image.open(io.BytesIO(data), formats=[FORMATS[content_type]])
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise invalid(FIELD, f"the image has more than {max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        # Pillow's ways of saying truncated or corrupt (SyntaxError is its parser's, OSError "image file is truncated").
        raise invalid(FIELD, "the image is truncated or corrupt") from None
    return image


def clean(data: bytes, *, max_pixels: int) -> CleanImage:
    """The upload, verified and re-encoded without metadata (see the module docstring)."""
    content_type = inspect_type(data[: media.SNIFF_BYTES])
    image = _opened(data, content_type, max_pixels)
    icc_profile = image.info.get("icc_profile")
    upright = ImageOps.exif_transpose(image)
    encoded = _encode(upright, content_type, icc_profile=icc_profile)
    return CleanImage(
        data=encoded,
        content_type=content_type,
        width=upright.width,
        height=upright.height,
        sha256=sha256(encoded),
    )


def thumbnail(data: bytes, content_type: str, *, pixels: int) -> bytes:
    """A copy of a stored (clean) photo that fits in `pixels` x `pixels`, in the photo's own format."""
    image = Image.open(io.BytesIO(data), formats=[FORMATS[content_type]])
    image.load()
    image.thumbnail((pixels, pixels))
    return _encode(image, content_type, icc_profile=image.info.get("icc_profile"))


def _encode(image: Image.Image, content_type: str, *, icc_profile: bytes | None) -> bytes:
    """`image` as `content_type`, with nothing but its pixels and (when given) its colour profile. Pillow writes
    EXIF, XMP and text chunks only when asked to (`exif=`, `pnginfo=`...), and is asked for none of them; the
    metadata the decoder read (`image.info`) is dropped before saving, so nothing is carried over either."""
    if content_type == JPEG and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    if content_type == WEBP and image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    if content_type == PNG and image.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
        image = image.convert("RGBA")
    options: dict[str, object] = {}
    if icc_profile:
        options["icc_profile"] = icc_profile
    if content_type == JPEG:
        options.update(quality=QUALITY, optimize=True)
    elif content_type == WEBP:
        options.update(quality=QUALITY)
    elif image.mode == "P" and "transparency" in image.info:
        options["transparency"] = image.info["transparency"]
    # Some encoders fall back to what the decoder read (JPEG writes a read COM comment again): nothing read is kept.
    image.info = {}
    out = io.BytesIO()
    image.save(out, format=FORMATS[content_type], **options)
    return out.getvalue()
