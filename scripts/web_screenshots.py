"""Screenshots of the web client for docs/ and the README: desktop light and dark, phone width.

    .venv/bin/python scripts/web_screenshots.py        # writes docs/web-light.png, web-dark.png, web-phone.png

A real deployment (control plane, one cell, the router), a small team's conversation seeded
through the API, Debian's Chromium through Playwright (as the tests run it).
"""

from __future__ import annotations

import io
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image
from playwright.sync_api import expect

from tests.support import infra as infra_mod
from tests.support import moves
from tests.support.web import WebDeployment, chromium, person, sign_in, web_deployment

DOCS = Path(__file__).resolve().parent.parent / "docs"


def seed(d: WebDeployment) -> str:
    alice, bob, carol = d.slack("alice"), d.slack("bob"), d.slack("carol")
    general = d.workspace.general
    design = alice.conversations_create(name="design")["channel"]["id"]
    alice.conversations_create(name="release-planning", is_private=True)
    for name in ("random", "ops", "support"):
        alice.conversations_create(name=name)
    for who in (bob, carol):
        who.conversations_join(channel=design)
    alice.conversations_setTopic(channel=design, topic="The new sidebar, and what ships in December")
    bob.conversations_open(users=d.people["alice"].id)
    bob.chat_postMessage(channel=design, text="Morning! The mock-ups for the *new sidebar* are in :tada:")
    carol.chat_postMessage(channel=design, text="Looks great. Two notes:\n> unread badges should be bold\n"
                                                 "and the `#channel` links need more contrast")
    first = alice.chat_postMessage(channel=design, text=f"Agreed with <@{d.people['carol'].id}>. "
                                                        "Spec: <https://example.com/spec|sidebar spec v2>")["ts"]
    bob.chat_postMessage(channel=design, thread_ts=first, text="I'll update the spec today")
    carol.chat_postMessage(channel=design, thread_ts=first, text="thanks!")
    alice.reactions_add(channel=design, timestamp=first, name="+1")
    bob.reactions_add(channel=design, timestamp=first, name="+1")
    carol.reactions_add(channel=design, timestamp=first, name="eyes")
    png = io.BytesIO()
    image = Image.new("RGB", (480, 270), (74, 21, 75))
    for x in range(0, 480, 40):
        for y in range(0, 270, 30):
            image.putpixel((x, y), (255, 255, 255))
    image.save(png, "PNG")
    bob.files_upload_v2(channel=design, content=png.getvalue(), filename="sidebar-mockup.png",
                        title="sidebar-mockup.png", initial_comment="The mock-up:")
    carol.chat_postMessage(channel=design, text="```\nbadge: bold when unread > 0\nmention: red pill\n```")
    bob.chat_postMessage(channel=general, text="Release train leaves Thursday :rocket:")
    return str(design)


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="cellchat-shots-"))
    infra = infra_mod.start(base)
    try:
        with ExitStack() as stack:
            servers = stack.enter_context(moves.servers(1))
            caches = [stack.enter_context(moves.redis_server())]
            d = stack.enter_context(web_deployment(infra, servers, caches, movable=False))
            design = seed(d)
            browser = stack.enter_context(chromium())
            for name, options in (("light", {"viewport": {"width": 1280, "height": 760}, "color_scheme": "light"}),
                                  ("dark", {"viewport": {"width": 1280, "height": 760}, "color_scheme": "dark"}),
                                  ("phone", {"viewport": {"width": 390, "height": 780}, "color_scheme": "light",
                                             "device_scale_factor": 2, "is_mobile": True, "has_touch": True})):
                page = person(browser, **options).new_page()
                sign_in(page, d, "alice")
                if name == "phone":
                    page.click(".topbar .menu")
                    page.click(f".sidebar a.conv[data-id={design}]")
                else:
                    page.click(f".sidebar a.conv[data-id={design}]")
                expect(page.locator("#history img.thumb")).to_have_count(1)
                page.wait_for_function("el => el.complete && el.naturalWidth > 0",
                                       arg=page.locator("#history img.thumb").element_handle())
                if name == "light":
                    root = page.locator("#history article.msg", has_text="Agreed with")
                    root.locator(".thread-summary").click()
                    expect(page.locator("#thread-list article.msg")).to_have_count(3)
                    page.fill("#composer-input", "Sounds good, @bo")
                    page.keyboard.press("End")
                    page.keyboard.type("b")
                page.wait_for_timeout(300)
                page.screenshot(path=str(DOCS / f"web-{name}.png"))
                print(f"wrote docs/web-{name}.png")
                page.context.close()
    finally:
        infra.postgres.stop()
        infra.redis.stop()


if __name__ == "__main__":
    main()
