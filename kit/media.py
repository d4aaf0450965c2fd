"""What the first bytes of an upload say it is: the magic numbers of the image formats Hearth takes.

The content decides, never a file name or a client's Content-Type. The gateway sniffs an upload's first bytes to
refuse anything else at once (before the rest is streamed on), and the service that stores it sniffs again and
then has the image decoded (services.task.images): a check at the edge never replaces the owner's own.
"""

from __future__ import annotations

JPEG, PNG, WEBP = "image/jpeg", "image/png", "image/webp"
IMAGE_TYPES = (JPEG, PNG, WEBP)
# Enough of the file to tell the three apart (WebP's RIFF header names its form at bytes 8..12).
SNIFF_BYTES = 12


def image_type(head: bytes) -> str | None:
    """The image type `head` (a file's first bytes, at least SNIFF_BYTES of them when it has that many) announces:
    JPEG, PNG or WebP; None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= SNIFF_BYTES and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None
