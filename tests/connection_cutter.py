"""A TCP relay in front of PostgreSQL that can cut one exchange, as a failing network would.

Armed, it cuts the connection on the next request the client sends: either before the server
sees it (`"request"`: nothing happened there) or after the server has answered it (`"reply"`:
it happened, but the client never hears so). Then it disarms itself. Only on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from devtools.postgres_cluster import PgServer

Cut = Literal["request", "reply"]
READY_FOR_QUERY = b"Z\x00\x00\x00\x05"  # the server's last message after each request


class ConnectionCutter:
    def __init__(self, server: PgServer) -> None:
        self._server = server
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._armed: Cut | None = None
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, dbname: str) -> str:
        return f"postgresql://{self._server.user}@127.0.0.1:{self.port}/{dbname}"

    def arm(self, cut: Cut) -> None:
        with self._lock:
            self._armed = cut

    def close(self) -> None:
        self._listener.close()

    def _upstream(self) -> socket.socket:
        if self._server.host.startswith("/"):
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(f"{self._server.host}/.s.PGSQL.{self._server.port}")
            return upstream
        return socket.create_connection((self._server.host, self._server.port))

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = self._upstream()
            threading.Thread(target=self._relay, args=(client, server), daemon=True).start()

    def _take(self) -> Cut | None:
        with self._lock:
            armed, self._armed = self._armed, None
            return armed

    def _relay(self, client: socket.socket, server: socket.socket) -> None:
        """Requests, client to server, here; replies in a thread of their own, which swallows
        the reply to a cut request instead of passing it on."""
        swallow, swallowed = threading.Event(), threading.Event()
        replies = threading.Thread(
            target=self._replies, args=(server, client, swallow, swallowed), daemon=True
        )
        replies.start()
        with client, server:
            while request := _receive(client):
                cut = self._take()
                if cut == "request":
                    break
                if cut == "reply":
                    swallow.set()
                    server.sendall(request)
                    swallowed.wait(timeout=30)  # the server has answered: it is done
                    break
                server.sendall(request)
            client.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _replies(
        server: socket.socket,
        client: socket.socket,
        swallow: threading.Event,
        swallowed: threading.Event,
    ) -> None:
        try:
            while reply := _receive(server):
                if not swallow.is_set():
                    client.sendall(reply)
                elif reply[-6:-1] == READY_FOR_QUERY:
                    swallowed.set()
        except OSError:
            return


def _receive(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


@contextmanager
def cutter_for(server: PgServer) -> Iterator[ConnectionCutter]:
    cutter = ConnectionCutter(server)
    try:
        yield cutter
    finally:
        cutter.close()
