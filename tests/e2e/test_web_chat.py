"""Two people chat live in the web client, each in their own Chromium context, through the router:
message, thread reply, reaction, edit, delete, image upload, search and jump, unread badge, typing,
presence, a send typed offline, and a live move of their workspace in the middle of it all."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from cell.domain.ts import parse_ts
from cell.embedded import EmbeddedRedis
from tests.support.infra import Infra
from tests.support.moves import Server
from tests.support.web import (
    WebDeployment,
    chromium,
    hook_errors,
    open_signed_in,
    person,
    sign_in,
    web_deployment,
)


@dataclass
class Chat:
    deployment: WebDeployment
    browser: Browser
    alice: Page
    bob: Page
    errors: list[str]


@pytest.fixture(scope="module")
def chat(infra: Infra, move_servers: list[Server], move_caches: list[EmbeddedRedis]) -> Iterator[Chat]:
    with web_deployment(infra, move_servers, move_caches[2:]) as deployment, chromium() as browser:
        alice = person(browser, viewport={"width": 1200, "height": 800}).new_page()
        bob = person(browser, viewport={"width": 1200, "height": 800}).new_page()
        errors: list[str] = []
        hook_errors(alice, errors)
        hook_errors(bob, errors)
        sign_in(alice, deployment, "alice")
        sign_in(bob, deployment, "bob")
        yield Chat(deployment, browser, alice, bob, errors)


def message(page: Page, text: str) -> object:
    return page.locator("#history article.msg", has_text=text)


def say(page: Page, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def test_a_message_reaches_the_other_screen(chat: Chat) -> None:
    """Alice presses Enter; the message is on Bob's screen, live, once, with its mrkdwn rendered."""
    say(chat.alice, "hello *bob*, this is _live_")
    expect(message(chat.bob, "hello bob, this is live")).to_have_count(1)
    expect(message(chat.bob, "hello bob").locator("strong")).to_have_text("bob")
    expect(message(chat.alice, "hello bob")).not_to_have_class(re.compile("pending"))


def test_shift_enter_makes_a_new_line(chat: Chat) -> None:
    """Shift+Enter adds a line to the message being written instead of sending it."""
    chat.alice.fill("#composer-input", "first line")
    chat.alice.press("#composer-input", "Shift+Enter")
    chat.alice.type("#composer-input", "second line")
    chat.alice.press("#composer-input", "Enter")
    expect(message(chat.bob, "first line").locator("br")).to_have_count(1)


def test_a_thread_reply_also_sent_to_the_channel(chat: Chat) -> None:
    """Bob replies in the side panel with "also send to channel": Alice sees the reply count and the reply."""
    say(chat.alice, "thread starter")
    root = message(chat.bob, "thread starter")
    root.hover()
    root.locator(".act.reply").click()
    chat.bob.wait_for_selector("#thread-composer-input")
    chat.bob.check("#also-send")
    chat.bob.fill("#thread-composer-input", "a reply for everyone")
    chat.bob.press("#thread-composer-input", "Enter")
    expect(message(chat.alice, "thread starter").locator(".thread-summary")).to_have_text("1 reply")
    expect(message(chat.alice, "a reply for everyone")).to_have_count(1)
    expect(chat.bob.locator("#thread-list article.msg", has_text="a reply for everyone")).to_have_count(1)
    chat.bob.click("#side .side-header button")


def test_viewing_a_thread_marks_it_read(chat: Chat) -> None:
    """Bob follows the thread he replied in; Alice's next reply is unread for him (client.counts)
    until he opens the thread in the page."""
    alice, bob = chat.deployment.slack("alice"), chat.deployment.slack("bob")
    general = chat.deployment.workspace.general
    root = next(m for m in alice.conversations_history(channel=general, limit=50)["messages"]
                if m["text"] == "thread starter")
    alice.chat_postMessage(channel=general, thread_ts=root["ts"], text="one more in the thread")

    def unread() -> int:
        threads = bob.api_call("client.counts")["threads"]["threads"]
        return sum(t["unread_count"] for t in threads if t["thread_ts"] == root["ts"])

    before = unread()
    target = message(chat.bob, "thread starter")
    expect(target.locator(".thread-summary")).to_have_text("2 replies")
    target.locator(".thread-summary").click()
    expect(chat.bob.locator("#thread-list article.msg", has_text="one more in the thread")).to_have_count(1)
    chat.bob.wait_for_function("() => !document.querySelector('#side').hidden")
    for _ in range(50):
        if unread() == 0:
            break
        chat.bob.wait_for_timeout(100)
    assert (1, 0) == (before, unread())
    chat.bob.click("#side .side-header button")


def test_a_reaction_from_the_picker(chat: Chat) -> None:
    """Bob picks :tada: from the emoji picker; Alice sees the reaction with its count."""
    say(chat.alice, "react to this")
    target = message(chat.bob, "react to this")
    target.hover()
    target.locator(".act.react").click()
    chat.bob.fill(".picker-filter", "tada")
    chat.bob.click(".picker .emoji-choice[data-name=tada]")
    expect(message(chat.alice, "react to this").locator(".reaction[data-name=tada]")).to_contain_text("1")


def test_arrow_up_edits_the_last_message(chat: Chat) -> None:
    """↑ in an empty composer edits Alice's last message; Bob sees the new text, marked edited."""
    say(chat.alice, "with a tpyo")
    expect(message(chat.bob, "with a tpyo")).to_have_count(1)
    chat.alice.press("#composer-input", "ArrowUp")
    chat.alice.fill("textarea.edit", "with no typo")
    chat.alice.press("textarea.edit", "Enter")
    expect(message(chat.bob, "with no typo").locator(".edited")).to_have_count(1)
    expect(message(chat.bob, "with a tpyo")).to_have_count(0)


def test_delete_own_message(chat: Chat) -> None:
    """Alice deletes her message; it disappears from Bob's screen."""
    say(chat.alice, "soon to be gone")
    expect(message(chat.bob, "soon to be gone")).to_have_count(1)
    chat.alice.once("dialog", lambda dialog: dialog.accept())
    doomed = message(chat.alice, "soon to be gone")
    doomed.hover()
    doomed.locator(".act.delete").click()
    expect(message(chat.bob, "soon to be gone")).to_have_count(0)
    expect(message(chat.alice, "soon to be gone")).to_have_count(0)


def test_an_uploaded_image_is_previewed_on_both_screens(chat: Chat) -> None:
    """Alice attaches a PNG (previewed before sending) and sends it; Bob's screen shows the image."""
    png = io.BytesIO()
    Image.new("RGB", (64, 40), (200, 30, 90)).save(png, "PNG")
    chat.alice.set_input_files("#composer input[type=file]", files=[
        {"name": "red.png", "mimeType": "image/png", "buffer": png.getvalue()}])
    expect(chat.alice.locator("#composer .chip img.preview")).to_have_count(1)
    chat.alice.fill("#composer-input", "a red picture")
    chat.alice.press("#composer-input", "Enter")
    shown = message(chat.bob, "a red picture").locator("img.thumb")
    expect(shown).to_have_count(1)
    chat.bob.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=shown.element_handle())


def test_search_and_jump_to_the_message(chat: Chat) -> None:
    """Bob searches for a word with an operator; clicking the result shows the message highlighted."""
    say(chat.alice, "the password for the wifi is zucchini")
    expect(message(chat.bob, "zucchini")).to_have_count(1)
    chat.bob.fill("#search", "zucchini from:@owner")
    chat.bob.press("#search", "Enter")
    result = chat.bob.locator("#search-results button.result", has_text="zucchini")
    expect(result).to_have_count(1)
    result.click()
    expect(message(chat.bob, "zucchini")).to_have_class(re.compile("highlight"))


def test_unread_badge_appears_and_clears_on_read_in_every_tab(chat: Chat) -> None:
    """A message in another channel gives Bob an unread badge, in his second tab too; reading it in one
    tab clears it in both (conversations.mark, channel_marked)."""
    alice = chat.deployment.slack("alice")
    random = alice.conversations_create(name="random")["channel"]["id"]
    chat.deployment.slack("bob").conversations_join(channel=random)
    second = chat.bob.context.new_page()
    open_signed_in(second, chat.deployment)
    for page in (chat.bob, second):
        expect(page.locator(f".sidebar a.conv[data-id={random}]")).to_have_count(1)
    second.click(f".sidebar a.conv[data-id={chat.deployment.workspace.general}]")
    alice.chat_postMessage(channel=random, text="news in random")
    for page in (chat.bob, second):
        expect(page.locator(f".sidebar a.conv[data-id={random}] .badge")).to_have_text("1")
    chat.bob.click(f".sidebar a.conv[data-id={random}]")
    expect(message(chat.bob, "news in random")).to_have_count(1)
    for page in (chat.bob, second):
        expect(page.locator(f".sidebar a.conv[data-id={random}] .badge")).to_have_count(0)
    second.close()
    chat.bob.click(f".sidebar a.conv[data-id={chat.deployment.workspace.general}]")


def test_typing_indicator(chat: Chat) -> None:
    """While Alice types, Bob sees "owner is typing…"."""
    chat.alice.type("#composer-input", "I am typ")
    expect(chat.bob.locator("#typing")).to_have_text("owner is typing…")
    chat.alice.fill("#composer-input", "")


def test_presence_dot(chat: Chat) -> None:
    """Alice is online: the dot beside her name on Bob's screen is lit."""
    alice_id = chat.deployment.people["alice"].id
    expect(chat.bob.locator(f"#history .presence[data-user={alice_id}]").first).to_have_class(re.compile(r"\bon\b"))


def test_a_message_typed_offline_is_sent_once_back_online(chat: Chat) -> None:
    """Alice's browser goes offline; what she sends shows as pending, and arrives once when she is back."""
    chat.alice.context.set_offline(True)
    say(chat.alice, "written on the train")
    expect(message(chat.alice, "written on the train")).to_have_class(re.compile("pending"))
    chat.alice.context.set_offline(False)
    chat.alice.evaluate("window.dispatchEvent(new Event('online'))")
    expect(message(chat.bob, "written on the train")).to_have_count(1)
    expect(message(chat.alice, "written on the train")).not_to_have_class(re.compile("pending"))
    found = [m for m in chat.deployment.slack("bob").conversations_history(
        channel=chat.deployment.workspace.general, limit=100)["messages"] if m["text"] == "written on the train"]
    assert 1 == len(found)


RECORD_NOTIFICATIONS = """() => {
  // The browser's own Notification, observed: each one the page shows is also recorded.
  const Real = window.Notification;
  window.__notes = [];
  window.Notification = class extends Real {
    constructor(title, options) { super(title, options); window.__notes.push({ title, body: options.body }); }
  };
}"""


def _decided(chat: Chat, user: str, ts: str) -> None:
    """Wait until the notifications worker has decided ``user``'s notification of the message at
    ``ts`` (its row exists, on whichever cell holds the workspace now)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if any(cell.query("SELECT 1 FROM notifications WHERE user_id = %(u)s AND ts = %(ts)s",
                          {"u": user, "ts": parse_ts(ts)}) for cell in chat.deployment.stack.cells.values()):
            return
        time.sleep(0.05)
    raise AssertionError(f"no notification of {ts} for {user} was decided")


def _notes(page: Page) -> list[dict[str, str]]:
    notes: list[dict[str, str]] = page.evaluate("window.__notes")
    return notes


def test_browser_notifications_follow_the_servers_decision(chat: Chat) -> None:
    """A mention of Bob in a conversation he is not looking at: the server's desktop_notification
    becomes a browser notification naming the author and the text."""
    chat.bob.context.grant_permissions(["notifications"], origin=chat.deployment.url)
    chat.bob.evaluate(RECORD_NOTIFICATIONS)
    alice = chat.deployment.slack("alice")
    random = next(c["id"] for c in alice.conversations_list()["channels"] if c["name"] == "random")
    bob = chat.deployment.people["bob"].id
    alice.chat_postMessage(channel=random, text=f"<@{bob}> the build is green")
    chat.bob.wait_for_function("() => window.__notes.length > 0")
    note = _notes(chat.bob)[0]
    assert (True, True) == ("the build is green" in note["body"], "owner" in note["body"])


def test_do_not_disturb_from_the_preferences(chat: Chat) -> None:
    """Bob pauses notifications in Preferences (dnd.setSnooze): a mention meanwhile shows none;
    after Resume the next mention does."""
    chat.bob.click("#prefs-button")
    chat.bob.select_option("#dnd-minutes", "20")
    chat.bob.click("#dnd-snooze")
    expect(chat.bob.locator("#dnd-state")).to_contain_text("Paused until")
    expect(chat.bob.locator("#dnd-indicator")).to_be_visible()
    chat.bob.evaluate("() => { window.__notes = []; }")
    alice = chat.deployment.slack("alice")
    random = next(c["id"] for c in alice.conversations_list()["channels"] if c["name"] == "random")
    bob = chat.deployment.people["bob"].id
    quiet = alice.chat_postMessage(channel=random, text=f"<@{bob}> quiet please")["ts"]
    _decided(chat, bob, quiet)  # decided by the worker during the pause, not after Resume
    chat.bob.click("#dnd-end")
    expect(chat.bob.locator("#dnd-state")).to_have_text("Notifications are on")
    alice.chat_postMessage(channel=random, text=f"<@{bob}> loud again")
    chat.bob.wait_for_function("() => window.__notes.some(n => n.body.includes('loud again'))")
    chat.bob.keyboard.press("Escape")
    assert [] == [n for n in _notes(chat.bob) if "quiet please" in n["body"]]


def test_a_live_move_loses_and_doubles_nothing_on_either_screen(chat: Chat) -> None:
    """The workspace moves to cell us-2 while Alice and Bob keep chatting; both pages reconnect through
    the router to us-2's gateway and show every message exactly once."""
    cp = chat.deployment.stack.control_plane
    sent = []
    move = cp.move(chat.deployment.workspace.id, "us-2")
    for n in range(8):
        text = f"during the move {n}"
        say(chat.alice if n % 2 == 0 else chat.bob, text)
        sent.append(text)
    migration = cp.wait_for(move["id"])
    for n in range(8, 10):
        text = f"during the move {n}"
        say(chat.bob, text)
        sent.append(text)
    assert "done" == migration["status"]
    new_gateway = chat.deployment.stack.cells["us-2"].url.replace("http://", "ws://")
    for page in (chat.alice, chat.bob):
        page.wait_for_function("g => window.cellchat.rtm.ws && window.cellchat.rtm.ws.url.startsWith(g)"
                               " && window.cellchat.rtm.status === 'online'", arg=new_gateway, timeout=30_000)
        for text in sent:
            expect(message(page, text)).to_have_count(1)
    stored = [m["text"] for m in chat.deployment.slack("alice").conversations_history(
        channel=chat.deployment.workspace.general, limit=200)["messages"]]
    assert sorted(sent) == sorted(t for t in stored if t.startswith("during the move"))


def test_no_page_errors(chat: Chat) -> None:
    """Nothing above raised an uncaught error in either page."""
    assert [] == chat.errors
