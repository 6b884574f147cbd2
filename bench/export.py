"""Export and import throughput in messages per second, for a 1M-message workspace.

    flock /work/locks/bench .venv/bin/python bench/export.py [--messages 1000000] [--channels 100]
    # or in two shorter runs (each its own deployment): export, keeping the archive; then import it
    flock /work/locks/bench .venv/bin/python bench/export.py --only export --archive /tmp/big.zip
    flock /work/locks/bench .venv/bin/python bench/export.py --only import --archive /tmp/big.zip

Runs a real local deployment as `cellctl dev up` does (control plane, cells us-1 in region us and
eu-1 in region eu, each with its own durable PostgreSQL, Redis and processes). Creates a workspace
on us-1 and seeds ``--messages`` messages over ``--channels`` channels and 100 days with COPY (one
in ten with a reaction), then:

  * export: ``POST /v1/workspaces/W/exports`` and waits for the worker to finish the archive in
    us-1's object store (Slack's format, zipped, hashed), then downloads it by its signed link;
  * import: ``cellctl workspaces import <archive> --region eu`` (a separate process, as a user runs
    it): the archive checked whole, then batches through the control plane into eu-1.

In-run baselines on the same servers: reading the same rows out with ``COPY (SELECT ...) TO STDOUT``
(the floor of any export), and writing them into a scratch copy of the messages table with
``COPY FROM``, the search trigger on (the floor of any import that keeps messages searchable). Prints figures and ratios and the load average; never
fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.dev.stack import DevOptions, DevStack

CELLS = """\
version: 1
cells:
  - name: us-1
    region: us
    capacity: {workspaces: 1000}
    local: {}
  - name: eu-1
    region: eu
    capacity: {workspaces: 1000}
    local: {}
"""
PASSWORD = "bench password 1"
START_US = 1_600_000_000_000_000
DAY_US = 86_400 * 1_000_000


def dsn_of(cell: dict[str, Any]) -> str:
    return f"postgresql://postgres@127.0.0.1:{cell['provisioning']['plan']['postgres_port']}/cellchat"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1m) {five:.2f} (5m) on {os.cpu_count()} cores"


def seed(dsn: str, workspace: str, owner: str, messages: int, channels: int) -> tuple[list[str], float]:
    """Channels and messages with COPY (triggers off for the bulk load); the channel ids and the seconds."""
    started = time.monotonic()
    ids = [f"CBENCH{n:06d}" for n in range(channels)]
    per = messages // channels
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        with conn.cursor().copy("COPY channels (workspace_id, channel_id, kind, name, creator) FROM STDIN") as copy:
            for n, channel in enumerate(ids):
                copy.write_row((workspace, channel, "public", f"bench-{n:04d}", owner))
        with conn.cursor().copy("COPY channel_members (workspace_id, channel_id, user_id) FROM STDIN") as copy:
            for channel in ids:
                copy.write_row((workspace, channel, owner))
        with conn.cursor().copy("COPY messages (workspace_id, channel_id, ts, user_id, text) FROM STDIN") as copy:
            for channel in ids:
                for i in range(per):
                    copy.write_row((workspace, channel, START_US + i * (100 * DAY_US // per), owner,
                                    f"seeded message {i} of {channel}, with a little text in it like people write"))
        with conn.cursor().copy("COPY reactions (workspace_id, channel_id, ts, name, user_id) FROM STDIN") as copy:
            for channel in ids:
                for i in range(0, per, 10):
                    copy.write_row((workspace, channel, START_US + i * (100 * DAY_US // per), "thumbsup", owner))
        conn.execute("ANALYZE")
    return ids, time.monotonic() - started


def copy_out_baseline(dsn: str, workspace: str) -> tuple[int, float]:
    started = time.monotonic()
    size = 0
    with psycopg.connect(dsn) as conn, conn.cursor().copy(
            "COPY (SELECT channel_id, ts, user_id, text FROM messages WHERE workspace_id = %s"
            " ORDER BY channel_id, ts) TO STDOUT", (workspace,)) as copy:
        for chunk in copy:
            size += len(chunk)
    return size, time.monotonic() - started


def copy_in_baseline(dsn: str, workspace: str, channels: list[str], messages: int) -> float:
    per = messages // len(channels)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (LIKE messages INCLUDING DEFAULTS INCLUDING INDEXES)")
        # The search data too: an imported message is searchable, so the floor indexes it as well.
        conn.execute("CREATE TRIGGER search_index BEFORE INSERT ON bench_copy FOR EACH ROW"
                     " EXECUTE FUNCTION cellchat_search_index()")
        started = time.monotonic()
        with conn.cursor().copy("COPY bench_copy (workspace_id, channel_id, ts, user_id, text) FROM STDIN") as copy:
            for channel in channels:
                for i in range(per):
                    copy.write_row((workspace, channel, START_US + i * (100 * DAY_US // per), "UOWNER",
                                    f"seeded message {i} of {channel}, with a little text in it like people write"))
        took = time.monotonic() - started
        conn.execute("DROP TABLE bench_copy")
    return took


def scenario(dev: Any, operator: str, args: argparse.Namespace, folder: Path) -> None:
    with httpx.Client(base_url=dev.control_plane, timeout=600,
                      headers={"Authorization": f"Bearer {operator}"}) as cp:
        if args.only == "import":
            cells = {c["name"]: c for c in cp.get("/v1/cells").json()["cells"]}
            import_phase(dev, operator, Path(args.archive), dsn_of(cells["eu-1"]), args)
            return
        made = cp.post("/v1/workspaces", json={"name": "big", "region": "us", "owner": {
            "email": "owner@big.example.com", "name": "owner", "password": PASSWORD}}).json()
        workspace, owner = made["workspace"]["id"], made["owner"]["id"]
        cells = {c["name"]: c for c in cp.get("/v1/cells").json()["cells"]}
        us, eu = dsn_of(cells["us-1"]), dsn_of(cells["eu-1"])
        print(f"seeding {args.messages:,} messages over {args.channels} channels into {workspace} ...", flush=True)
        _, seeded = seed(us, workspace, owner, args.messages, args.channels)
        total = args.messages // args.channels * args.channels
        print(f"  seeded in {seeded:.0f}s; {load()}", flush=True)

        size, out_s = copy_out_baseline(us, workspace)
        print(f"baseline COPY TO STDOUT: {total / out_s:,.0f} rows/s ({size / 1e6:.0f} MB in {out_s:.1f}s)",
              flush=True)

        print(f"export ... ({load()})", flush=True)
        started = time.monotonic()
        export = cp.post(f"/v1/workspaces/{workspace}/exports", json={"reason": "benchmark"}).json()["export"]
        while True:
            found = cp.get(f"/v1/workspaces/{workspace}/exports/{export['id']}").json()["export"]
            if found["state"] in ("complete", "failed"):
                break
            time.sleep(0.5)
        export_s = time.monotonic() - started
        if found["state"] != "complete":
            raise SystemExit(f"export failed: {found}")
        messages = int(found["messages_done"])
        link = cp.get(f"/v1/workspaces/{workspace}/exports/{export['id']}",
                      params={"link_seconds": 600}).json()["download"]
        archive = Path(args.archive) if args.archive else folder / "export.zip"
        started = time.monotonic()
        with httpx.stream("GET", link["url"], timeout=600) as answer, archive.open("wb") as out:
            for chunk in answer.iter_bytes(1024 * 1024):
                out.write(chunk)
        download_s = time.monotonic() - started
        print(f"  export: {messages:,} messages in {export_s:.1f}s = {messages / export_s:,.0f} msg/s "
              f"(archive {archive.stat().st_size / 1e6:.0f} MB, sha256 {link['sha256'][:12]}...; "
              f"downloaded in {download_s:.1f}s); {load()}", flush=True)

        print(f"export {messages / export_s:,.0f} msg/s = {(messages / export_s) / (total / out_s):.2f}x the "
              "COPY-out floor")
        if args.only != "export":
            import_phase(dev, operator, archive, eu, args)


def import_phase(dev: Any, operator: str, archive: Path, eu: str, args: argparse.Namespace) -> None:
    """Import ``archive`` into region eu with ``cellctl`` (its own process), beside the COPY-in floor."""
    channels = [f"CBENCH{n:06d}" for n in range(args.channels)]
    in_s = copy_in_baseline(eu, "TBASELINE01", channels, args.messages)
    print(f"baseline COPY FROM STDIN into a scratch messages table (search trigger on): "
          f"{args.messages / in_s:,.0f} rows/s",
          flush=True)

    print(f"import {archive} ({archive.stat().st_size / 1e6:.0f} MB) ... ({load()})", flush=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("CELLCHAT_", "CELLCTL_"))},
           "CELLCHAT_CONTROL_PLANE_URL": dev.control_plane, "CELLCHAT_CONTROL_PLANE_TOKEN": operator}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", "from cli.main import run; run()", "workspaces", "import",
                           str(archive), "--region", "eu", "--name", "copy", "-o", "json"],
                          env=env, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    import_s = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"import failed ({done.returncode}): {done.stderr[-2000:]}")
    answer = json.loads(done.stdout[done.stdout.index("{"):])
    imported = int(answer["counts"]["messages"])
    print(f"  import: {imported:,} messages in {import_s:.1f}s = {imported / import_s:,.0f} msg/s "
          f"(into {answer['cell']}; unmapped: {answer['unmapped'] or 'nothing'}); {load()}", flush=True)
    print(f"import {imported / import_s:,.0f} msg/s = {(imported / import_s) / (args.messages / in_s):.2f}x "
          "the COPY-in floor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--only", choices=["export", "import"], help="one phase (import: of --archive)")
    parser.add_argument("--archive", help="where to keep the exported archive / which archive to import")
    args = parser.parse_args()
    print(f"starting: {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="cellchat-bench-") as tmp:
        folder = Path(tmp)
        (folder / "cells.yaml").write_text(CELLS)
        stack = DevStack(DevOptions(folder=folder, cells_file=folder / "cells.yaml", free_ports=True, seed=False,
                                    cell_env=(("CELLCHAT_RATE_LIMITS__ENABLED", "false"),)),
                         lambda text: print(f"  {text}", flush=True))
        try:
            dev = stack.up()
            operator = json.loads((folder / ".cellchat" / "secrets.json").read_text())["operator"]
            scenario(dev, operator, args, folder)
        finally:
            stack.down()


if __name__ == "__main__":
    main()
