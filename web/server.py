"""Running the app under uvicorn: in this process, or one process per worker.

With several workers uvicorn binds the listening socket they share itself, with `proto` left
at 0 (uvicorn issue #3149), and asyncio turns Nagle's algorithm off only on connections whose
socket says TCP. Every keep-alive request after a connection's first then waits for the
client's delayed ACK: ~40 ms on Linux, which held `serve --workers 2` to about 20 requests/s per
connection whatever the route. Linux copies TCP_NODELAY from a listening socket to the
connections it accepts, so it is set there.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess


class NoDelayConfig(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def run(app_factory: str, workers: int, **options: Any) -> None:
    """Serve the app `app_factory` (module:function) builds, until stopped."""
    if workers == 1:  # asyncio binds the socket itself, as TCP
        uvicorn.run(app_factory, factory=True, **options)
        return
    config = NoDelayConfig(app_factory, factory=True, workers=workers, **options)
    Multiprocess(config, sockets=[config.bind_socket()]).run()
