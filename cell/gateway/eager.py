"""Run a coroutine synchronously until it first has to wait.

A WebSocket send to a socket whose buffer has room never waits: the ASGI
server frames the message and writes it to the transport. Fanning one event out
to 2,000 sockets through 2,000 tasks would cost 2,000 task switches; starting
each send eagerly costs none, and only the sends that do wait (a slow client
whose buffer is full) become tasks. Python 3.12 has this built in
(``asyncio.eager_task_factory``); we run on 3.11.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def start(coro: Coroutine[Any, Any, Any]) -> asyncio.Future[None] | None:
    """Run ``coro`` until it completes or suspends.

    Returns None when it completed (its exception, if any, propagates here), or a
    future that completes when the suspended coroutine, resumed in a task once
    what it waits for is done, finishes.
    """
    try:
        awaited = coro.send(None)
    except StopIteration:
        return None
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()

    def settle(task: asyncio.Task[Any]) -> None:
        if finished.done():
            return
        if task.cancelled():
            finished.cancel()
        elif (exc := task.exception()) is not None:
            finished.set_exception(exc)
        else:
            finished.set_result(None)

    def resume(_: object = None) -> None:
        # A task may take over a started coroutine once the future it yielded is
        # done: its first step sends None into the suspended await, as a task would.
        task = loop.create_task(coro)
        task.add_done_callback(settle)

    if asyncio.isfuture(awaited):
        awaited.add_done_callback(resume)
    else:  # a bare yield (asyncio.sleep(0)): resume on the next loop iteration
        loop.call_soon(resume)
    return finished
