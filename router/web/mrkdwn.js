// Slack mrkdwn to DOM nodes. Strict: the only elements made are the ones below, user text only ever
// becomes text nodes, and only http(s)/mailto links become <a>. Never innerHTML.
import { h } from './dom.js';
import { EMOJI } from './emoji.js';

const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>' };
export const unescape = (s) => s.replace(/&(amp|lt|gt);/g, (m) => ENTITIES[m]);
export const escape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const SAFE_URL = /^(https?:\/\/|mailto:)[^\s]+$/i;

// ctx: { userName(id), channelName(id), onChannel(id) }
export function render(text, ctx) {
  const out = [];
  const lines = (text || '').split('\n');
  let i = 0;
  let quote = null;
  const flushQuote = () => { if (quote) { out.push(quote); quote = null; } };
  while (i < lines.length) {
    const line = lines[i];
    if (line.startsWith('```')) {
      flushQuote();
      const body = [line.slice(3)];
      let j = i;
      let closed = body[0].endsWith('```') && body[0].length >= 3;
      if (closed) body[0] = body[0].slice(0, -3);
      while (!closed && ++j < lines.length) {
        if (lines[j].endsWith('```')) { body.push(lines[j].slice(0, -3)); closed = true; } else body.push(lines[j]);
      }
      if (closed) {
        out.push(h('pre', { class: 'code-block' }, unescape(body.join('\n').replace(/^\n|\n$/g, ''))));
        i = j + 1;
        continue;
      }
    }
    const isQuote = line.startsWith('&gt;') || line.startsWith('>');
    if (isQuote) {
      if (!quote) quote = h('blockquote');
      else quote.append(h('br'));
      quote.append(...inline(line.replace(/^(&gt;|>) ?/, ''), ctx));
    } else {
      flushQuote();
      const before = out[out.length - 1];
      if (out.length && !(before instanceof HTMLElement && ['PRE', 'BLOCKQUOTE'].includes(before.tagName))) out.push(h('br'));
      out.push(...inline(line, ctx));
    }
    i++;
  }
  flushQuote();
  if (out[0] instanceof HTMLElement && out[0].tagName === 'BR') out.shift();
  return out;
}

// Inline: `code`, <links|labels>, then *bold* _italic_ ~strike~ and :emoji:.
function inline(text, ctx) {
  const nodes = [];
  const re = /`([^`\n]+)`|<([^<>\s|][^<>|]*)(?:\|([^<>]*))?>/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    if (m.index > last) nodes.push(...styled(text.slice(last, m.index), ctx));
    if (m[1] !== undefined) nodes.push(h('code', null, unescape(m[1])));
    else nodes.push(special(m[2], m[3], ctx));
    last = re.lastIndex;
  }
  if (last < text.length) nodes.push(...styled(text.slice(last), ctx));
  return nodes;
}

function special(target, label, ctx) {
  if (target.startsWith('@')) {
    const id = target.slice(1);
    return h('span', { class: 'mention', dataset: { user: id } }, '@', label ? unescape(label) : ctx.userName(id));
  }
  if (target.startsWith('#')) {
    const id = target.slice(1);
    const name = label ? unescape(label) : ctx.channelName(id);
    return h('a', { class: 'channel-link', href: '#', onclick: (e) => { e.preventDefault(); ctx.onChannel(id); } }, '#', name);
  }
  if (target.startsWith('!')) {
    const word = target.slice(1).split('^')[0];
    return h('span', { class: 'mention broadcast' }, '@', label ? unescape(label) : word);
  }
  const url = unescape(target);
  const shown = label !== undefined && label !== '' ? unescape(label) : url;
  if (!SAFE_URL.test(url)) return document.createTextNode(shown === url ? url : `${shown} (${url})`);
  return h('a', { href: url, target: '_blank', rel: 'noopener noreferrer nofollow' }, shown);
}

// *bold*, _italic_, ~strike~ (nestable), :emoji:.
function styled(text, ctx) {
  const nodes = [];
  const re = /(^|[\s(])([*_~])(?=\S)([^\n]*?\S)\2(?=$|[\s.,;:!?)])/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    const start = m.index + m[1].length;
    if (start > last) nodes.push(...emoji(text.slice(last, start)));
    const tag = { '*': 'strong', _: 'em', '~': 'del' }[m[2]];
    nodes.push(h(tag, null, ...styled(m[3], ctx)));
    last = re.lastIndex;
  }
  if (last < text.length) nodes.push(...emoji(text.slice(last)));
  return nodes;
}

function emoji(text) {
  const parts = [];
  const re = /:([a-z0-9_+-]+):/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    const glyph = EMOJI[m[1]];
    if (!glyph) continue;
    if (m.index > last) parts.push(unescape(text.slice(last, m.index)));
    parts.push(h('span', { class: 'emoji', title: `:${m[1]}:` }, glyph));
    last = re.lastIndex;
  }
  if (last < text.length) parts.push(unescape(text.slice(last)));
  return parts.map((p) => (typeof p === 'string' ? document.createTextNode(p) : p));
}
