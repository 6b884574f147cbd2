// The side panel (thread, search results, pins), dialogs (channel browser, people, preferences),
// toasts and browser notifications.
import { h, clear } from './dom.js';
import { call, ApiError } from './api.js';
import { S, userName, convName, channelName, openConversation, messageEl, send, joined, renderSidebar } from './app.js';
import { Composer } from './composer.js';
import { render } from './mrkdwn.js';
import { fileNode } from './messages.js';

let thread = null; // { channel, ts, messages: [], byTs: Map }

function side(title, ...content) {
  const el = clear(S.els.side);
  el.hidden = false;
  document.body.classList.add('side-open');
  const closeButton = h('button', { class: 'icon', 'aria-label': `Close ${title}`, onclick: closeSide }, '×');
  el.append(h('div', { class: 'side-header' }, h('h2', null, title), closeButton), ...content);
  return el;
}

export function closeSide() {
  S.els.side.hidden = true;
  document.body.classList.remove('side-open');
  thread = null;
  S.els.composer.focus();
}

document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && S.els.side && !S.els.side.hidden && !document.querySelector('.picker, dialog[open]')) closeSide(); });

// --- threads -------------------------------------------------------------------------------------

export async function thread_(channel, ts) {
  const got = await call('conversations.replies', { channel, ts, limit: 1000 });
  thread = { channel, ts, messages: got.messages, byTs: new Map(got.messages.map((m) => [m.ts, m])) };
  const also = h('input', { type: 'checkbox', id: 'also-send' });
  const composer = new Composer({ id: 'thread-composer', label: () => 'Reply…',
    onSend: (text, files) => send(channel, text, files, ts, also.checked),
    onTyping: () => S.rtm?.send({ type: 'typing', channel }),
    extra: h('label', { class: 'also', for: 'also-send' }, also, ` Also send to ${prefixed(channel)}`) });
  composer.setLabel();
  const list = h('div', { class: 'thread-list', id: 'thread-list', role: 'log', 'aria-label': 'Thread' });
  side('Thread', h('div', { class: 'thread-where' }, prefixed(channel)), list, composer.el);
  thread.list = list;
  thread.composer = composer;
  paintThread();
  composer.focus();
}
export { thread_ as thread };

const prefixed = (channel) => { const c = S.convs.get(channel); return c && !c.is_im && !c.is_mpim ? `#${convName(c)}` : convName(c); };

function paintThread() {
  if (!thread) return;
  clear(thread.list);
  const sorted = [...thread.byTs.values()].sort((a, b) => (a.ts < b.ts ? -1 : 1));
  let prev = null;
  for (const m of sorted) {
    const el = messageEl(thread.channel, m, prev);
    el.querySelector('.act.reply')?.remove();
    el.querySelector('.thread-summary')?.remove();
    thread.list.append(el);
    prev = m;
  }
  for (const p of S.pending.values()) {
    if (p.thread_ts === thread.ts) thread.list.append(h('article', { class: 'msg pending', dataset: { pending: p.id } }, h('div', { class: 'body' }, render(p.text, ctxOf()))));
  }
  thread.list.scrollTop = thread.list.scrollHeight;
  markThread();
}

// A thread in view is read up to its newest reply (subscriptions.thread.mark; the server tells the
// person's other tabs and devices with thread_marked). Not following it: nothing to mark.
function markThread() {
  if (!thread || document.visibilityState !== 'visible') return;
  const newest = [...thread.byTs.keys()].sort().pop();
  if (!newest || newest === thread.ts || thread.marked === newest) return;
  thread.marked = newest;
  call('subscriptions.thread.mark', { channel: thread.channel, thread_ts: thread.ts, ts: newest }, { retries: 1 }).catch(() => {});
}

const ctxOf = () => ({ userName, channelName, onChannel: openConversation });

export function refreshThread(reload = false) {
  if (!thread) return;
  if (reload) thread_(thread.channel, thread.ts); else paintThread();
}

export function threadMessage(channel, m) {
  if (!thread || thread.channel !== channel || (m.thread_ts !== thread.ts && m.ts !== thread.ts)) return;
  thread.byTs.set(m.ts, { ...(thread.byTs.get(m.ts) || {}), ...m });
  paintThread();
}

export function threadChanged(channel, m) {
  if (!thread || thread.channel !== channel || !thread.byTs.has(m.ts)) return;
  thread.byTs.set(m.ts, { ...thread.byTs.get(m.ts), ...m });
  paintThread();
}

export function threadRemoved(channel, ts) {
  if (!thread || thread.channel !== channel) return;
  if (thread.byTs.delete(ts)) paintThread();
}

export const threadFind = (channel, ts) => (thread && thread.channel === channel ? thread.byTs.get(ts) : undefined);

// --- search --------------------------------------------------------------------------------------

export async function search(query) {
  if (!query.trim()) return;
  const results = h('ol', { class: 'results', id: 'search-results', 'aria-label': 'Search results' });
  side(`Search: ${query}`, results);
  let got;
  try { got = await call('search.all', { query, count: 40, highlight: false }); } catch (err) {
    results.append(h('li', { class: 'error' }, err.code === 'invalid_query' || err.code === 'invalid_arguments' ? 'That search is not valid.' : `Search failed: ${err.code}`));
    return;
  }
  const messages = got.messages?.matches || [];
  const files = got.files?.matches || [];
  if (!messages.length && !files.length) results.append(h('li', { class: 'empty' }, 'Nothing found.'));
  for (const m of messages) {
    const channel = m.channel?.id || m.channel;
    results.append(h('li', null, h('button', { class: 'result', dataset: { ts: m.ts, channel },
      onclick: () => openConversation(channel, { around: m.ts }) },
    h('div', { class: 'meta' }, h('span', { class: 'author' }, userName(m.user)), ' in ', h('span', null, `#${m.channel?.name || channelName(channel)}`)),
    h('div', { class: 'body' }, render(m.text || '', ctxOf())))));
  }
  for (const f of files) results.append(h('li', null, fileNode(f)));
  results.querySelector('button')?.focus();
}

// --- pins ----------------------------------------------------------------------------------------

export async function pins(channel) {
  const list = h('ol', { class: 'results', id: 'pins-list' });
  side(`Pinned in ${prefixed(channel)}`, list);
  const got = await call('pins.list', { channel });
  if (!got.items.length) list.append(h('li', { class: 'empty' }, 'Nothing is pinned here yet.'));
  for (const item of got.items) {
    const m = item.message;
    if (!m) continue;
    list.append(h('li', null, h('button', { class: 'result', onclick: () => openConversation(channel, { around: m.ts }) },
      h('div', { class: 'meta' }, h('span', { class: 'author' }, userName(m.user))), h('div', { class: 'body' }, render(m.text || '', ctxOf())))));
  }
}

// --- members: a virtualised list (only the rows in view exist), fine for 10,000 people --------------

const ROW = 34;

export async function members(channel) {
  const filter = h('input', { type: 'search', 'aria-label': 'Find a member', placeholder: 'Find a member', class: 'member-filter' });
  const count = h('div', { class: 'hint', id: 'members-count', role: 'status' }, 'Loading…');
  const spacer = h('div', { class: 'spacer-rows' });
  const list = h('div', { class: 'members', id: 'members-list', role: 'list', 'aria-label': 'Members', tabindex: '0' }, spacer);
  side(`Members of ${prefixed(channel)}`, filter, count, list);
  const ids = [];
  let cursor;
  do {
    const page = await call('conversations.members', { channel, limit: 1000, cursor });
    ids.push(...page.members);
    cursor = page.response_metadata?.next_cursor;
  } while (cursor);
  const everyone = ids.map((id) => ({ id, name: userName(id), handle: S.users.get(id)?.name || '' }))
    .sort((a, b) => a.name.localeCompare(b.name));
  let shown = everyone;
  const paint = () => {
    spacer.style.height = `${shown.length * ROW}px`;
    const first = Math.max(0, Math.floor(list.scrollTop / ROW) - 10);
    const last = Math.min(shown.length, first + Math.ceil((list.clientHeight || 600) / ROW) + 20);
    const rows = [];
    for (let i = first; i < last; i++) {
      const m = shown[i];
      const row = h('div', { class: 'member', role: 'listitem', dataset: { user: m.id } },
        h('span', { class: `presence ${S.presence.get(m.id) === 'active' ? 'on' : 'off'}`, dataset: { user: m.id }, role: 'img',
          'aria-label': S.presence.get(m.id) === 'active' ? 'online' : 'offline' }),
        h('span', { class: 'name' }, m.name), h('span', { class: 'hint' }, m.handle && m.handle !== m.name ? ` @${m.handle}` : ''));
      row.style.top = `${i * ROW}px`;
      rows.push(row);
    }
    spacer.replaceChildren(...rows);
  };
  filter.addEventListener('input', () => {
    const q = filter.value.toLowerCase();
    shown = q ? everyone.filter((m) => m.name.toLowerCase().includes(q) || m.handle.toLowerCase().includes(q)) : everyone;
    list.scrollTop = 0;
    count.textContent = `${shown.length.toLocaleString()} of ${everyone.length.toLocaleString()} members`;
    paint();
  });
  let queued = false;
  list.addEventListener('scroll', () => { if (!queued) { queued = true; requestAnimationFrame(() => { queued = false; paint(); }); } }, { passive: true });
  count.textContent = `${everyone.length.toLocaleString()} members`;
  paint();
}

// --- dialogs -------------------------------------------------------------------------------------

function dialog(title, ...content) {
  const d = h('dialog', { class: 'dialog', 'aria-label': title },
    h('div', { class: 'side-header' }, h('h2', null, title), h('button', { class: 'icon', 'aria-label': 'Close', onclick: () => d.close() }, '×')), ...content);
  d.addEventListener('close', () => { d.remove(); S.els.composer?.focus(); });
  document.body.append(d);
  d.showModal();
  return d;
}

export async function browser() {
  const filter = h('input', { type: 'search', 'aria-label': 'Filter channels', placeholder: 'Filter channels' });
  const list = h('ul', { class: 'browse', id: 'browse-list' });
  const name = h('input', { id: 'new-channel-name', required: true, pattern: '[a-z0-9_-]{1,80}', 'aria-describedby': 'new-channel-hint' });
  const isPrivate = h('input', { type: 'checkbox', id: 'new-channel-private' });
  const problem = h('p', { class: 'error', role: 'alert' });
  const d = dialog('Channels', filter, list,
    h('form', { class: 'create', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const got = await call('conversations.create', { name: name.value.trim(), is_private: isPrivate.checked });
        d.close();
        await joined(got.channel.id);
      } catch (err) { problem.textContent = err.code === 'name_taken' ? 'A channel with that name exists.' : `Could not create it: ${err.code}`; }
    } },
    h('h3', null, 'Create a channel'),
    h('label', { for: 'new-channel-name' }, 'Name'), name,
    h('span', { id: 'new-channel-hint', class: 'hint' }, 'Lower-case letters, digits, - and _'),
    h('label', { class: 'check', for: 'new-channel-private' }, isPrivate, ' Private'), problem,
    h('button', { type: 'submit', class: 'primary' }, 'Create')));
  const all = [];
  let cursor;
  do {
    const page = await call('conversations.list', { types: 'public_channel', exclude_archived: true, limit: 1000, cursor });
    all.push(...page.channels);
    cursor = page.response_metadata?.next_cursor;
  } while (cursor);
  const fill = () => {
    clear(list);
    for (const c of all.filter((x) => x.name.includes(filter.value.toLowerCase())).slice(0, 200)) {
      const member = S.convs.get(c.id)?.is_member;
      list.append(h('li', null, h('span', { class: 'name' }, `#${c.name}`), h('span', { class: 'hint' }, ` ${c.purpose?.value || ''}`),
        h('button', { class: 'small', dataset: { id: c.id }, onclick: async () => {
          if (!member) { try { await call('conversations.join', { channel: c.id }); } catch (err) { problem.textContent = `Could not join: ${err.code}`; return; } }
          d.close();
          await joined(c.id);
        } }, member ? 'Open' : 'Join')));
    }
  };
  filter.addEventListener('input', fill);
  fill();
  filter.focus();
}

export function people() {
  const filter = h('input', { type: 'search', 'aria-label': 'Find a person', placeholder: 'Find a person' });
  const list = h('ul', { class: 'browse' });
  const d = dialog('New message', filter, list);
  const fill = () => {
    clear(list);
    const q = filter.value.toLowerCase();
    for (const u of [...S.users.values()].filter((x) => !x.deleted && !x.is_bot && (x.name.includes(q) || (x.real_name || '').toLowerCase().includes(q))).slice(0, 100)) {
      list.append(h('li', null, h('span', { class: 'name' }, userName(u.id)), h('span', { class: 'hint' }, ` @${u.name}`),
        h('button', { class: 'small', onclick: async () => {
          const got = await call('conversations.open', { users: u.id });
          d.close();
          await joined(got.channel.id);
        } }, 'Message')));
    }
  };
  filter.addEventListener('input', fill);
  fill();
  filter.focus();
}

// Preferences: browser notifications (the permission is the browser's), when to be notified and
// do-not-disturb (the server's: users.prefs.*, dnd.*; it decides what notifies, the page shows it).
export async function preferences() {
  const perm = typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
  const notifButton = h('button', { id: 'enable-notifications', disabled: perm !== 'default', onclick: async () => {
    const got = await Notification.requestPermission();
    notifButton.textContent = got === 'granted' ? 'Browser notifications on' : 'Browser notifications blocked';
    notifButton.disabled = true;
  } }, perm === 'granted' ? 'Browser notifications on' : perm === 'denied' ? 'Browser notifications blocked (browser settings)' : 'Enable browser notifications');
  const prefsBox = h('div', { id: 'prefs-section' });
  const dnd = h('div', { class: 'dnd', id: 'dnd-section' });
  const problem = h('p', { class: 'error', role: 'alert' });
  dialog('Preferences', h('section', null, h('h3', null, 'Browser'), notifButton), prefsBox, dnd, problem);
  const [prefs, info] = await Promise.all([call('users.prefs.get', {}, { retries: 1 }).catch(() => null),
    call('dnd.info', {}, { retries: 1 }).catch(() => null)]);
  if (prefs) {
    const level = h('select', { id: 'notify-level' }, [['all', 'All new messages'], ['mentions', 'Direct messages, mentions and keywords'], ['nothing', 'Nothing']]
      .map(([v, label]) => h('option', { value: v, selected: prefs.prefs.notify_level === v }, label)));
    const words = h('input', { id: 'highlight-words', value: prefs.prefs.highlight_words || '', placeholder: 'deploy, outage' });
    const saved = h('span', { class: 'hint', role: 'status' });
    const save = async (name, value) => {
      try { await call('users.prefs.set', { name, value }); saved.textContent = 'Saved'; problem.textContent = ''; } catch (err) { problem.textContent = `Not saved: ${err.code}`; }
    };
    level.addEventListener('change', () => save('notify_level', level.value));
    words.addEventListener('change', () => save('highlight_words', words.value));
    prefsBox.append(h('h3', null, 'Notify me about'), h('label', { for: 'notify-level', class: 'visually-hidden' }, 'Notify me about'), level,
      h('label', { for: 'highlight-words' }, 'My keywords (comma-separated)'), words, saved);
  }
  if (info) {
    const state = h('p', { id: 'dnd-state', role: 'status' });
    const show = (d) => { state.textContent = d.snooze_enabled ? `Paused until ${new Date(d.snooze_endtime * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}` : 'Notifications are on'; setDnd(d); };
    show(info);
    const minutes = h('select', { id: 'dnd-minutes', 'aria-label': 'Pause notifications for' },
      [20, 60, 120, 240, 480].map((m) => h('option', { value: m }, m < 60 ? `${m} minutes` : `${m / 60} hours`)));
    dnd.append(h('h3', null, 'Do not disturb'), state, minutes,
      h('button', { id: 'dnd-snooze', onclick: async () => { try { show(await call('dnd.setSnooze', { num_minutes: Number(minutes.value) })); } catch (err) { problem.textContent = `Not paused: ${err.code}`; } } }, 'Pause'),
      h('button', { id: 'dnd-end', onclick: async () => { try { await call('dnd.endSnooze', {}); show({ snooze_enabled: false }); } catch (err) { if (err.code === 'snooze_not_active') show({ snooze_enabled: false }); else problem.textContent = `Failed: ${err.code}`; } } }, 'Resume'));
  }
}

// The top bar's "notifications paused" mark, from dnd.info and dnd_updated.
export function setDnd(d) {
  S.dnd = d;
  const el = document.getElementById('dnd-indicator');
  if (el) { el.hidden = !d.snooze_enabled; el.title = d.snooze_enabled ? 'Notifications paused' : ''; }
}

// --- toasts, status, notifications ---------------------------------------------------------------

export function toast(text) {
  const t = h('div', { class: 'toast', role: 'alert' }, text);
  document.body.append(t);
  setTimeout(() => t.remove(), 5000);
}

export async function withStatus(text, fn) {
  const t = h('div', { class: 'toast', role: 'status' }, text);
  document.body.append(t);
  try { return await fn(); } catch (err) { toast(`Failed: ${err.code || err.message}`); return null; } finally { t.remove(); }
}

// The server decided (desktop_notification); the browser shows it when the page is not in front.
export function notify(e) {
  S.lastNotification = e;
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
  if (document.visibilityState === 'visible' && e.channel === S.current) return;
  const n = new Notification(e.subtitle ? `${e.subtitle} · ${e.title || ''}` : e.title || 'Cellchat', {
    body: e.content || '', tag: `${e.channel}:${e.msg || ''}`, silent: !!e.is_silent });
  n.onclick = () => { window.focus(); openConversation(e.channel, e.msg ? { around: e.msg } : {}); n.close(); };
}

export { renderSidebar };
