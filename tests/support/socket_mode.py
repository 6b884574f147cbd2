"""Closing slack_sdk's built-in ``SocketModeClient`` without its shutdown race.

``SocketModeClient.close()`` marks the current session terminated, closes the socket, then
joins the thread that runs the session. That thread re-enters ``_run_current_session`` every
0.1 s and sets ``terminated = False`` before each run; if it passed its "is the session
active?" check just before ``close()`` closed the socket (after a reconnect, say: our gateway
asks a slow client to reconnect), it un-terminates the state and loops forever on the closed
socket, and the join never returns. Marking the state terminated again until the join is done
ends that loop; nothing of ours runs in that thread, so this is a fix of the client's teardown,
not of anything under test.
"""

from __future__ import annotations

import threading

from slack_sdk.socket_mode.builtin.client import SocketModeClient


def close(client: SocketModeClient, within: float = 30.0) -> None:
    """``client.close()``, re-marking its session terminated until the close has returned."""
    closing = threading.Thread(target=client.close, name="socket-mode-close", daemon=True)
    closing.start()
    while closing.is_alive():
        client.current_session_state.terminated = True
        closing.join(0.1)
        within -= 0.1
        assert within > 0, "slack_sdk's SocketModeClient.close() did not return"
