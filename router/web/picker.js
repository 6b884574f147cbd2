// The emoji picker: a small dialog with a filter and a grid of buttons, keyboard usable.
import { h } from './dom.js';
import { EMOJI, NAMES } from './emoji.js';

let open = null;

export function openPicker(anchor, onPick) {
  close();
  const filter = h('input', { type: 'search', class: 'picker-filter', 'aria-label': 'Find an emoji', placeholder: 'Find an emoji' });
  const grid = h('div', { class: 'picker-grid', role: 'group', 'aria-label': 'Emoji' });
  const fill = () => {
    grid.replaceChildren(...NAMES.filter((n) => n.includes(filter.value.toLowerCase().replace(/:/g, ''))).slice(0, 80)
      .map((n) => h('button', { type: 'button', class: 'emoji-choice', title: `:${n}:`, 'aria-label': n, dataset: { name: n },
        onclick: () => { close(); onPick(n); anchor?.focus?.(); } }, EMOJI[n])));
  };
  const dialog = h('div', { class: 'picker', role: 'dialog', 'aria-label': 'Emoji picker', 'aria-modal': 'false' }, filter, grid);
  dialog.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); close(); anchor?.focus?.(); }
    if (e.key === 'Enter' && e.target === filter) { e.preventDefault(); grid.querySelector('button')?.click(); }
  });
  filter.addEventListener('input', fill);
  fill();
  document.body.append(dialog);
  const r = anchor?.getBoundingClientRect?.() || { left: 100, bottom: 100, top: 100 };
  const top = r.bottom + 260 > innerHeight ? Math.max(8, r.top - 260) : r.bottom + 4;
  dialog.style.left = `${Math.max(8, Math.min(r.left, innerWidth - 290))}px`;
  dialog.style.top = `${top}px`;
  open = dialog;
  setTimeout(() => document.addEventListener('mousedown', outside), 0);
  filter.focus();
}

function outside(e) { if (open && !open.contains(e.target)) close(); }

export function close() {
  if (open) open.remove();
  open = null;
  document.removeEventListener('mousedown', outside);
}
