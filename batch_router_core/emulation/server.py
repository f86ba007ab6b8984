"""Serving an emulator (an ASGI app) on loopback: in a background thread, or in the foreground.

Uses uvicorn (the ``emulator`` extra). Tests start an emulator on a free port and stop it cleanly::

    with serve_in_thread(app) as server:
        client = OpenAI(base_url=server.url + "/v1", api_key="test")
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

__all__ = ["RunningServer", "serve_forever", "serve_in_thread"]


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - depends on the install
        raise ImportError(
            "the emulators need the 'emulator' extra: pip install 'batch-router-core[emulator]'"
        ) from None
    return uvicorn


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class RunningServer:
    """An emulator served from a background thread. Use as a context manager, or call stop()."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        uvicorn = _uvicorn()
        self._sock = _bind(host, port)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            daemon=True,
            name=f"emulator:{self.port}",
        )
        self.app = app

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:51234``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> RunningServer:
        """Start serving and wait until the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the emulator server stopped while starting")
            if time.monotonic() > deadline:
                raise TimeoutError("the emulator server did not start in time")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end."""
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()
        close = getattr(self.app, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``app`` in a background thread (port 0 = a free port); returns the started server."""
    return RunningServer(app, host, port).start()


def serve_forever(app: Any, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve ``app`` in the foreground until interrupted (``batch-router emulate``)."""
    uvicorn = _uvicorn()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", lifespan="off")
    finally:
        close = getattr(app, "close", None)
        if close is not None:
            close()
