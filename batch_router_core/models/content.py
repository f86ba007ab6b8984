"""Content parts of a message: text, images, audio and documents (PDF), as base64 data or URLs."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeAlias

import attrs

from batch_router_core.errors import ValidationError
from batch_router_core.models.extras import cache_breakpoint_field, kwargs_field
from batch_router_core.models.media import HEAD_BYTES, sniff_media_type
from batch_router_core.models.tools import ToolCallContent, ToolResultContent

__all__ = [
    "AudioContent",
    "Content",
    "DocumentContent",
    "ImageContent",
    "TextContent",
]


@attrs.frozen(kw_only=True)
class TextContent:
    """Plain text."""

    type: ClassVar[Literal["text"]] = "text"
    text: str = attrs.field(validator=attrs.validators.instance_of(str))
    #: Cache the prompt up to here for ``"5m"`` or ``"1h"`` (see :mod:`~.models.extras`).
    cache_breakpoint: Literal["5m", "1h"] | None = cache_breakpoint_field()
    #: Merged into this part's wire object for the batch's provider.
    provider_kwargs: Mapping[str, Any] | None = kwargs_field()


def _check_source(inst: _MediaContent, attribute: attrs.Attribute[Any], value: Any) -> None:
    has_data = inst.data is not None
    has_url = inst.url is not None
    if has_data == has_url:
        raise ValidationError(
            f"{type(inst).__name__} needs exactly one of `data` (base64) or `url`", field="source"
        )
    if has_data and not inst.media_type:
        raise ValidationError(
            f"{type(inst).__name__} with base64 `data` needs a `media_type`", field="media_type"
        )
    if inst.media_type and not inst.media_type.startswith(inst.media_prefix):
        raise ValidationError(
            f"{type(inst).__name__} media_type must start with {inst.media_prefix!r}, "
            f"got {inst.media_type!r}",
            field="media_type",
        )
    if has_data:
        if inst.media_type not in inst.accepted:
            raise ValidationError(
                f"{type(inst).__name__} media_type {inst.media_type!r} is not one batch-router can "
                f"send; "
                f"expected one of {sorted(inst.accepted)}",
                field="media_type",
            )
        if not isinstance(inst.data, str):
            raise ValidationError(
                f"`data` must be a base64 string, got {type(inst.data).__name__}", field="data"
            )
        try:
            base64.b64decode(inst.data, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(
                f"{type(inst).__name__} `data` is not valid base64", field="data"
            ) from None


@attrs.frozen(kw_only=True)
class _MediaContent:
    """Common shape of binary parts: base64 ``data`` with a ``media_type``, or a ``url``."""

    media_prefix: ClassVar[str] = ""
    accepted: ClassVar[frozenset[str]] = frozenset()

    data: str | None = None
    url: str | None = None
    media_type: str | None = attrs.field(default=None, validator=_check_source)
    cache_breakpoint: Literal["5m", "1h"] | None = cache_breakpoint_field()
    provider_kwargs: Mapping[str, Any] | None = kwargs_field()

    @property
    def source_type(self) -> Literal["base64", "url"]:
        """``"base64"`` when the bytes are inline, ``"url"`` when referenced."""
        return "base64" if self.data is not None else "url"

    def data_url(self) -> str:
        """The part as a ``data:`` URL (base64 parts) or its URL (URL parts)."""
        if self.data is None:
            assert self.url is not None
            return self.url
        return f"data:{self.media_type};base64,{self.data}"

    def raw_bytes(self) -> bytes:
        """Decode the base64 data. Raises ValidationError for URL parts or bad base64."""
        if self.data is None:
            raise ValidationError(f"{type(self).__name__} is a URL, not inline data", field="data")
        try:
            return base64.b64decode(self.data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError(f"invalid base64 data: {exc}", field="data") from None

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str | None = None) -> _MediaContent:
        """Build a base64 part from bytes, detecting the media type when not given."""
        detected = media_type or sniff_media_type(raw[:HEAD_BYTES])
        if detected is None or detected not in cls.accepted:
            raise ValidationError(
                f"cannot identify these bytes as one of {sorted(cls.accepted)}", field="media_type"
            )
        return cls(data=base64.b64encode(raw).decode("ascii"), media_type=detected)

    @classmethod
    def from_file(cls, path: str | Path) -> _MediaContent:
        """Read a file and build a base64 part, its media type detected from the file's bytes.

        The file's content decides, not its name: a file whose bytes are not a recognised
        format for this part is refused with a ValidationError naming the path.
        """
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise ValidationError(f"cannot read {p}: {exc.strerror}", field="path") from None
        detected = sniff_media_type(raw[:HEAD_BYTES])
        if detected is None or detected not in cls.accepted:
            what = detected or "an unrecognised format"
            raise ValidationError(
                f"{p} is {what}; {cls.__name__} accepts {', '.join(sorted(cls.accepted))}",
                field="path",
            )
        return cls(data=base64.b64encode(raw).decode("ascii"), media_type=detected)


@attrs.frozen(kw_only=True)
class ImageContent(_MediaContent):
    """An image: PNG, JPEG, GIF or WebP."""

    type: ClassVar[Literal["image"]] = "image"
    media_prefix: ClassVar[str] = "image/"
    accepted: ClassVar[frozenset[str]] = frozenset(
        {"image/png", "image/jpeg", "image/gif", "image/webp"}
    )


@attrs.frozen(kw_only=True)
class AudioContent(_MediaContent):
    """An audio clip: WAV, MP3, FLAC, OGG or M4A."""

    type: ClassVar[Literal["audio"]] = "audio"
    media_prefix: ClassVar[str] = "audio/"
    accepted: ClassVar[frozenset[str]] = frozenset(
        {"audio/wav", "audio/mpeg", "audio/flac", "audio/ogg", "audio/mp4"}
    )

    @property
    def format(self) -> str:
        """The short format name providers use (``wav``, ``mp3``...)."""
        return {"audio/mpeg": "mp3", "audio/mp4": "m4a"}.get(
            self.media_type or "", (self.media_type or "audio/").split("/", 1)[1]
        )


@attrs.frozen(kw_only=True)
class DocumentContent(_MediaContent):
    """A document; PDF is the format providers accept in batches."""

    type: ClassVar[Literal["document"]] = "document"
    media_prefix: ClassVar[str] = "application/"
    accepted: ClassVar[frozenset[str]] = frozenset({"application/pdf"})


Content: TypeAlias = (
    TextContent
    | ImageContent
    | AudioContent
    | DocumentContent
    | ToolCallContent
    | ToolResultContent
)
"""Any content part."""

CONTENT_TYPES: dict[str, type] = {
    "text": TextContent,
    "image": ImageContent,
    "audio": AudioContent,
    "document": DocumentContent,
    "tool_call": ToolCallContent,
    "tool_result": ToolResultContent,
}
