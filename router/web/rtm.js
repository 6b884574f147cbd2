// One WebSocket through rtm.connect (docs/realtime.md section 4): resume from the last pos, jittered
// backoff, "reconnecting" state, and the live-move goodbye (4005: a new rtm.connect at once, which the
// router sends to the workspace's new cell).
import { call } from './api.js';

export class Rtm {
  constructor({ onEvent, onState, onResync }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.onResync = onResync;
    this.pos = null;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.pingId = 0;
    this.timer = null;
    this.upSince = 0;
    this.watched = [];
    this.outbox = []; // ephemeral frames (typing) are dropped while down, never queued
  }

  async start() { this.stopped = false; await this.open(); }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  state(name) { this.status = name; this.onState(name); }

  async open() {
    if (this.stopped) return;
    this.state(this.attempt ? 'reconnecting' : 'connecting');
    let url;
    try {
      url = (await call('rtm.connect', {}, { retries: 0 })).url;
    } catch (err) {
      if (err.code === 'invalid_auth' || err.code === 'account_inactive' || err.code === 'token_revoked') {
        this.state('signed_out');
        return;
      }
      this.retry(false);
      return;
    }
    if (this.pos) url += `&resume=${encodeURIComponent(this.pos)}`;
    const ws = new WebSocket(url);
    this.ws = ws;
    let immediate = false;
    ws.onmessage = (msg) => {
      let frame;
      try { frame = JSON.parse(msg.data); } catch { return; }
      if (frame.type === 'hello') {
        if (!frame.resumed || !this.pos) this.pos = frame.pos;
        this.upSince = Date.now();
        this.state('online');
        if (this.watched.length) this.send({ type: 'presence_sub', ids: this.watched });
        return;
      }
      if (frame.type === 'resync_required') { this.pos = frame.pos; this.onResync(); return; }
      if (frame.type === 'goodbye') { immediate = true; return; }
      if (frame.type === 'pong') return;
      if (frame.pos) this.pos = frame.pos;
      this.onEvent(frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.timer);
      if (this.stopped || ev.code === 1000) return;
      if (ev.code === 4004) { this.state('signed_out'); return; }
      const now = [1001, 1012, 4005].includes(ev.code) || immediate;
      this.retry(now);
    };
    clearInterval(this.timer);
    this.timer = setInterval(() => this.send({ type: 'ping', id: ++this.pingId }), 30000);
  }

  retry(now) {
    if (this.stopped) return;
    if (this.upSince && Date.now() - this.upSince > 60000) this.attempt = 0;
    this.upSince = 0;
    this.attempt += 1;
    this.state('reconnecting');
    const wait = now && this.attempt <= 2 ? 0 : Math.random() * Math.min(30000, 500 * 2 ** this.attempt);
    setTimeout(() => this.open(), wait);
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  watch(ids) {
    this.watched = [...new Set(ids)].slice(0, 500);
    this.send({ type: 'presence_sub', ids: this.watched });
  }
}
