"""Generated files: streaming JSONL in and out, user-only permissions, collision-free ids.

Layout: ``<state dir>/generated/<provider>/batch_<local_id>_{input,output,unified}.jsonl``, the
state directory being chosen by :func:`default_state_dir` unless given. Directories are created
``0700`` and files ``0600``: they hold prompts and outputs, which are the user's data. Files are
written to a temporary name and renamed into place, so a crash never leaves a half-written file
under the final name.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import orjson

from batch_router_core.errors import FileOperationError, FileTooLargeError

__all__ = [
    "GeneratedFiles",
    "disk_error_message",
    "iter_jsonl",
    "iter_jsonl_lines",
    "atomic_file",
    "default_state_dir",
    "new_local_id",
    "write_json_atomic",
    "write_jsonl_lines",
]

#: The environment variable naming the state directory (the ledger and generated files).
STATE_DIR_ENV = "BATCH_ROUTER_STATE_DIR"


def default_state_dir() -> Path:
    """Where batch-router keeps its ledger and generated files when no directory is given.

    ``$BATCH_ROUTER_STATE_DIR`` if set; otherwise one directory per user, the same from every
    working directory (so a cron job started from ``$HOME`` finds the jobs a shell submitted):
    ``$XDG_STATE_HOME/batch-router`` (``~/.local/state/batch-router``) on Linux and macOS,
    ``%LOCALAPPDATA%\\batch-router`` on Windows.
    """
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "batch-router"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "batch-router"


_CHUNK = 512  # lines joined per write(): fewer syscalls, bounded memory


def disk_error_message(exc: OSError, path: Path | str | None = None) -> str:
    """What went wrong writing a local file and what to do, in one line."""
    import errno

    advice = {
        errno.ENOSPC: "the disk is full: free some space, then run `batch-router resume`",
        errno.EROFS: "the file system is read-only: run from a writable directory",
        errno.EACCES: "permission denied: fix the permissions or run from a writable directory",
    }
    name = exc.filename or path or "a batch-router file"
    return (
        f"cannot write {name}: {exc.strerror or exc}"
        f" ({advice.get(exc.errno or 0, 'check the disk and the permissions')})"
    )


def new_local_id() -> str:
    """A collision-free batch id: UTC time (sortable) plus 64 random bits."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"br-{stamp}-{secrets.token_hex(8)}"


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@attrs.frozen
class GeneratedFiles:
    """Where batch-router keeps its files: ``<root>/generated/<provider>/``."""

    root: Path = attrs.field(factory=default_state_dir, converter=Path)

    @property
    def generated(self) -> Path:
        """The directory of generated files."""
        return self.root / "generated"

    def provider_dir(self, provider: str) -> Path:
        """This provider's directory, created user-only on first use."""
        _private_dir(self.root)
        _private_dir(self.generated)
        return _private_dir(self.generated / provider)

    def path(self, provider: str, local_id: str, kind: str) -> Path:
        """``batch_<local_id>_<kind>.jsonl`` in the provider's directory (kind: input,
        output...)."""
        return self.provider_dir(provider) / f"batch_{local_id}_{kind}.jsonl"


def _open_private(path: Path, *, exclusive: bool) -> int:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    try:
        return os.open(path, flags, 0o600)
    except FileExistsError:
        raise FileOperationError("already exists; refusing to overwrite", path=str(path)) from None
    except OSError as exc:
        raise FileOperationError(f"cannot create: {exc.strerror}", path=str(path)) from None


@contextmanager
def atomic_file(path: Path | str, *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Write ``path`` so that readers see the old file or the whole new one, never a part.

    Yields a binary file (created ``0600``) under a temporary name beside ``path``; when the block
    ends normally it is flushed, synced and renamed into place; on any exception the temporary file
    is removed and the exception propagates. With ``overwrite=False`` an existing ``path`` is a
    :class:`FileOperationError`. The one atomic writer of batch-router and its plugins.
    """
    final = Path(path)
    if not overwrite and final.exists():
        raise FileOperationError("already exists; refusing to overwrite", path=str(final))
    tmp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.part")
    fd = _open_private(tmp, exclusive=True)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path | str, data: Any) -> None:
    """Write ``data`` as one JSON document to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as fh:
        fh.write(orjson.dumps(data))


def write_jsonl_lines(
    path: Path | str,
    lines: Iterable[bytes],
    *,
    max_bytes: int | None = None,
    overwrite: bool = False,
) -> tuple[int, int]:
    """Stream ``lines`` (JSON documents as bytes, no newline) into ``path``, one per line,
    atomically.

    Returns ``(line_count, byte_size)``. Memory stays flat: lines are written in small chunks as
    they are produced. Raises :class:`FileTooLargeError` if ``max_bytes`` would be exceeded
    (nothing is left behind). Any exception from ``lines`` also removes the partial file and
    propagates.
    """
    count = size = 0
    with atomic_file(path, overwrite=overwrite) as fh:
        chunk: list[bytes] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) >= _CHUNK:
                size, count = _write_chunk(fh, chunk, size, count, max_bytes, path)
        if chunk:
            size, count = _write_chunk(fh, chunk, size, count, max_bytes, path)
    return count, size


def _write_chunk(
    fh: BinaryIO, chunk: list[bytes], size: int, count: int, max_bytes: int | None, path: Path | str
) -> tuple[int, int]:
    data = b"\n".join(chunk) + b"\n"
    size += len(data)
    count += len(chunk)
    chunk.clear()
    if max_bytes is not None and size > max_bytes:
        raise FileTooLargeError(max_bytes, path=str(path))
    fh.write(data)
    return size, count


def iter_jsonl_lines(path: Path | str) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line)`` for every non-blank line, streaming (1-based numbers)."""
    p = Path(path)
    try:
        fh = p.open("rb")
    except OSError as exc:
        raise FileOperationError(f"cannot open: {exc.strerror}", path=str(p)) from None
    with fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                yield number, line


def iter_jsonl(path: Path | str) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, parsed_json)`` per line, streaming.

    A malformed line raises :class:`FileOperationError` with the path and line number: it is never
    skipped silently. Blank lines are ignored.
    """
    loads = orjson.loads
    for number, line in iter_jsonl_lines(path):
        try:
            yield number, loads(line)
        except orjson.JSONDecodeError as exc:
            raise FileOperationError(f"invalid JSON: {exc}", path=str(path), line=number) from None
