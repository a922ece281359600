"""brushwork studio: a local web page to paint with a live preview (``brushwork serve``)."""

from __future__ import annotations

import socket

from .settings import Settings

__all__ = ["Settings", "create_app", "listen", "serve", "server"]
# Seconds uvicorn waits for open responses once the studio has ended its jobs and streams; only a
# client that stopped reading its stream can take that long.
SHUTDOWN_WAIT = 0.5


def create_app(settings: Settings | None = None):
    from .app import create_app as create

    return create(settings)


def listen(settings: Settings) -> socket.socket:
    """The listening socket, bound before the server starts so a port in use is one clear error."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    return socket.create_server((settings.host.strip("[]"), settings.port), family=family, reuse_port=False)


def server(settings: Settings):
    """A uvicorn server for the studio that, when it stops (Ctrl-C, SIGTERM), first ends the jobs,
    so each open event stream sends its last event and closes, then waits for open responses."""
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets=None):
            await app.state.stop()
            await super().shutdown(sockets)

    app = create_app(settings)
    # uvicorn annotates the timeout as int, but hands it to asyncio.timeout(), which takes any seconds.
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=SHUTDOWN_WAIT)  # type: ignore[arg-type]
    return Server(config)


def serve(settings: Settings, sock: socket.socket) -> None:
    """Run the studio on ``sock`` until Ctrl-C or SIGTERM, which uvicorn raises again once the
    studio has stopped (within about two seconds)."""
    server(settings).run(sockets=[sock])
