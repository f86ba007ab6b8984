"""Structured logging for the library, without configuring anything for the application.

``get_logger`` returns a structlog logger. If the application configured structlog, its processors
and output are used; otherwise events go to the standard library logger ``batch_router.<name>``,
which stays silent unless the application configures :mod:`logging`. Either way a redaction
processor runs first: no key, token or Authorization header ever reaches a log line.
"""

from __future__ import annotations

import logging as _stdlib_logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

__all__ = ["get_logger", "redact", "scrub_secrets", "storable_options"]

_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|authorization|auth|cookie)", re.I)
# Shapes of provider credentials, caught even when passed under an innocent key.
_SECRET_VALUE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|sk-ant-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,}|Bearer\s+\S+)"
)
REDACTED = "[REDACTED]"

# A library never prints on its own: without this, Python's last-resort handler would write warnings
# (a retried call) to stderr in a script that configured no logging.
_stdlib_logging.getLogger("batch_router").addHandler(_stdlib_logging.NullHandler())


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _SECRET_VALUE.sub(REDACTED, value)
    if isinstance(value, dict):
        return {
            k: (REDACTED if _SECRET_KEY.search(str(k)) else _scrub(v)) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v) for v in value)
    return value


def scrub_secrets(text: str) -> str:
    """``text`` with every credential-shaped substring (API keys, bearer tokens) masked."""
    return _SECRET_VALUE.sub(REDACTED, text)


def redact(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: drop secret-looking keys and mask credential-shaped values."""
    for key in list(event_dict):
        if _SECRET_KEY.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def storable_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that may be written down (the ledger): plain values under names and in shapes
    that
    are not credentials. Keys, tokens and anything shaped like one are left out."""
    return {
        k: v
        for k, v in options.items()
        if isinstance(v, (str, int, float, bool))
        and not _SECRET_KEY.search(str(k))
        and not (isinstance(v, str) and _SECRET_VALUE.search(v))
    }


def get_logger(name: str, **bound: Any) -> Any:
    """A structlog logger for ``batch_router.<name>`` with ``bound`` key/values (ids, not
    payloads)."""
    if structlog.is_configured():
        processors = [redact, *structlog.get_config()["processors"]]
        logger = structlog.wrap_logger(
            None, processors=processors, logger_name=f"batch_router.{name}"
        )
    else:
        std = _stdlib_logging.getLogger(f"batch_router.{name}")
        logger = structlog.wrap_logger(
            std,
            processors=[
                redact,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True),
            ],
            wrapper_class=structlog.stdlib.BoundLogger,
        )
    return logger.bind(**bound) if bound else logger
