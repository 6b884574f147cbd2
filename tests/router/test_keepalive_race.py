"""The router's pool reuses an idle connection the cell has just closed: the request goes on a fresh one.

A real HTTP/1.1 server on a real socket (a thread) answers one request with keep-alive and then
closes the connection, as a cell does when its keep-alive timeout fires or it restarts. The test
waits for that close *without yielding to the event loop* (a blocking wait), so the FIN is in the
kernel but the pool has not seen it: the exact window of the race. Before the fix the second
request was written on the dead connection and failed (``cell closed the connection``).
"""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
import uvloop

from router.upstream import CellPool

_ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"


class ClosingServer:
    """Answers each request once, then closes that connection; counts the requests it read."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[bytes] = []
        self.closed = threading.Semaphore(0)  # released after each connection is closed
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    piece = conn.recv(65536)
                    if not piece:
                        break
                    data += piece
                if data:
                    self.requests.append(data.split(b"\r\n", 1)[0])
                    conn.sendall(_ANSWER)
            self.closed.release()

    def stop(self) -> None:
        self.listener.close()


def _pool(port: int) -> CellPool:
    return CellPool(f"http://127.0.0.1:{port}", max_connections=4, max_queue=4, max_idle=4, connect_timeout=5,
                    read_timeout=10, queue_timeout=5, keepalive_expiry=60)


async def _two_posts(server: ClosingServer) -> list[tuple[int, bytes]]:
    pool = _pool(server.port)
    try:
        results = []
        for n in range(2):
            response = await pool.request("POST", f"/api/chat.postMessage?n={n}".encode(), [], b"{}")
            results.append((response.status_code, await response.aread()))
            await response.aclose()
            if n == 0:
                assert len(pool.idle) == 1  # kept alive: the next request would reuse it
                # Block the loop (no await) until the server has closed that connection.
                assert server.closed.acquire(timeout=10)
        return results
    finally:
        pool.close()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_connection_closed_by_the_cell_while_idle_is_not_used(loop: str) -> None:
    server = ClosingServer()
    try:
        runner = asyncio.run if loop == "asyncio" else uvloop.run
        results = runner(_two_posts(server))
    finally:
        server.stop()
    assert results == [(200, b"ok"), (200, b"ok")]
    # Each request reached the server exactly once: the dead connection carried nothing.
    assert server.requests == [b"POST /api/chat.postMessage?n=0 HTTP/1.1", b"POST /api/chat.postMessage?n=1 HTTP/1.1"]
