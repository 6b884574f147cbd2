// Cellchat's web client: sign-in, then the whole app in one page (docs/web.md).
import { h, clear, append, $ } from './dom.js';
import { call, signIn, setToken, hasToken, ApiError, uploadFile, resume, forget } from './api.js';
import { Rtm } from './rtm.js';
import { renderMessage, renderDay, fileNode } from './messages.js';
import { Composer } from './composer.js';
import { openPicker } from './picker.js';
import * as panels from './panels.js';
import { VirtualList } from './virtual.js';

const RECENT = 'cellchat.workspaces'; // workspace ids typed before (no secret), to choose from
const THEME = 'cellchat.theme';
const PAGE = 50;
const OLDER = 200; // messages per page when scrolling up into older history

export const S = {
  me: null, team: null, users: new Map(), convs: new Map(), current: null, views: new Map(),
  typing: new Map(), presence: new Map(), pending: new Map(), thread: null, counts: false,
  rtm: null, els: {}, markTimer: null, prefs: {},
};
window.cellchat = S; // for people debugging in the console (and the tests' read-only checks)

applyTheme(localStorage.getItem(THEME));

function applyTheme(theme) {
  if (theme === 'dark' || theme === 'light') document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

export function dark() {
  const set = document.documentElement.dataset.theme;
  return set ? set === 'dark' : matchMedia('(prefers-color-scheme: dark)').matches;
}

export function toggleTheme() {
  const next = dark() ? 'light' : 'dark';
  localStorage.setItem(THEME, next);
  applyTheme(next);
}

// --- names ---------------------------------------------------------------------------------------

export function userName(id) {
  const u = S.users.get(id);
  return u ? (u.profile?.display_name || u.real_name || u.name || id) : id;
}

export function convName(c) {
  if (!c) return '';
  if (c.is_im) return userName(c.user);
  if (c.is_mpim) {
    const others = (c.members || []).filter((m) => m !== S.me.id).map(userName);
    return others.length ? others.join(', ') : c.name;
  }
  return c.name;
}

export const channelName = (id) => convName(S.convs.get(id)) || id;
export const ctx = { userName, channelName: (id) => channelName(id), onChannel: (id) => openConversation(id) };

// --- sign-in -------------------------------------------------------------------------------------

function recent() {
  try { return JSON.parse(localStorage.getItem(RECENT) || '[]').filter((w) => typeof w === 'string'); } catch { return []; }
}

function showSignIn(message) {
  const root = clear($('#root'));
  const known = recent();
  const error = h('p', { class: 'error', role: 'alert', id: 'signin-error' }, message || '');
  const workspace = h('input', { id: 'workspace', name: 'workspace', required: true, autocomplete: 'organization',
    list: 'known-workspaces', value: known[0] || '', placeholder: 'T…', spellcheck: 'false' });
  const email = h('input', { id: 'email', name: 'email', type: 'email', required: true, autocomplete: 'username' });
  const password = h('input', { id: 'password', name: 'password', type: 'password', required: true,
    autocomplete: 'current-password' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'signin', 'aria-labelledby': 'signin-title', onsubmit: async (e) => {
    e.preventDefault();
    button.disabled = true;
    error.textContent = '';
    try {
      const id = workspace.value.trim().toUpperCase();
      const got = await signIn(id, email.value.trim(), password.value);
      localStorage.setItem(RECENT, JSON.stringify([id, ...known.filter((w) => w !== id)].slice(0, 5)));
      setToken(got.token);
      performance.mark('cellchat-signed-in');
      password.value = '';
      await boot(got.workspace_id || id);
    } catch (err) {
      button.disabled = false;
      const code = err instanceof ApiError ? err.code : 'network_error';
      error.textContent = code === 'ratelimited' || code === 'http_429' || code === 'too_many_attempts'
        ? 'Too many attempts. Wait a minute, then try again.'
        : code === 'network_error' ? 'Cannot reach the server. Check your connection.'
          : 'That did not work: check the workspace, email and password.';
      password.focus();
    }
  } },
  h('h1', { id: 'signin-title' }, 'Sign in to Cellchat'),
  h('label', { for: 'workspace' }, 'Workspace'), workspace,
  h('datalist', { id: 'known-workspaces' }, known.map((w) => h('option', { value: w }))),
  h('label', { for: 'email' }, 'Email'), email,
  h('label', { for: 'password' }, 'Password'), password,
  error, button);
  root.append(h('main', { class: 'signin-page' }, form));
  (known[0] ? email : workspace).focus();
  performance.mark('cellchat-signin');
}

// --- boot ----------------------------------------------------------------------------------------

async function boot(teamId) {
  // Everything the first screen needs, at once: who I am, people, conversations, and the history
  // of the conversation I had open last time (by its remembered id; dropped if I left it).
  const last = localStorage.getItem(`cellchat.last.${teamId}`);
  const early = last ? call('conversations.history', { channel: last, limit: PAGE }, { retries: 1 }).catch(() => null) : null;
  const [auth, users] = await Promise.all([call('auth.test'), loadUsers(), loadConversations()]);
  S.me = { id: auth.user_id, name: auth.user };
  S.team = { id: auth.team_id, name: auth.team };
  users.forEach((u) => S.users.set(u.id, u));
  buildShell();
  renderSidebar();
  const first = S.convs.get(last)?.is_member ? last : [...S.convs.values()].find((c) => c.is_member && c.is_general)?.id
    || [...S.convs.values()].find((c) => c.is_member)?.id;
  if (first) await openConversation(first, { prefetched: first === last ? await early : null });
  document.body.dataset.ready = 'true';
  performance.mark('cellchat-ready'); // the first screen is interactive (bench/web.py reads it)
  S.rtm = new Rtm({ onEvent, onState, onResync });
  S.rtm.start();
  watchPresence();
  setTimeout(loadCounts, 0);
}

async function loadUsers() {
  const all = [];
  let cursor;
  do {
    const page = await call('users.list', { limit: 1000, cursor });
    all.push(...page.members);
    cursor = page.response_metadata?.next_cursor;
  } while (cursor);
  return all;
}

async function loadConversations() {
  let cursor;
  const seen = new Set();
  do {
    const page = await call('conversations.list', { types: 'public_channel,private_channel,mpim,im', limit: 1000,
      exclude_archived: true, cursor });
    for (const c of page.channels) {
      seen.add(c.id);
      const old = S.convs.get(c.id);
      S.convs.set(c.id, { ...c, unread: old?.unread ?? 0, mentions: old?.mentions ?? 0, is_member: c.is_member ?? true });
    }
    cursor = page.response_metadata?.next_cursor;
  } while (cursor);
  for (const id of [...S.convs.keys()]) if (!seen.has(id)) S.convs.delete(id);
}

// Unread badges: the server's counts (client.counts) when it has that call; else each conversation's
// unread count from conversations.info, fetched after the first screen is up. Until a count is known
// no badge is shown (never a guessed one).
async function loadCounts() {
  call('dnd.info', {}, { retries: 1 }).then(panels.setDnd).catch(() => {});
  try {
    const got = await call('client.counts', {}, { retries: 1 });
    S.counts = true;
    for (const item of [...(got.channels || []), ...(got.mpims || []), ...(got.ims || [])]) {
      const c = S.convs.get(item.id);
      if (!c || c.id === S.current) continue;
      c.mentions = item.mention_count || 0;
      c.unread = item.has_unreads ? Math.max(c.unread, 1) : 0;
      c.unread_exact = item.unread_count ?? item.unread_count_display;
      if (c.unread_exact !== undefined) c.unread = c.unread_exact;
    }
    renderSidebar();
    return;
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 'unknown_method') return;
  }
  const members = [...S.convs.values()].filter((c) => c.is_member && c.id !== S.current);
  const work = members.slice();
  const one = async () => {
    while (work.length) {
      const c = work.shift();
      try {
        const got = await call('conversations.info', { channel: c.id }, { retries: 1 });
        if (c.id !== S.current) c.unread = got.channel.unread_count_display ?? 0;
      } catch { /* no badge rather than a wrong one */ }
    }
    renderSidebar();
  };
  await Promise.all([one(), one(), one()]);
}

// --- shell ---------------------------------------------------------------------------------------

function buildShell() {
  const root = clear($('#root'));
  const status = h('div', { class: 'status', role: 'status', 'aria-live': 'polite', id: 'conn-status' });
  const search = h('input', { type: 'search', id: 'search', name: 'q', placeholder: 'Search (from:@name in:#channel has:link before: after:)',
    'aria-label': 'Search messages and files', autocomplete: 'off' });
  const header = h('header', { class: 'topbar' },
    h('button', { class: 'icon menu', 'aria-label': 'Conversations', 'aria-controls': 'sidebar',
      onclick: () => document.body.classList.toggle('sidebar-open') }, '☰'),
    h('span', { class: 'team' }, S.team.name || S.team.id),
    h('form', { class: 'search', role: 'search', onsubmit: (e) => { e.preventDefault(); panels.search(search.value); } }, search),
    status,
    h('span', { id: 'dnd-indicator', class: 'dnd-indicator', hidden: true, role: 'img', 'aria-label': 'Notifications paused' }, '🔕'),
    h('button', { class: 'icon', id: 'theme-toggle', 'aria-label': 'Switch light/dark theme', onclick: toggleTheme }, '◐'),
    h('button', { class: 'icon', id: 'prefs-button', 'aria-label': 'Preferences', onclick: () => panels.preferences() }, '⚙'),
    h('button', { class: 'icon', 'aria-label': 'Sign out', onclick: signOut }, '⎋'));
  const sidebar = h('nav', { class: 'sidebar', id: 'sidebar', 'aria-label': 'Conversations' });
  const title = h('h2', { id: 'conv-title' });
  const topic = h('span', { class: 'topic', id: 'conv-topic' });
  const convHeader = h('div', { class: 'conv-header' }, title, topic,
    h('span', { class: 'spacer' }),
    h('button', { class: 'small', id: 'members-button', onclick: () => panels.members(S.current) }, 'Members'),
    h('button', { class: 'small', id: 'pins-button', onclick: () => panels.pins(S.current) }, 'Pinned'),
    h('button', { class: 'small', id: 'leave-button', onclick: () => leave(S.current) }, 'Leave'));
  const history = h('div', { class: 'history', id: 'history', role: 'log', 'aria-label': 'Messages', tabindex: '0' });
  history.addEventListener('scroll', onScroll, { passive: true });
  S.list = new VirtualList(history, rowEl);
  const jump = h('button', { class: 'jump-latest', id: 'jump-latest', hidden: true, onclick: () => openConversation(S.current, { reload: true }) }, 'Jump to latest ↓');
  const typing = h('div', { class: 'typing', id: 'typing', 'aria-live': 'polite' });
  const composer = new Composer({
    id: 'composer', label: () => `Message ${prefix(S.convs.get(S.current))}${convName(S.convs.get(S.current))}`,
    onSend: (text, files) => send(S.current, text, files),
    onTyping: () => S.rtm?.send({ type: 'typing', channel: S.current }),
    onEditLast: () => editLast(S.current),
  });
  const pane = h('main', { class: 'pane', id: 'pane' }, convHeader, history, jump, typing, composer.el);
  pane.addEventListener('dragover', (e) => { e.preventDefault(); pane.classList.add('dropping'); });
  pane.addEventListener('dragleave', () => pane.classList.remove('dropping'));
  pane.addEventListener('drop', (e) => {
    e.preventDefault();
    pane.classList.remove('dropping');
    composer.addFiles([...(e.dataTransfer?.files || [])]);
  });
  const side = h('aside', { class: 'side', id: 'side', hidden: true, 'aria-label': 'Details' });
  root.append(h('div', { class: 'app' }, header, sidebar, pane, side));
  S.els = { status, sidebar, title, topic, history, jump, typing, composer, side, search };
}

async function signOut() {
  S.rtm?.stop();
  // Both before the reload (which would cancel them): the token revoked, the session cookie gone.
  await Promise.allSettled([call('auth.revoke', {}, { retries: 1 }), forget()]);
  setToken(null);
  location.reload();
}

const prefix = (c) => (!c ? '' : c.is_im || c.is_mpim ? '' : c.is_private ? '🔒' : '#');

export function renderSidebar() {
  const bar = clear(S.els.sidebar);
  const members = [...S.convs.values()].filter((c) => c.is_member && !c.is_archived);
  const byName = (a, b) => convName(a).localeCompare(convName(b));
  const section = (title, list, always = false) => (list.length || always ? h('section', { 'aria-label': title },
    h('h3', null, title), h('ul', { role: 'list' }, list.sort(byName).map(entry))) : null);
  append(bar, [
    section('Channels', members.filter((c) => !c.is_im && !c.is_mpim && !c.is_private), true),
    section('Private channels', members.filter((c) => c.is_private && !c.is_mpim && !c.is_im)),
    section('Direct messages', members.filter((c) => c.is_im || c.is_mpim)),
    h('div', { class: 'sidebar-actions' },
      h('button', { id: 'browse-button', onclick: () => panels.browser() }, 'Browse channels'),
      h('button', { id: 'new-dm-button', onclick: () => panels.people() }, 'New message'))]);
}

function entry(c) {
  const unread = c.unread > 0 && c.id !== S.current;
  const dot = c.is_im ? h('span', { class: `presence ${S.presence.get(c.user) === 'active' ? 'on' : 'off'}`,
    dataset: { user: c.user }, 'aria-label': S.presence.get(c.user) === 'active' ? 'online' : 'offline', role: 'img' }) : null;
  return h('li', null, h('a', {
    href: '#', class: `conv${unread ? ' unread' : ''}${c.id === S.current ? ' current' : ''}`,
    dataset: { id: c.id }, 'aria-current': c.id === S.current ? 'page' : null,
    onclick: (e) => { e.preventDefault(); openConversation(c.id); },
  }, dot, h('span', { class: 'prefix', 'aria-hidden': 'true' }, prefix(c)), h('span', { class: 'name' }, convName(c)),
  c.mentions > 0 && c.id !== S.current ? h('span', { class: 'badge mention-badge', 'aria-label': `${c.mentions} mentions` }, String(c.mentions))
    : unread ? h('span', { class: 'badge', 'aria-label': `${c.unread} unread` }, String(c.unread)) : null));
}

// --- a conversation ------------------------------------------------------------------------------

function view(id) {
  if (!S.views.has(id)) S.views.set(id, { list: [], byTs: new Map(), heights: new Map(), hasMore: true, latest: true, loading: false });
  return S.views.get(id);
}

export async function openConversation(id, { reload = false, around = null, prefetched = null } = {}) {
  const c = S.convs.get(id);
  if (!c) return;
  document.body.classList.remove('sidebar-open');
  S.current = id;
  localStorage.setItem(`cellchat.last.${S.team.id}`, id);
  S.els.title.textContent = `${prefix(c)}${convName(c)}`;
  S.els.topic.textContent = c.topic?.value ? c.topic.value : '';
  S.els.composer.setLabel();
  document.title = `${convName(c)} · Cellchat`;
  const v = view(id);
  if (around) {
    v.list = []; v.byTs = new Map(); v.hasMore = true; v.latest = false;
    const [older, newer] = await Promise.all([
      call('conversations.history', { channel: id, latest: around, inclusive: true, limit: OLDER }),
      call('conversations.history', { channel: id, oldest: around, limit: 25 })]);
    // History pages run newest first: newer ones that do not reach the latest would leave a gap, so
    // they are shown only when they do ("Jump to latest" brings the rest).
    add(v, newer.has_more ? older.messages : [...older.messages, ...newer.messages]);
    v.hasMore = older.has_more;
    v.latest = !newer.has_more;
  } else if (reload || !v.loaded) {
    v.list = []; v.byTs = new Map(); v.latest = true;
    const got = prefetched || await call('conversations.history', { channel: id, limit: PAGE });
    add(v, got.messages);
    v.hasMore = got.has_more;
  }
  v.loaded = true;
  if (S.current !== id) return;
  paint(id, { bottom: !around });
  if (around) highlight(around);
  c.unread = 0; c.mentions = 0;
  renderSidebar();
  markRead(id);
  watchPresence();
  S.els.composer.focus();
}

function add(v, messages) {
  for (const m of messages) {
    if (m.thread_ts && m.thread_ts !== m.ts && m.subtype !== 'thread_broadcast') continue;
    if (v.byTs.has(m.ts)) { Object.assign(v.byTs.get(m.ts), m); continue; }
    v.byTs.set(m.ts, m);
    v.list.push(m);
  }
  v.list.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
}

// Show ``messages`` as conversation ``id``'s whole history (bench/web.py times this with 1,000).
export function showMessages(id, messages) {
  const v = view(id);
  v.list = []; v.byTs = new Map(); v.loaded = true; v.latest = true; v.hasMore = false;
  add(v, messages);
  S.current = id;
  paint(id, { bottom: true });
}

const dayOf = (m) => new Date(Number(m.ts.split('.')[0]) * 1000).toDateString();

// One row of the windowed history: the message, under its day's line when it starts a day.
function rowEl(ts, prevTs) {
  const v = view(S.painted);
  const m = v.byTs.get(ts);
  const prev = prevTs ? v.byTs.get(prevTs) : null;
  const newDay = !prev || dayOf(prev) !== dayOf(m);
  return h('div', { class: 'row' }, newDay ? renderDay(dayOf(m)) : null, messageEl(S.painted, m, newDay ? null : prev));
}

// Show conversation ``id``: its loaded history through the window (only rows near the view are in
// the DOM), then the messages still being sent.
function paint(id, { bottom = false } = {}) {
  const v = view(id);
  const list = S.list;
  const fresh = S.painted !== id;
  S.painted = id;
  clear(list.head);
  if (v.hasMore === false) list.head.append(h('div', { class: 'start' }, `This is the very beginning of ${prefix(S.convs.get(id))}${convName(S.convs.get(id))}.`));
  clear(list.tail);
  for (const p of S.pending.values()) if (p.channel === id && !p.thread_ts) list.tail.append(pendingEl(p));
  list.set(v.list.map((m) => m.ts), v.heights, { fresh, bottom });
  S.els.history.dataset.loaded = String(v.list.length);
  S.els.jump.hidden = v.latest;
}

export function messageEl(channel, m, prev) {
  return renderMessage(m, {
    ...ctx, me: S.me.id, prev, channel, presence: S.presence,
    onReact: (name) => toggleReaction(channel, m, name),
    onPicker: (anchor) => openPicker(anchor, (name) => toggleReaction(channel, m, name)),
    onThread: () => panels.thread(channel, m.ts),
    onEdit: () => startEdit(channel, m),
    onDelete: () => remove(channel, m),
    onPin: () => togglePin(channel, m),
  });
}

function pendingEl(p) {
  const el = renderMessage({ user: S.me.id, text: p.text, ts: `${Date.now() / 1000}`, client_msg_id: p.id }, {
    ...ctx, me: S.me.id, channel: p.channel, presence: S.presence, pending: true });
  el.classList.add('pending');
  el.dataset.pending = p.id;
  return el;
}

function highlight(ts) {
  const row = S.list.scrollTo(ts);
  const el = row?.querySelector(`[data-ts="${CSS.escape(ts)}"]`);
  if (!el) return;
  el.classList.add('highlight');
  el.focus({ preventScroll: true });
  setTimeout(() => el.classList.remove('highlight'), 4000);
}

async function onScroll() {
  const box = S.els.history;
  const id = S.current;
  const v = view(id);
  if (box.scrollTop < 200 && v.hasMore && !v.loading && v.list.length) {
    v.loading = true;
    try {
      const got = await call('conversations.history', { channel: id, latest: v.list[0].ts, limit: OLDER });
      if (S.current !== id) return;
      add(v, got.messages);
      v.hasMore = got.has_more;
      paint(id); // the window keeps the first visible row where it was
    } finally { v.loading = false; }
  }
  if (atBottom()) markRead(id);
}

const atBottom = () => S.list.atBottom();

function markRead(id) {
  clearTimeout(S.markTimer);
  S.markTimer = setTimeout(() => {
    const v = view(id);
    const last = v.latest ? v.list[v.list.length - 1] : null;
    const c = S.convs.get(id);
    if (!last || !c || document.visibilityState !== 'visible' || S.current !== id) return;
    if (c.last_read && c.last_read >= last.ts) return;
    c.last_read = last.ts;
    call('conversations.mark', { channel: id, ts: last.ts }).catch(() => {});
  }, 300);
}
document.addEventListener('visibilitychange', () => { if (S.current && S.els.history && atBottom()) markRead(S.current); });

// --- writing -------------------------------------------------------------------------------------

function uuid() { return crypto.randomUUID(); }

// Optimistic: shown at once as pending, sent with a client_msg_id until acknowledged (the same id on
// every attempt, so the server keeps one copy); sends typed while offline go when the socket is back.
export async function send(channel, text, files = [], threadTs = null, broadcast = false) {
  if (files.length) {
    for (const [i, f] of files.entries()) {
      await panels.withStatus(`Uploading ${f.name || 'image'}…`, () => uploadFile(f, channel, threadTs, i === 0 ? text : ''));
    }
    return;
  }
  if (!text.trim()) return;
  const p = { id: uuid(), channel, text, thread_ts: threadTs, broadcast, tries: 0 };
  S.pending.set(p.id, p);
  if (threadTs) panels.refreshThread(); else if (S.current === channel) { S.list.tail.append(pendingEl(p)); S.list.toBottom(); }
  await flush(p);
}

async function flush(p) {
  if (p.sending) return;
  p.sending = true;
  try {
    const params = { channel: p.channel, text: p.text, client_msg_id: p.id };
    if (p.thread_ts) { params.thread_ts = p.thread_ts; if (p.broadcast) params.reply_broadcast = true; }
    const got = await call('chat.postMessage', params);
    S.pending.delete(p.id);
    received(p.channel, got.message);
  } catch (err) {
    if (err instanceof ApiError && err.code !== 'network_error' && !err.code.startsWith('http_')) {
      S.pending.delete(p.id);
      panels.toast(`Not sent: ${err.code}`);
      if (S.current === p.channel) paint(p.channel);
    }
  } finally { p.sending = false; }
}

function flushAll() { for (const p of S.pending.values()) flush(p); }
window.addEventListener('online', flushAll);

function received(channel, m) {
  if (m.client_msg_id) S.pending.delete(m.client_msg_id);
  const reply = m.thread_ts && m.thread_ts !== m.ts;
  if (reply) panels.threadMessage(channel, m);
  if (reply && m.subtype !== 'thread_broadcast') return;
  const v = view(channel);
  if (!v.loaded || !v.latest) return;
  const existed = v.byTs.has(m.ts);
  add(v, [m]);
  if (S.current !== channel) return;
  const stick = atBottom() || m.user === S.me.id;
  if (m.client_msg_id) S.list.tail.querySelector(`[data-pending="${CSS.escape(m.client_msg_id)}"]`)?.remove();
  if (existed) return; // on screen already (its own echo, or a resend): changes come as their own events
  paint(channel, { bottom: stick });
}

function replace(channel, m) {
  const v = view(channel);
  const old = v.byTs.get(m.ts);
  if (old) {
    for (const k of Object.keys(old)) if (!(k in m)) delete old[k];
    Object.assign(old, m);
    if (S.current === channel) repaintOne(channel, old);
  }
  panels.threadChanged(channel, m);
}

function repaintOne(channel, m, force = false) {
  const el = S.els.history.querySelector(`[data-ts="${CSS.escape(m.ts)}"]`);
  if (!el || (!force && el.querySelector('textarea.edit'))) return; // never under someone's edit
  S.list.refresh(m.ts);
}

function removed(channel, ts) {
  const v = view(channel);
  const m = v.byTs.get(ts);
  if (m) { v.byTs.delete(ts); v.list.splice(v.list.indexOf(m), 1); if (S.current === channel) paint(channel); }
  panels.threadRemoved(channel, ts);
}

function editLast(channel) {
  const v = view(channel);
  const mine = [...v.list].reverse().find((m) => m.user === S.me.id && !m.subtype?.startsWith('channel_'));
  if (mine) startEdit(channel, mine);
}

export function startEdit(channel, m) {
  const el = document.querySelector(`[data-channel="${CSS.escape(channel)}"][data-ts="${CSS.escape(m.ts)}"] .body`);
  if (!el) return;
  const box = h('textarea', { class: 'edit', 'aria-label': 'Edit message', rows: 2 });
  box.value = Composer.toPlain(m.text || '', userName, channelName);
  const done = () => (S.current === channel ? repaintOne(channel, view(channel).byTs.get(m.ts) || m, true) : null);
  box.addEventListener('keydown', async (e) => {
    if (e.key === 'Escape') { e.preventDefault(); done(); S.els.composer.focus(); }
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      const text = Composer.toWire(box.value, S);
      if (!text.trim()) return;
      try {
        const got = await call('chat.update', { channel, ts: m.ts, text });
        replace(channel, { ...m, text: got.text ?? text, edited: { user: S.me.id, ts: got.ts } });
      } catch (err) { panels.toast(`Not saved: ${err.code}`); }
      done();
      S.els.composer.focus();
    }
  });
  clear(el).append(box, h('div', { class: 'hint' }, 'Enter to save, Esc to cancel'));
  box.focus();
}

async function remove(channel, m) {
  if (!confirm('Delete this message? This cannot be undone.')) return;
  try { await call('chat.delete', { channel, ts: m.ts }); removed(channel, m.ts); } catch (err) { panels.toast(`Not deleted: ${err.code}`); }
}

export async function toggleReaction(channel, m, name) {
  const mine = (m.reactions || []).find((r) => r.name === name)?.users?.includes(S.me.id);
  try {
    await call(mine ? 'reactions.remove' : 'reactions.add', { channel, timestamp: m.ts, name });
    reacted(channel, m.ts, name, S.me.id, !mine);
  } catch (err) {
    if (err.code !== 'already_reacted' && err.code !== 'no_reaction') panels.toast(`Reaction failed: ${err.code}`);
  }
}

function reacted(channel, ts, name, user, added) {
  const m = view(channel).byTs.get(ts) || panels.threadFind(channel, ts);
  if (!m) return;
  const list = m.reactions ? m.reactions.map((r) => ({ ...r, users: [...(r.users || [])] })) : [];
  let r = list.find((x) => x.name === name);
  if (added) {
    if (!r) { r = { name, users: [], count: 0 }; list.push(r); }
    if (!r.users.includes(user)) { r.users.push(user); r.count = r.users.length; }
  } else if (r && r.users.includes(user)) {
    r.users = r.users.filter((u) => u !== user);
    r.count = r.users.length;
  }
  m.reactions = list.filter((x) => x.count > 0);
  if (S.current === channel) repaintOne(channel, m);
  panels.threadChanged(channel, m);
}

async function togglePin(channel, m) {
  try {
    const pin = !m.pinned; // set, not toggled: the pin_added event may have come back first
    await call(pin ? 'pins.add' : 'pins.remove', { channel, timestamp: m.ts });
    m.pinned = pin;
    if (S.current === channel) repaintOne(channel, m);
  } catch (err) { panels.toast(`Pin failed: ${err.code}`); }
}

async function leave(id) {
  const c = S.convs.get(id);
  if (!c || c.is_im) return;
  try { await call('conversations.leave', { channel: id }); } catch (err) { panels.toast(`Could not leave: ${err.code}`); return; }
  c.is_member = false;
  const next = [...S.convs.values()].find((x) => x.is_member);
  renderSidebar();
  if (next) openConversation(next.id);
}

export async function joined(id) {
  await loadConversations();
  renderSidebar();
  await openConversation(id);
}

// --- real time -----------------------------------------------------------------------------------

function onState(state) {
  const el = S.els.status;
  el.textContent = state === 'online' ? '' : state === 'signed_out' ? 'Signed out' : state === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  el.dataset.state = state;
  document.body.dataset.conn = state;
  if (state === 'online') flushAll();
  if (state === 'signed_out') showSignIn('Your session ended. Sign in again.');
}

async function onResync() {
  await loadConversations();
  renderSidebar();
  for (const [id, v] of S.views) if (id !== S.current) v.loaded = false;
  if (S.current) {
    const v = view(S.current);
    if (v.latest) {
      const got = await call('conversations.history', { channel: S.current, limit: PAGE });
      add(v, got.messages);
      const keep = new Set(v.list.map((m) => m.ts));
      if (!got.has_more) for (const ts of keep) if (!got.messages.find((m) => m.ts === ts)) removed(S.current, ts);
      paint(S.current, { bottom: true });
    }
  }
  flushAll();
  loadCounts();
  panels.refreshThread(true);
}

const MEMBERSHIP = new Set(['channel_joined', 'channel_left', 'group_joined', 'group_left', 'im_created', 'im_open',
  'mpim_joined', 'mpim_open', 'channel_created', 'channel_rename', 'group_rename', 'channel_archive', 'channel_unarchive',
  'member_joined_channel', 'member_left_channel']);

function onEvent(e) {
  const channel = e.channel?.id ?? e.channel ?? e.item?.channel;
  switch (e.type) {
    case 'message':
      if (e.subtype === 'message_changed') { replace(channel, e.message); break; }
      if (e.subtype === 'message_deleted') { removed(channel, e.deleted_ts); break; }
      if (e.subtype === 'message_replied') { replace(channel, e.message); break; }
      if (e.subtype === 'channel_topic') { const c = S.convs.get(channel); if (c) c.topic = { value: e.topic }; if (S.current === channel) S.els.topic.textContent = e.topic || ''; }
      received(channel, e);
      if (e.user !== S.me.id && (channel !== S.current || document.visibilityState !== 'visible' || !atBottom())) {
        const c = S.convs.get(channel);
        if (c && !(e.thread_ts && e.thread_ts !== e.ts && e.subtype !== 'thread_broadcast')) {
          c.unread += 1;
          if ((e.text || '').includes(`<@${S.me.id}>`) || c.is_im) c.mentions += 1;
          if (channel !== S.current) renderSidebar();
        }
      } else if (channel === S.current) markRead(channel);
      if (S.typing.get(channel)?.delete(e.user)) renderTyping();
      break;
    case 'reaction_added': case 'reaction_removed':
      reacted(e.item.channel, e.item.ts, e.reaction, e.user, e.type === 'reaction_added');
      break;
    case 'pin_added': case 'pin_removed': {
      const m = view(e.item?.channel || e.channel_id).byTs.get(e.item?.message?.ts || e.item?.ts);
      if (m) { m.pinned = e.type === 'pin_added'; if (S.current === (e.item?.channel || e.channel_id)) repaintOne(S.current, m); }
      break;
    }
    case 'channel_marked': case 'group_marked': case 'im_marked': case 'mpim_marked': {
      const c = S.convs.get(channel);
      if (c) { c.last_read = e.ts; c.unread = e.unread_count_display ?? 0; if (!c.unread) c.mentions = 0; renderSidebar(); }
      break;
    }
    case 'user_typing': {
      if (e.user === S.me.id) break;
      if (!S.typing.has(channel)) S.typing.set(channel, new Map());
      S.typing.get(channel).set(e.user, Date.now() + 5000);
      renderTyping();
      setTimeout(renderTyping, 5100);
      break;
    }
    case 'presence_change':
      for (const u of e.users || [e.user]) S.presence.set(u, e.presence);
      paintPresence();
      break;
    case 'desktop_notification':
      panels.notify(e);
      break;
    case 'dnd_updated':
      if (e.user === S.me.id) panels.setDnd(e.dnd_status || {});
      break;
    case 'file_shared': case 'file_created': break;
    default:
      if (MEMBERSHIP.has(e.type)) { clearTimeout(S.convTimer); S.convTimer = setTimeout(async () => { await loadConversations(); renderSidebar(); }, 200); }
  }
}

function renderTyping() {
  const now = Date.now();
  const who = [...(S.typing.get(S.current) || new Map())].filter(([, until]) => until > now).map(([u]) => userName(u));
  S.els.typing.textContent = who.length === 0 ? '' : who.length === 1 ? `${who[0]} is typing…`
    : who.length < 4 ? `${who.join(' and ')} are typing…` : 'Several people are typing…';
}

function watchPresence() {
  const ids = new Set();
  for (const c of S.convs.values()) if (c.is_im && c.is_member) ids.add(c.user);
  for (const m of view(S.current).list.slice(-100)) if (m.user) ids.add(m.user);
  ids.delete(S.me.id);
  S.rtm?.watch([...ids]);
}

function paintPresence() {
  for (const el of document.querySelectorAll('.presence[data-user]')) {
    const on = S.presence.get(el.dataset.user) === 'active';
    el.classList.toggle('on', on);
    el.classList.toggle('off', !on);
    el.setAttribute('aria-label', on ? 'online' : 'offline');
  }
}

// --- start ---------------------------------------------------------------------------------------

export { fileNode };
// A reload or a new tab: the session of an earlier sign-in, if the router still has one.
const AUTH_ERRORS = new Set(['not_authed', 'invalid_auth', 'token_revoked', 'token_expired', 'account_inactive']);

async function start() {
  const session = await resume().catch(() => null);
  if (!session) { showSignIn(); return; }
  setToken(session.token);
  try {
    await boot(session.workspace_id);
  } catch (err) {
    S.rtm?.stop();
    setToken(null);
    const gone = err instanceof ApiError && AUTH_ERRORS.has(err.code);
    if (gone) await forget().catch(() => {});
    showSignIn(gone ? '' : 'Cannot reach the server. Check your connection.');
  }
}

if (!hasToken()) start();
