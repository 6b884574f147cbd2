"""The capacity model of docs/benchmarks.md: processes and machines for the requirement card's scale.

    .venv/bin/python bench/capacity_model.py                       # the figures of docs/benchmarks.md
    .venv/bin/python bench/capacity_model.py --peak-messages 50000 --gateway-us-per-delivery 6

Arithmetic on paper, no servers: per-process CPU costs measured on the 2-vCPU development VM by
``bench/channel_sweep.py`` (and, for reads and idle sockets, ``bench/history.py`` and
``bench/realtime_idle.py``), times the load of the requirement card (50M users, 5M concurrent
WebSockets, 100K messages/s, 10K+-member channels) under stated assumptions about fan-out and
workspace sizes. Every input is an option (``--help``); the output says which resource runs
out first and what the router tier costs.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, fields


@dataclass
class Inputs:
    # --- the requirement card ----------------------------------------------------------------
    users: float = 50e6
    concurrent_sockets: float = 5e6
    peak_messages: float = 100e3  # msg/s; 100 msg/user/day x 50M = 58K/s on average
    # --- assumptions (stated in docs/benchmarks.md) --------------------------------------------
    reads_per_post: float = 3.0  # other Web API calls per message sent (history, replies, marks, reactions)
    online_dm: float = 1.5  # online recipients of a message in a DM or group DM
    online_small: float = 10.0  # ... in a channel of up to ~100 members
    online_medium: float = 150.0  # ... up to ~2,000 members
    online_large: float = 2000.0  # ... 10K+ members (20 % online)
    share_dm: float = 0.50  # share of messages by kind of conversation
    share_small: float = 0.30
    share_medium: float = 0.15
    share_large: float = 0.05
    heartbeats_per_socket_s: float = 1 / 30  # presence heartbeat every 30 s
    devices_per_online_user: float = 1.3
    largest_workspace_users: float = 200e3
    messages_per_user_day: float = 100.0
    utilisation: float = 0.6  # planned CPU use of every process (headroom for peaks and failover)
    # --- measured on this machine (ms or us of CPU, one core = 1,000 ms/s) ------------------------
    # bench/channel_sweep.py at 100 msg/s: router 0.36-0.43 ms per post, flat past the knee; the
    # cell 2.8 ms at N = 50 (py-spy: api + HTTP 44 %, gateway 15 %, relay 7 %, event loop 27 %),
    # 3.8 ms at N = 200, hence ~7 us per extra delivery (bare websockets server: ~4.5 us).
    router_ms_per_request: float = 0.40
    api_ms_per_post: float = 1.9  # chat.postMessage: handler, SQL round trips, HTTP, its share of the loop
    relay_ms_per_post: float = 0.3
    gateway_ms_per_message: float = 0.25  # per message per gateway process, besides deliveries
    gateway_us_per_delivery: float = 7.0  # per socket a frame is written to
    heartbeat_us: float = 60.0  # gateway CPU per presence heartbeat
    api_ms_per_read: float = 1.2  # conversations.history first page (bench/history.py)
    pg_ms_per_post: float = 1.8
    pg_ms_per_read: float = 0.6
    redis_us_per_publish_delivery: float = 4.0  # Redis: one published frame to one subscribed gateway
    socket_kib: float = 60.0  # gateway RSS per idle socket (an assumption: bench/realtime_idle.py measures it)
    # --- machine sizes -------------------------------------------------------------------------
    pg_cores_per_cell: int = 32  # one PostgreSQL primary per cell (and a replica of the same size)
    redis_cores_per_instance: float = 1.0  # Redis is single-threaded for pub/sub
    sockets_per_gateway: float = 20e3  # per gateway process (one core, ~1.2 GiB at socket_kib)
    gateways_per_large_channel: float = 0.0  # 0: every gateway of the cell (members are everywhere)


def model(i: Inputs) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []

    def say(what: str, value: str) -> None:
        out.append((what, value))

    shares = (i.share_dm, i.share_small, i.share_medium, i.share_large)
    online = (i.online_dm, i.online_small, i.online_medium, i.online_large)
    fanout = sum(s * o for s, o in zip(shares, online, strict=True)) / sum(shares)
    deliveries = i.peak_messages * fanout
    reads = i.peak_messages * i.reads_per_post
    requests = i.peak_messages + reads
    say("average message rate (card: 100/user/day)", f"{i.users * i.messages_per_user_day / 86400:,.0f} msg/s; "
        f"planned peak {i.peak_messages:,.0f} msg/s")
    say("online recipients per message (weighted)", f"{fanout:,.1f}")
    say("deliveries (frames written to sockets)", f"{deliveries / 1e6:,.1f} M/s")
    say("Web API requests through the router", f"{requests / 1e3:,.0f} K/s ({i.reads_per_post:.0f} reads per post)")

    u = i.utilisation
    router = requests * i.router_ms_per_request / 1000 / u
    api = (i.peak_messages * (i.api_ms_per_post + i.relay_ms_per_post) + reads * i.api_ms_per_read) / 1000 / u
    heartbeats = i.concurrent_sockets * i.heartbeats_per_socket_s
    gw_by_sockets = math.ceil(i.concurrent_sockets / i.sockets_per_gateway)
    gw_cpu = (deliveries * i.gateway_us_per_delivery / 1e6 + heartbeats * i.heartbeat_us / 1e6) / u
    # Every gateway process with a member of a channel online also handles each of its messages.
    gateways = max(gw_by_sockets, math.ceil(gw_cpu))
    per_message_gateways = [min(gateways, o) for o in online]
    gw_cpu += i.peak_messages * sum(s * g for s, g in zip(shares, per_message_gateways, strict=True)) \
        * i.gateway_ms_per_message / 1000 / u
    gateways = max(gw_by_sockets, math.ceil(gw_cpu))
    pg = (i.peak_messages * i.pg_ms_per_post + reads * i.pg_ms_per_read) / 1000 / u

    cells_by_pg = math.ceil(pg / i.pg_cores_per_cell)

    def redis_cores(cells: int) -> float:
        """One cell's Redis: each message is published once to every gateway of the cell with a
        recipient online (a big channel's members are on all of them)."""
        per_cell_gateways = math.ceil(gateways / cells)
        reach = [min(per_cell_gateways, g) if i.gateways_per_large_channel == 0 or k < 3
                 else min(per_cell_gateways, i.gateways_per_large_channel)
                 for k, g in enumerate(per_message_gateways)]
        fan = sum(s * r for s, r in zip(shares, reach, strict=True))
        return i.peak_messages / cells * fan * i.redis_us_per_publish_delivery / 1e6 / u

    cells = cells_by_pg
    while redis_cores(cells) > i.redis_cores_per_instance:  # Redis pub/sub is one core per cell
        cells += 1
    cells_by_redis = cells
    redis_load = redis_cores(cells)
    per_cell_msgs = i.peak_messages / cells
    gateways_per_cell = math.ceil(gateways / cells)
    largest = i.largest_workspace_users * i.messages_per_user_day / 86400 * (i.peak_messages / (
        i.users * i.messages_per_user_day / 86400))
    pg_ceiling = i.pg_cores_per_cell * u * 1000 / (i.pg_ms_per_post + i.reads_per_post * i.pg_ms_per_read)

    say("router tier", f"{router:,.0f} cores = {math.ceil(router):,} router processes "
        f"(one core each; {router / (router + api + gw_cpu + pg) * 100:.0f} % of all CPU)")
    say("API processes (api + relay)", f"{math.ceil(api):,} (one core each)")
    per_gateway = i.concurrent_sockets / gateways
    say("gateway processes", f"{gateways:,} ({gw_cpu:,.0f} cores for deliveries and heartbeats; the "
        f"{i.concurrent_sockets / 1e6:.0f} M sockets alone would need {gw_by_sockets:,} at "
        f"{i.sockets_per_gateway / 1e3:.0f}K each): {per_gateway:,.0f} sockets, "
        f"{per_gateway * i.socket_kib / 2**10:,.0f} MiB of sockets each")
    say("PostgreSQL", f"{pg:,.0f} cores -> {cells_by_pg:,} cells of {i.pg_cores_per_cell} cores "
        f"(primary + a replica each)")
    say("cells", f"{cells:,}: {per_cell_msgs:,.0f} msg/s, {i.users / cells / 1e6:,.2f} M users, "
        f"{math.ceil(api / cells)} API and {gateways_per_cell} gateway processes each")
    say("Redis per cell", f"1 instance, {redis_load:,.2f} of its one core for publishing to gateways "
        f"(PostgreSQL alone would need {cells_by_pg} cells, Redis fan-out {cells_by_redis})")
    say("largest workspace", f"{i.largest_workspace_users / 1e3:,.0f}K users -> {largest:,.0f} msg/s at peak "
        f"({largest / per_cell_msgs * 100:.0f} % of one cell: fits, a workspace never spans cells)")
    ceilings = {"PostgreSQL": pg_ceiling,
                "Redis pub/sub": per_cell_msgs * i.redis_cores_per_instance / redis_load if redis_load else math.inf}
    first = min(ceilings, key=lambda k: ceilings[k])
    say("what saturates first", f"{first}: a cell tops out at {ceilings[first]:,.0f} msg/s "
        f"({', '.join(f'{k} at {v:,.0f} msg/s' for k, v in ceilings.items())}); API, gateway and "
        "router processes scale out")
    total = router + api + gw_cpu + pg
    say("total", f"{total:,.0f} cores at {u * 100:.0f} % planned use ({total / i.peak_messages * 1000:.1f} ms of "
        f"CPU per message sent, all tiers)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in fields(Inputs):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    args = parser.parse_args()
    inputs = Inputs(**{f.name: getattr(args, f.name) for f in fields(Inputs)})
    width = max(len(k) for k, _ in model(inputs))
    for what, value in model(inputs):
        print(f"{what:<{width}}  {value}")


if __name__ == "__main__":
    main()
