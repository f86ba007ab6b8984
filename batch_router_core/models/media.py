"""Media-type detection from a file's first bytes, for the ``from_file`` helpers.

A small signature table rather than a dependency: the content parts only accept the handful of
formats providers take (images, audio, PDF), and anything else must be refused, not guessed from a
file name.
"""

from __future__ import annotations

__all__ = ["sniff_media_type"]


def _riff(kind: bytes, media_type: str):  # type: ignore[no-untyped-def]
    return lambda head: media_type if head[:4] == b"RIFF" and head[8:12] == kind else None


def _prefix(prefix: bytes, media_type: str):  # type: ignore[no-untyped-def]
    return lambda head: media_type if head.startswith(prefix) else None


def _mp3(head: bytes) -> str | None:
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    # An MPEG audio frame sync: 11 set bits, layer III.
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) == 0x02:
        return "audio/mpeg"
    return None


def _mp4_audio(head: bytes) -> str | None:
    if head[4:8] == b"ftyp" and head[8:11] in (b"M4A", b"M4B"):
        return "audio/mp4"
    return None


_SNIFFERS = (
    _prefix(b"\x89PNG\r\n\x1a\n", "image/png"),
    _prefix(b"\xff\xd8\xff", "image/jpeg"),
    _prefix(b"GIF87a", "image/gif"),
    _prefix(b"GIF89a", "image/gif"),
    _riff(b"WEBP", "image/webp"),
    _riff(b"WAVE", "audio/wav"),
    _prefix(b"fLaC", "audio/flac"),
    _prefix(b"OggS", "audio/ogg"),
    _mp4_audio,
    _mp3,
    _prefix(b"%PDF-", "application/pdf"),
)

#: How many leading bytes the sniffers need.
HEAD_BYTES = 16


def sniff_media_type(head: bytes) -> str | None:
    """Return the media type that ``head`` (a file's first bytes) starts, or None if unknown."""
    for sniff in _SNIFFERS:
        found = sniff(head)
        if found:
            return found
    return None
