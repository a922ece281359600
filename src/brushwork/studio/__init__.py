"""brushwork studio: a local web page to paint with a live preview (``brushwork serve``)."""

from __future__ import annotations

import socket

from .settings import Settings

__all__ = ["Settings", "create_app", "listen", "serve"]


def create_app(settings: Settings | None = None):
    from .app import create_app as create

    return create(settings)


def listen(settings: Settings) -> socket.socket:
    """The listening socket, bound before the server starts so a port in use is one clear error."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    return socket.create_server((settings.host.strip("[]"), settings.port), family=family, reuse_port=False)


def serve(settings: Settings, sock: socket.socket) -> None:
    """Run the studio on ``sock`` until Ctrl-C or SIGTERM (uvicorn handles both; the app then
    cancels its jobs)."""
    import uvicorn

    config = uvicorn.Config(create_app(settings), log_level="warning", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
