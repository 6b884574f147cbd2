// One message as DOM: author, time, mrkdwn body, files, reactions, thread summary and its actions.
import { h } from './dom.js';
import { render } from './mrkdwn.js';
import { EMOJI } from './emoji.js';
import { bearer } from './api.js';

const clock = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit' }); // one formatter: making one per message is slow
const time = (ts) => clock.format(Number(ts.split('.')[0]) * 1000);

export function renderDay(label) {
  return h('div', { class: 'day', role: 'separator' }, h('span', null, label));
}

export function renderMessage(m, o) {
  const mine = m.user === o.me;
  const compact = o.prev && o.prev.user === m.user && Number(m.ts) - Number(o.prev.ts) < 300 && !o.prev.subtype && !m.subtype;
  const name = m.user ? o.userName(m.user) : (m.username || m.bot_id || 'app');
  const label = time(m.ts);
  const head = compact ? null : h('div', { class: 'meta' },
    h('span', { class: `presence ${o.presence?.get(m.user) === 'active' ? 'on' : 'off'}`, dataset: { user: m.user || '' },
      role: 'img', 'aria-label': o.presence?.get(m.user) === 'active' ? 'online' : 'offline' }),
    h('span', { class: 'author' }, name),
    h('time', { datetime: new Date(Number(m.ts) * 1000).toISOString() }, label),
    m.subtype === 'thread_broadcast' ? h('span', { class: 'note' }, 'replied to a thread') : null);
  const body = h('div', { class: 'body' }, render(m.text || '', o),
    m.edited ? h('span', { class: 'edited' }, ' (edited)') : null);
  const files = (m.files || []).filter((f) => f.mode !== 'tombstone').map((f) => fileNode(f));
  const reactions = (m.reactions || []).length || o.onReact ? h('div', { class: 'reactions' },
    (m.reactions || []).map((r) => h('button', {
      class: `reaction${(r.users || []).includes(o.me) ? ' mine' : ''}`, dataset: { name: r.name },
      'aria-pressed': (r.users || []).includes(o.me) ? 'true' : 'false',
      'aria-label': `${r.name} reaction, ${r.count}`, title: (r.users || []).map(o.userName).join(', '),
      onclick: () => o.onReact?.(r.name),
    }, EMOJI[r.name] || `:${r.name}:`, ' ', String(r.count)))) : null;
  const thread = m.reply_count > 0 && !o.inThread ? h('button', { class: 'thread-summary', onclick: () => o.onThread?.() },
    `${m.reply_count} ${m.reply_count === 1 ? 'reply' : 'replies'}`) : null;
  const act = (label, fn, cls) => h('button', { class: `act ${cls}`, 'aria-label': label, title: label, onclick: fn }, label);
  const actions = o.pending ? null : h('div', { class: 'actions', role: 'toolbar', 'aria-label': 'Message actions' },
    o.onPicker ? h('button', { class: 'act react', 'aria-label': 'Add reaction', title: 'Add reaction',
      onclick: (e) => o.onPicker(e.currentTarget) }, '☺') : null,
    o.onThread && !o.inThread ? act('Reply in thread', o.onThread, 'reply') : null,
    o.onPin ? act(m.pinned ? 'Unpin' : 'Pin', o.onPin, 'pin') : null,
    mine && o.onEdit ? act('Edit', o.onEdit, 'edit') : null,
    mine && o.onDelete ? act('Delete', o.onDelete, 'delete') : null);
  return h('article', {
    class: `msg${compact ? ' compact' : ''}${mine ? ' mine' : ''}${m.pinned ? ' pinned' : ''}`, tabindex: '-1',
    dataset: { ts: m.ts, channel: o.channel, user: m.user || '' }, 'aria-label': `${name} at ${label}`,
  }, head, m.pinned ? h('div', { class: 'note pin-note' }, '📌 Pinned') : null, body, files.length ? h('div', { class: 'files' }, files) : null,
  reactions, thread, actions);
}

// A file: an image preview (its signed thumbnail, or the bytes fetched with the token) or a link.
export function fileNode(f) {
  const name = f.title || f.name || f.id;
  const isImage = /^image\/(png|jpeg|gif|webp)$/.test(f.mimetype || '');
  const open = h('a', { class: 'file-link', href: '#', onclick: (e) => { e.preventDefault(); download(f); } }, '📎 ', name);
  if (!isImage) return h('div', { class: 'file' }, open);
  const img = h('img', { class: 'thumb', alt: f.alt_txt || name, loading: 'lazy', width: f.thumb_360_w || null, height: f.thumb_360_h || null });
  if (f.thumb_360) img.src = f.thumb_360;
  else fetchBlob(f.url_private).then((url) => { if (url) img.src = url; });
  return h('figure', { class: 'file image' }, img, h('figcaption', null, open));
}

async function fetchBlob(url) {
  if (!url) return null;
  const got = await fetch(url, { headers: { Authorization: `Bearer ${bearer()}` }, credentials: 'omit' }).catch(() => null);
  return got && got.ok ? URL.createObjectURL(await got.blob()) : null;
}

async function download(f) {
  const url = await fetchBlob(f.url_private_download || f.url_private);
  if (!url) return;
  const a = h('a', { href: url, download: f.name || 'file' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
