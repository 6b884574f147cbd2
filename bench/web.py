"""The web client in Debian's Chromium: time to interactive, rendering 1,000 messages, page weight.

Usage::

    flock /work/locks/bench .venv/bin/python bench/web.py
    flock /work/locks/bench .venv/bin/python bench/web.py --conversations 500 --runs 7

One cell (in this process), a control plane and the router; a person who is a member of
``--conversations`` conversations (channels, the last one holding 1,000 messages of mixed mrkdwn).
Each figure is the median of ``--runs`` fresh browser contexts (cold cache, like a first visit),
beside a same-run baseline: a bare static page (one heading, no script, no style sheet) served by
a second router of the same code on the same machine (``web_root``).

Figures:

* page load: navigation start to the sign-in form ready (``cellchat-signin`` mark), beside the
  bare page's navigation start to its ``load`` event;
* time to interactive of the first screen: a token in hand (sign-in answered) to the sidebar of
  every conversation and the last 50 messages shown with the composer focused, every API call
  it needs included (auth.test, users.list, conversations.list, conversations.history, in
  parallel), until the ``cellchat-ready`` mark; also from sign-in submitted (adding the
  password check, argon2 by design), and page load plus that (the time a person would wait,
  without the typing);
* rendering 1,000 history messages (the app's own ``showMessages``: mrkdwn to DOM, day dividers,
  layout until the next frame), beside the bare page making 1,000 paragraphs of the same texts;
* scrolling to the top of a 20,000-message channel: total time beside the same history pages
  fetched without rendering, the slowest frame, and the most message rows ever in the DOM;
* page weight: JS + CSS as sent (brotli, gzip) and raw, and the bytes the browser received for
  the page and its assets (resource timing), beside the bare page's.

Prints figures only; never fails on timing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from playwright.sync_api import Browser

from router.web import WebFiles
from tests.support import infra as infra_mod
from tests.support import moves
from tests.support.cells import PASSWORD
from tests.support.router import running_router
from tests.support.web import WebDeployment, chromium, web_deployment

BARE = "<!doctype html><html lang=en><meta charset=utf-8><title>bare</title><h1>A bare page</h1></html>\n"
TEXTS = [
    "Deploy *finished* for `api-gateway` :rocket: see <https://example.com/runs/{n}|run {n}>",
    "> quoting the spec here\nand answering _below_ it, with ~no~ strike",
    "```\ncode block {n}\n  indented line\n```",
    "plain words about the release plan, number {n}, nothing special in them at all",
    "<@{user}> can you look at this one? :eyes: :+1:",
]


def seed(deployment: WebDeployment, conversations: int) -> str:
    """``conversations`` channels with Alice in them; the newest gets 1,000 messages. Its id."""
    alice = deployment.slack("alice")
    last = deployment.workspace.general
    for n in range(conversations - 1):
        last = alice.conversations_create(name=f"project-{n:04d}")["channel"]["id"]
    user = deployment.people["alice"].id
    cell = deployment.stack.cells["us-1"]
    rows = [(deployment.workspace.id, last, 1_700_000_000_000_000 + i * 60_000_000, user,
             TEXTS[i % len(TEXTS)].format(n=i, user=deployment.people["bob"].id)) for i in range(1000)]
    with psycopg.connect(cell.dsn, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # bulk load, as tests/support/moves.py does
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO messages (workspace_id, channel_id, ts, user_id, text)"
                            " VALUES (%s, %s, %s, %s, %s)", rows)
        conn.execute("ANALYZE messages")
    return last


LONG = 20_000


def seed_long(deployment: WebDeployment) -> str:
    """A channel of Alice's with 20,000 messages, one a minute (so day lines too). Its id."""
    channel = deployment.slack("alice").conversations_create(name="long-history")["channel"]["id"]
    user = deployment.people["alice"].id
    with psycopg.connect(deployment.stack.cells["us-1"].dsn, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        with conn.cursor() as cur, cur.copy("COPY messages (workspace_id, channel_id, ts, user_id, text) FROM STDIN") as copy:
            for i in range(LONG):
                copy.write_row((deployment.workspace.id, channel, 1_600_000_000_000_000 + i * 60_000_000, user,
                                TEXTS[i % len(TEXTS)].format(n=i, user=deployment.people["bob"].id)))
        conn.execute("ANALYZE messages")
    return channel


def scroll_20000(browser: Browser, deployment: WebDeployment, channel: str, version: str) -> dict[str, float]:
    """Open the channel and scroll to its very top, a page of older history at a time: the total
    time, the slowest frame, the most message rows ever in the DOM; and, as the in-run floor,
    the same 100 ``conversations.history`` pages fetched in the same page without rendering."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(deployment.url + "/")
    page.fill("#workspace", deployment.workspace.id)
    page.fill("#email", deployment.people["alice"].email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready=true]")
    got: dict[str, float] = page.evaluate("""async ([channel, version]) => {
      const app = await import(`/assets/${version}/app.js`);
      const api = await import(`/assets/${version}/api.js`);
      const frame = () => new Promise(r => requestAnimationFrame(r));
      let t0 = performance.now();
      let latest = null; let more = true;
      const first = await api.call('conversations.history', {channel, limit: 50});
      latest = first.messages[first.messages.length - 1].ts;
      while (more) { const p = await api.call('conversations.history', {channel, latest, limit: 200});
        more = p.has_more; latest = p.messages[p.messages.length - 1].ts; }
      const floor = performance.now() - t0;
      await app.openConversation(channel);
      const box = document.querySelector('#history');
      let most = 0; let slowest = 0; let last = performance.now();
      t0 = performance.now();
      while (!box.querySelector('.start')) {
        box.scrollTop = Math.max(0, box.scrollTop - 2000);  // a fast flick upwards
        await frame();
        const now = performance.now(); slowest = Math.max(slowest, now - last); last = now;
        most = Math.max(most, box.querySelectorAll('article.msg').length);
        if (performance.now() - t0 > 120000) throw new Error('did not reach the top');
      }
      return {total: performance.now() - t0, floor, slowest, most, loaded: Number(box.dataset.loaded)};
    }""", [channel, version])
    context.close()
    return got


def first_screen(browser: Browser, deployment: WebDeployment, channel: str) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.add_init_script(f"localStorage.setItem('cellchat.last.{deployment.workspace.id}', '{channel}')")
    page.goto(deployment.url + "/")
    page.wait_for_function("() => performance.getEntriesByName('cellchat-signin').length > 0")
    page.fill("#workspace", deployment.workspace.id)
    page.fill("#email", deployment.people["alice"].email)
    page.fill("#password", PASSWORD)
    page.evaluate("() => { performance.mark('submit'); document.querySelector('button[type=submit]').click(); }")
    page.wait_for_function("() => performance.getEntriesByName('cellchat-ready').length > 0", timeout=60_000)
    marks: dict[str, float] = page.evaluate("""() => {
      const at = (n) => performance.getEntriesByName(n)[0].startTime;
      const sidebar = document.querySelectorAll('.sidebar a.conv').length;
      const shown = document.querySelectorAll('#history article.msg').length;
      const transferred = performance.getEntriesByType('navigation')[0].transferSize
        + performance.getEntriesByType('resource').filter(r => r.name.includes('/assets/'))
            .reduce((a, r) => a + r.transferSize, 0);
      return {load: at('cellchat-signin'), tti: at('cellchat-ready') - at('submit'), whole: at('cellchat-ready'),
              signin: at('cellchat-signed-in') - at('submit'), after: at('cellchat-ready') - at('cellchat-signed-in'),
              sidebar, shown, transferred,
              focused: document.activeElement.id === 'composer-input' ? 1 : 0};
    }""")
    context.close()
    return marks


def render_1000(browser: Browser, deployment: WebDeployment, channel: str, version: str) -> float:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(deployment.url + "/")
    page.fill("#workspace", deployment.workspace.id)
    page.fill("#email", deployment.people["alice"].email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready=true]")
    took: float = page.evaluate("""async ([channel, version]) => {
      const app = await import(`/assets/${version}/app.js`);  // the page's own module instance
      const api = await import(`/assets/${version}/api.js`);
      const got = await api.call('conversations.history', {channel, limit: 1000});
      await new Promise(r => requestAnimationFrame(() => r()));
      const t0 = performance.now();
      app.showMessages(channel, got.messages);
      document.querySelector('#history').scrollHeight;  // layout
      await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
      if (document.querySelector('#history').dataset.loaded !== '1000') throw new Error('not 1000');
      return performance.now() - t0;
    }""", [channel, version])
    context.close()
    return took


def bare(browser: Browser, url: str, texts: list[str]) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(url + "/")
    page.wait_for_function("() => performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
    result: dict[str, float] = page.evaluate("""async (texts) => {
      const nav = performance.getEntriesByType('navigation')[0];
      await new Promise(r => requestAnimationFrame(() => r()));
      const t0 = performance.now();
      const box = document.createElement('div');
      for (const t of texts) { const p = document.createElement('p'); p.textContent = t; box.append(p); }
      document.body.append(box);
      document.body.scrollHeight;
      await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
      return {load: nav.loadEventEnd, render: performance.now() - t0, transferred: nav.transferSize};
    }""", texts)
    context.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="cellchat-bench-web-"))
    infra = infra_mod.start(base)
    try:
        with ExitStack() as stack:
            servers = stack.enter_context(moves.servers(1))
            caches = [stack.enter_context(moves.redis_server())]
            deployment = stack.enter_context(web_deployment(infra, servers, caches, movable=False))
            root = base / "bare"
            root.mkdir()
            (root / "index.html").write_text(BARE)
            baseline = stack.enter_context(running_router(deployment.stack.control_plane.url, base / "routes.json",
                                                          web_root=root))
            started = time.monotonic()
            channel = seed(deployment, args.conversations)
            print(f"seeded {args.conversations} conversations and 1,000 messages in {time.monotonic() - started:.1f}s")
            browser = stack.enter_context(chromium())
            version = WebFiles().version
            texts = [TEXTS[i % len(TEXTS)].format(n=i, user="U0") for i in range(1000)]
            first_screen(browser, deployment, channel)  # warm the servers (not the browser: each run is a new context)
            screens = [first_screen(browser, deployment, channel) for _ in range(args.runs)]
            renders = [render_1000(browser, deployment, channel, version) for _ in range(args.runs)]
            bares = [bare(browser, baseline.url, texts) for _ in range(args.runs)]
            long = seed_long(deployment)
            scrolls = [scroll_20000(browser, deployment, long, version) for _ in range(3)]
    finally:
        infra.postgres.stop()
        infra.redis.stop()
    med = lambda xs: statistics.median(xs)  # noqa: E731
    weight = WebFiles().weight()
    shown = screens[0]
    print(f"\nweb client, {args.runs} runs each (median; min-max), {os.cpu_count()} cpus, "
          f"loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"first screen: {int(shown['sidebar'])} conversations in the sidebar, {int(shown['shown'])} messages, "
          f"composer focused: {bool(shown['focused'])}")

    def row(label: str, ours: list[float], base_: list[float] | None, unit: str = "ms") -> None:
        line = f"  {label:<44} {med(ours):8.1f} {unit} ({min(ours):.1f}-{max(ours):.1f})"
        if base_ is not None:
            line += f"   bare page {med(base_):7.1f} {unit}   ratio {med(ours) / max(med(base_), 0.01):6.1f}x"
        print(line)

    row("page load to the sign-in form", [s["load"] for s in screens], [b["load"] for b in bares])
    row("sign-in submitted to first screen interactive", [s["tti"] for s in screens], None)
    row("  of which /v1/auth/signin (argon2 check)", [s["signin"] for s in screens], None)
    row("  of which token to first screen (TTI)", [s["after"] for s in screens], None)
    row("page load + sign-in + first screen (no typing)", [s["load"] + s["tti"] for s in screens],
        [b["load"] for b in bares])
    row("render 1,000 history messages", renders, [b["render"] for b in bares])
    print(f"  page weight JS+CSS: brotli {weight['br'] / 1024:.1f} KB, gzip {weight['gzip'] / 1024:.1f} KB, "
          f"raw {weight['raw'] / 1024:.1f} KB (goal < 200 KB compressed)")
    row("bytes received for page + assets", [s["transferred"] / 1024 for s in screens],
        [b["transferred"] / 1024 for b in bares], unit="KB")
    row("scroll to the top of 20,000 messages (3 runs)", [x["total"] for x in scrolls], None)
    row("  its 100 history pages fetched, no rendering", [x["floor"] for x in scrolls], None)
    row("  slowest frame while scrolling", [x["slowest"] for x in scrolls], None)
    print(f"  most message rows in the DOM: {max(x['most'] for x in scrolls):.0f} "
          f"(of {min(x['loaded'] for x in scrolls):.0f} loaded)")
    print("goal: first screen interactive < 1,000 ms for a person in 500 conversations")


if __name__ == "__main__":
    main()
