"""A cell process's Prometheus metrics for its operators (served on ``/metrics`` with the rest).

- ``cellchat_process_info{role, cell, region}`` 1: which process this is (the "cell down" alert
  looks for cells whose api processes stopped reporting).
- The Web API per Slack method: ``cellchat_api_requests_total{method, code}``,
  ``cellchat_api_errors_total{method, error}`` (``ok: false`` answers by Slack error code),
  ``cellchat_api_request_duration_seconds{method}``, ``cellchat_rate_limited_total{method, tier}``.
  ``method`` is a registered method or ``unknown``: no client can grow the series.
- ``cellchat_db_pool_size``, ``_in_use``, ``_waiting``: the PostgreSQL pool, read at scrape time.
- ``cellchat_redis_rtt_seconds``: Redis round trips, sampled every few seconds.
- ``cellchat_gateway_connections``, ``cellchat_gateway_send_queue_depth`` (frames waiting on slow
  sockets, summed) and ``cellchat_gateway_send_queue_max`` (the longest one), read at scrape time.
- ``cellchat_outbox_depth`` (committed events not yet published) and ``cellchat_relay_lag_seconds``
  (age of the oldest of them; 0 when none), sampled every few seconds by processes with a relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

PROCESS = Gauge("cellchat_process_info", "1 for this cell process", ["role", "cell", "region"])
API_REQUESTS = Counter("cellchat_api_requests_total", "Web API requests answered", ["method", "code"])
API_ERRORS = Counter("cellchat_api_errors_total", "Web API answers with ok=false, by Slack error code",
                     ["method", "error"])
API_LATENCY = Histogram("cellchat_api_request_duration_seconds", "Time to answer a Web API request", ["method"],
                        buckets=_LATENCY_BUCKETS)
RATE_LIMITED = Counter("cellchat_rate_limited_total", "Requests refused by the rate limiter", ["method", "tier"])
REDIS_RTT = Histogram("cellchat_redis_rtt_seconds", "Redis PING round trips",
                      buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
OUTBOX_DEPTH = Gauge("cellchat_outbox_depth", "Committed outbox events not yet published")
RELAY_LAG = Gauge("cellchat_relay_lag_seconds", "Age of the oldest committed event not yet published")


class _Pool(Protocol):
    def get_stats(self) -> dict[str, int]: ...


class _Gateway(Protocol):
    sockets: Any


class _Collector(Collector):
    """Reads the registered pools and gateways when Prometheus scrapes."""

    def __init__(self) -> None:
        self.pools: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
        self.gateways: weakref.WeakSet[Any] = weakref.WeakSet()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily("cellchat_db_pool_size", "PostgreSQL connections the pool holds", labels=["pool"])
        in_use = GaugeMetricFamily("cellchat_db_pool_in_use", "PostgreSQL connections lent out", labels=["pool"])
        waiting = GaugeMetricFamily("cellchat_db_pool_waiting", "Requests waiting for a connection", labels=["pool"])
        maximum = GaugeMetricFamily("cellchat_db_pool_max", "Most connections the pool may open", labels=["pool"])
        for name, pool in list(self.pools.items()):
            stats = pool.get_stats()
            size.add_metric([name], stats.get("pool_size", 0))
            in_use.add_metric([name], stats.get("pool_size", 0) - stats.get("pool_available", 0))
            waiting.add_metric([name], stats.get("requests_waiting", 0))
            maximum.add_metric([name], stats.get("pool_max", 0))
        yield from (size, in_use, waiting, maximum)
        connections = GaugeMetricFamily("cellchat_gateway_connections", "Open RTM WebSockets of this gateway")
        depth = GaugeMetricFamily("cellchat_gateway_send_queue_depth", "Frames queued on slow sockets (sum)")
        longest = GaugeMetricFamily("cellchat_gateway_send_queue_max", "Frames queued on the slowest socket")
        if self.gateways:
            sockets = [s for g in list(self.gateways) for s in list(g.sockets)]
            queued = [len(s.out) if getattr(s, "out", None) else 0 for s in sockets]
            connections.add_metric([], len(sockets))
            depth.add_metric([], sum(queued))
            longest.add_metric([], max(queued, default=0))
            yield from (connections, depth, longest)


_collector = _Collector()
REGISTRY.register(_collector)


def process(role: str, cell: str, region: str) -> None:
    PROCESS.labels(role, cell, region).set(1)


def watch_pool(name: str, pool: _Pool) -> None:
    _collector.pools[name] = pool


def watch_gateway(gateway: _Gateway) -> None:
    _collector.gateways.add(gateway)


def api_answered(method: str, code: int, error: str | None, seconds: float) -> None:
    API_REQUESTS.labels(method, str(code)).inc()
    API_LATENCY.labels(method).observe(seconds)
    if error is not None:
        API_ERRORS.labels(method, error).inc()


class Sampler:
    """Every ``every`` seconds: a Redis round trip, and (with a relay) the outbox backlog."""

    def __init__(self, redis: Any, db: Any | None, every: float = 5.0) -> None:
        self.redis, self.db, self.every = redis, db, every
        self._task: asyncio.Task[None] | None = None

    async def sample(self) -> None:
        started = time.perf_counter()
        await self.redis.ping()
        REDIS_RTT.observe(time.perf_counter() - started)
        if self.db is not None:
            from cell.store import backlog

            async with self.db.read() as conn:
                depth, oldest = await backlog.unpublished(conn)
            OUTBOX_DEPTH.set(depth)
            RELAY_LAG.set(oldest)

    async def _run(self) -> None:
        while True:
            try:
                await self.sample()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store down is what /readyz reports; keep sampling
                log.debug("telemetry sample failed: %s", exc.__class__.__name__)
            await asyncio.sleep(self.every)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="telemetry-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def families() -> Iterable[str]:
    """The metric names this module defines (for tests and docs)."""
    return ("cellchat_process_info", "cellchat_api_requests_total", "cellchat_api_errors_total",
            "cellchat_api_request_duration_seconds", "cellchat_rate_limited_total", "cellchat_redis_rtt_seconds",
            "cellchat_outbox_depth", "cellchat_relay_lag_seconds", "cellchat_db_pool_size",
            "cellchat_db_pool_in_use", "cellchat_db_pool_waiting", "cellchat_gateway_connections",
            "cellchat_gateway_send_queue_depth")
