// The composer: Enter sends, Shift+Enter is a new line, ↑ in an empty box edits the last message,
// @person, #channel and :emoji: autocomplete, files by button, paste and drag-and-drop.
import { h, clear } from './dom.js';
import { escape, unescape } from './mrkdwn.js';
import { EMOJI, NAMES } from './emoji.js';
import { S, userName, convName } from './app.js';

let counter = 0;

export class Composer {
  constructor({ id, label, onSend, onTyping, onEditLast, extra = null }) {
    this.label = label;
    this.onSend = onSend;
    this.onTyping = onTyping;
    this.onEditLast = onEditLast;
    this.files = [];
    this.lastTyping = 0;
    const n = ++counter;
    this.box = h('textarea', { id: `${id}-input`, class: 'input', rows: 1, 'aria-label': label(),
      'aria-autocomplete': 'list', 'aria-controls': `${id}-suggest`, autocomplete: 'off' });
    this.suggest = h('ul', { class: 'suggest', id: `${id}-suggest`, role: 'listbox', hidden: true, 'aria-label': 'Suggestions' });
    this.tray = h('div', { class: 'tray', 'aria-live': 'polite' });
    this.picker = h('input', { type: 'file', multiple: true, id: `file-${n}`, class: 'visually-hidden',
      onchange: () => { this.addFiles([...this.picker.files]); this.picker.value = ''; } });
    const attach = h('label', { class: 'attach button icon', for: `file-${n}`, title: 'Attach files' },
      h('span', { 'aria-hidden': 'true' }, '📎'), h('span', { class: 'visually-hidden' }, 'Attach files'));
    const sendButton = h('button', { class: 'send primary', type: 'submit', 'aria-label': 'Send' }, '➤');
    this.el = h('form', { class: 'composer', id, onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      this.tray, this.suggest, h('div', { class: 'row' }, this.picker, attach, this.box, sendButton), extra);
    this.box.addEventListener('keydown', (e) => this.key(e));
    this.box.addEventListener('input', () => { this.grow(); this.complete(); this.typing(); });
    this.box.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData?.files || [])];
      if (files.length) { e.preventDefault(); this.addFiles(files); }
    });
    // Hide the suggestions once the box has really lost the focus (not if it came back meanwhile).
    this.box.addEventListener('blur', () => setTimeout(() => { if (document.activeElement !== this.box) this.hideSuggest(); }, 150));
  }

  setLabel() { this.box.setAttribute('aria-label', this.label()); this.box.placeholder = this.label(); }
  focus() { this.box.focus(); }
  grow() { this.box.style.height = 'auto'; this.box.style.height = `${Math.min(this.box.scrollHeight, 200)}px`; }

  typing() {
    if (Date.now() - this.lastTyping > 3000 && this.box.value) { this.lastTyping = Date.now(); this.onTyping?.(); }
  }

  key(e) {
    if (!this.suggest.hidden) {
      const items = [...this.suggest.children];
      const at = items.findIndex((li) => li.getAttribute('aria-selected') === 'true');
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const next = (at + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
        items.forEach((li, i) => li.setAttribute('aria-selected', i === next ? 'true' : 'false'));
        this.box.setAttribute('aria-activedescendant', items[next].id);
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') { e.preventDefault(); this.choose(items[Math.max(at, 0)]); return; }
      if (e.key === 'Escape') { e.preventDefault(); this.hideSuggest(); return; }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.submit(); return; }
    if (e.key === 'ArrowUp' && !this.box.value && this.onEditLast) { e.preventDefault(); this.onEditLast(); }
  }

  submit() {
    const text = Composer.toWire(this.box.value, S);
    const files = this.files;
    if (!text.trim() && !files.length) return;
    this.box.value = '';
    this.files = [];
    clear(this.tray);
    this.grow();
    this.hideSuggest();
    this.onSend(text, files);
  }

  addFiles(files) {
    for (const f of files) {
      this.files.push(f);
      const url = f.type.startsWith('image/') ? URL.createObjectURL(f) : null;
      const chip = h('div', { class: 'chip' }, url ? h('img', { src: url, alt: `Preview of ${f.name || 'image'}`, class: 'preview' }) : null,
        h('span', null, f.name || 'pasted image'),
        h('button', { type: 'button', class: 'icon small', 'aria-label': `Remove ${f.name || 'image'}`, onclick: () => {
          this.files = this.files.filter((x) => x !== f); chip.remove(); if (url) URL.revokeObjectURL(url); this.focus();
        } }, '×'));
      this.tray.append(chip);
    }
    this.focus();
  }

  // --- autocomplete -----------------------------------------------------------------------------
  word() {
    const upto = this.box.value.slice(0, this.box.selectionStart);
    const m = /(^|\s)([@#:])([\w.-]*)$/.exec(upto);
    return m ? { sigil: m[2], q: m[3].toLowerCase(), start: upto.length - m[3].length - 1 } : null;
  }

  complete() {
    const w = this.word();
    if (!w || (w.sigil === ':' && w.q.length < 2)) { this.hideSuggest(); return; }
    let options = [];
    if (w.sigil === '@') {
      options = [...S.users.values()].filter((u) => !u.deleted && (u.name.toLowerCase().startsWith(w.q) || (u.real_name || '').toLowerCase().includes(w.q)))
        .slice(0, 8).map((u) => ({ label: `@${u.name}`, hint: u.real_name || '', insert: `@${u.name} ` }));
    } else if (w.sigil === '#') {
      options = [...S.convs.values()].filter((c) => !c.is_im && !c.is_mpim && c.name.toLowerCase().startsWith(w.q))
        .slice(0, 8).map((c) => ({ label: `#${c.name}`, hint: '', insert: `#${c.name} ` }));
    } else {
      options = NAMES.filter((n) => n.startsWith(w.q)).slice(0, 8).map((n) => ({ label: `${EMOJI[n]} :${n}:`, hint: '', insert: `:${n}: ` }));
    }
    if (!options.length) { this.hideSuggest(); return; }
    clear(this.suggest);
    options.forEach((o, i) => this.suggest.append(h('li', {
      id: `${this.el.id}-opt-${i}`, role: 'option', 'aria-selected': i === 0 ? 'true' : 'false', dataset: { insert: o.insert, start: w.start },
      onmousedown: (e) => { e.preventDefault(); this.choose(e.currentTarget); },
    }, o.label, o.hint ? h('span', { class: 'hint' }, ` ${o.hint}`) : null)));
    this.suggest.hidden = false;
    this.box.setAttribute('aria-activedescendant', `${this.el.id}-opt-0`);
  }

  choose(li) {
    if (!li) return;
    const start = Number(li.dataset.start);
    const end = this.box.selectionStart;
    this.box.value = this.box.value.slice(0, start) + li.dataset.insert + this.box.value.slice(end);
    const at = start + li.dataset.insert.length;
    this.box.setSelectionRange(at, at);
    this.hideSuggest();
    this.box.focus();
  }

  hideSuggest() {
    this.suggest.hidden = true;
    this.box.removeAttribute('aria-activedescendant');
  }

  // What a person typed -> Slack's wire text: & < > escaped, @name and #channel as Slack's tokens.
  static toWire(typed, state) {
    const byName = new Map([...state.users.values()].map((u) => [u.name.toLowerCase(), u.id]));
    const chans = new Map([...state.convs.values()].filter((c) => !c.is_im && !c.is_mpim).map((c) => [c.name.toLowerCase(), c.id]));
    return escape(typed).replace(/(^|[\s(])([@#])([\w.-]+)/g, (all, lead, sigil, name) => {
      const key = name.toLowerCase().replace(/[.,]+$/, '');
      const tail = name.slice(key.length);
      if (sigil === '@' && byName.has(key)) return `${lead}<@${byName.get(key)}>${tail}`;
      if (sigil === '@' && ['here', 'channel', 'everyone'].includes(key)) return `${lead}<!${key}>${tail}`;
      if (sigil === '#' && chans.has(key)) return `${lead}<#${chans.get(key)}|${key}>${tail}`;
      return all;
    });
  }

  // Wire text back to what a person types (for editing).
  static toPlain(text, nameOf, channelOf) {
    return unescape(text.replace(/<@([A-Z0-9]+)(?:\|[^>]*)?>/g, (_, id) => `@${S.users.get(id)?.name || nameOf(id)}`)
      .replace(/<#([A-Z0-9]+)(?:\|([^>]*))?>/g, (_, id, n) => `#${n || channelOf(id)}`)
      .replace(/<!(here|channel|everyone)>/g, '@$1')
      .replace(/<(https?:[^|>]+)\|([^>]+)>/g, '$2 ($1)').replace(/<(https?:[^>]+)>/g, '$1'));
  }
}

export { convName };
