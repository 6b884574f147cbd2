// A windowed list (docs/web.md, "History"): only the rows near the viewport are in the DOM, the rest
// are two spacers whose heights are the sum of the rows' measured heights (an estimate until a row
// has been seen). Any change above what the reader is looking at - older history prepended, a row
// growing as its image loads or shrinking after an edit - keeps the first visible row where it was.

export class VirtualList {
  // ``box`` is the scrolling element; ``row(key, prevKey)`` makes the element for one row.
  constructor(box, row, { estimate = 64, overscan = 900 } = {}) {
    this.box = box; this.row = row; this.estimate = estimate; this.overscan = overscan;
    this.keys = []; this.index = new Map(); this.heights = new Map();
    this.nodes = new Map(); // key -> { el, prev } for the rows in the DOM
    this.start = 0; this.end = 0;
    const div = (cls) => { const el = document.createElement('div'); el.className = cls; return el; };
    this.head = div('vl-head'); this.top = div('vl-pad'); this.body = div('vl-rows');
    this.bottom = div('vl-pad'); this.tail = div('vl-tail');
    box.append(this.head, this.top, this.body, this.bottom, this.tail);
    this.resized = new ResizeObserver((entries) => {
      let changed = false;
      for (const e of entries) {
        const key = e.target.dataset.key;
        const height = e.target.getBoundingClientRect().height;
        if (key !== undefined && height && this.heights.get(key) !== height && this.nodes.get(key)?.el === e.target) {
          this.heights.set(key, height); changed = true;
        }
      }
      if (changed) this.update();
    });
    this.stuck = true; // following the newest row until the reader scrolls away
    box.addEventListener('scroll', () => { if (!this.busy) { this.stuck = this.atBottom(); this.update(); } }, { passive: true });
  }

  // Show ``keys`` (in order) with ``heights`` as the cache of measured heights (one per conversation).
  set(keys, heights, { fresh = false, bottom = false } = {}) {
    if (fresh) { for (const { el } of this.nodes.values()) this.drop(el); this.nodes.clear(); this.start = this.end = 0; }
    this.keys = keys; this.heights = heights;
    this.index = new Map(keys.map((k, i) => [k, i]));
    for (const [key, { el }] of this.nodes) if (!this.index.has(key)) { this.drop(el); this.nodes.delete(key); }
    this.update({ bottom });
  }

  // Make row ``key`` again (its message changed); the anchor keeps the view still.
  refresh(key) {
    const node = this.nodes.get(key);
    if (!node) return;
    const fresh = this.make(key, node.prev);
    node.el.replaceWith(fresh);
    this.drop(node.el);
    this.nodes.set(key, { el: fresh, prev: node.prev });
    this.update();
  }

  atBottom() { return this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 40; }

  toBottom() { this.update({ bottom: true }); }

  // Scroll so that row ``key`` is in the middle of the view; its element, or null.
  scrollTo(key) {
    const i = this.index.get(key);
    if (i === undefined) return null;
    this.box.scrollTop = this.top.offsetTop + this.offsetOf(i) - this.box.clientHeight / 2;
    this.update({ anchor: false });
    const el = this.nodes.get(key)?.el ?? null;
    el?.scrollIntoView({ block: 'center' });
    this.update();
    return this.nodes.get(key)?.el ?? null;
  }

  offsetOf(i) { let y = 0; for (let j = 0; j < i; j++) y += this.height(this.keys[j]); return y; }

  height(key) { return this.heights.get(key) ?? this.estimate; }

  make(key, prev) {
    const el = this.row(key, prev);
    el.dataset.key = key;
    this.resized.observe(el);
    return el;
  }

  drop(el) { this.resized.unobserve(el); el.remove(); }

  // The first row whose bottom is below the top of the view, and how far from the top it starts.
  anchor() {
    const top = this.box.getBoundingClientRect().top;
    for (const el of this.body.children) {
      const r = el.getBoundingClientRect();
      if (r.bottom > top) return { key: el.dataset.key, offset: r.top - top };
    }
    return null;
  }

  update({ bottom = false, anchor = true } = {}) {
    if (this.busy) return;
    this.busy = true;
    try {
      const stick = bottom || (this.stuck && this.end >= this.keys.length);
      this.stuck = stick;
      const held = !stick && anchor ? this.anchor() : null;
      const i = held ? this.index.get(held.key) : undefined;
      if (i !== undefined) { // rows may have come above it: render where it now is, then scroll there
        const y = this.offsetOf(i) - held.offset;
        this.window(false, y);
        this.box.scrollTop = this.top.offsetTop + y;
      } else this.window(stick);
      if (stick) this.box.scrollTop = this.box.scrollHeight;
      else if (held && this.nodes.has(held.key)) {
        const now = this.nodes.get(held.key).el.getBoundingClientRect().top - this.box.getBoundingClientRect().top;
        if (now !== held.offset) this.box.scrollTop += now - held.offset;
      }
      // The scroll may have moved the view past what is rendered: render again around it (bounded).
      for (let n = 0; n < 3 && !this.covers(); n++) {
        this.window(stick);
        if (stick) this.box.scrollTop = this.box.scrollHeight;
      }
    } finally { this.busy = false; }
  }

  covers() {
    const y = this.box.scrollTop - this.top.offsetTop;
    const above = this.top.offsetHeight;
    const below = above + this.body.offsetHeight;
    return (this.start === 0 || above <= y) && (this.end === this.keys.length || below >= y + this.box.clientHeight);
  }

  // Render the rows within ``overscan`` px of the view, measure them, and size the spacers.
  window(stick, at = null) {
    const keys = this.keys;
    const view = this.box.clientHeight;
    let y = at ?? this.box.scrollTop - this.top.offsetTop;
    if (stick) {
      let total = 0;
      for (const k of keys) total += this.height(k);
      y = total - view;
    }
    let start = 0; let acc = 0;
    while (start < keys.length && acc + this.height(keys[start]) < y - this.overscan) acc += this.height(keys[start++]);
    let end = start; let span = acc;
    while (end < keys.length && span < y + view + this.overscan) span += this.height(keys[end++]);
    const wanted = [];
    for (let i = start; i < end; i++) {
      const key = keys[i];
      const prev = i > 0 ? keys[i - 1] : null;
      let node = this.nodes.get(key);
      if (node && node.prev !== prev) { this.drop(node.el); node = null; } // its neighbour changed: day line, grouping
      if (!node) { node = { el: this.make(key, prev), prev }; this.nodes.set(key, node); }
      wanted.push(node.el);
    }
    const keep = new Set(wanted);
    for (const [key, { el }] of this.nodes) if (!keep.has(el)) { this.drop(el); this.nodes.delete(key); }
    let here = this.body.firstChild; // rows already in place stay put (focus, an open edit box)
    for (const el of wanted) { if (el === here) here = here.nextSibling; else this.body.insertBefore(el, here); }
    for (const el of wanted) { const hgt = el.getBoundingClientRect().height; if (hgt) this.heights.set(el.dataset.key, hgt); }
    let before = 0; let after = 0;
    for (let i = 0; i < start; i++) before += this.height(keys[i]);
    for (let i = end; i < keys.length; i++) after += this.height(keys[i]);
    this.top.style.height = `${before}px`;
    this.bottom.style.height = `${after}px`;
    this.start = start; this.end = end;
  }
}
