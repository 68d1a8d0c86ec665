/* outbox.js: what the person sent and the cluster has not acknowledged yet,
 * kept in localStorage (so per origin, per user) so that neither a dropped
 * connection nor a reload loses it.
 *
 * Each item keeps its clientMsgId from the moment it is typed: resending it
 * after a reconnect (on whichever node) can never store it twice. Items of one
 * conversation are sent one at a time, in the order typed; conversations go
 * in parallel. A retryable error (unavailable, rate_limited, a dropped
 * socket) sends again later; any other error marks the item failed, and the
 * person retries or discards it by hand. */

const RETRYABLE = new Set(['unavailable', 'rate_limited', 'internal', 'network']);

export class Outbox {
  /* post(frame) -> bool sends a WebSocket frame; onChange(item|null) */
  constructor(user, { post, onChange }) {
    this.key = `confab.outbox.${user}`;
    this.post = post;
    this.onChange = onChange;
    this.inflight = new Map(); /* clientMsgId -> frame id */
    this.timer = null;
    try { this.items = JSON.parse(localStorage.getItem(this.key)) || []; } catch { this.items = []; }
    window.addEventListener('storage', (e) => {
      if (e.key !== this.key) return;
      try { this.items = JSON.parse(e.newValue) || []; } catch { this.items = []; }
      this.onChange(null);
    });
  }

  save() {
    try { localStorage.setItem(this.key, JSON.stringify(this.items)); } catch { /* full: kept in memory */ }
  }

  get(cm) { return this.items.find((i) => i.clientMsgId === cm); }
  forConv(id) { return this.items.filter((i) => i.conversationId === id); }

  add(item) {
    this.items.push({ ...item, state: 'queued', tries: 0, createdAt: Date.now() });
    this.save();
    this.onChange(this.get(item.clientMsgId));
    this.pump();
  }

  /* Acknowledged (an ack, or our own message seen in a sync): gone. */
  done(cm) {
    const i = this.items.findIndex((x) => x.clientMsgId === cm);
    this.inflight.delete(cm);
    if (i < 0) return null;
    const [it] = this.items.splice(i, 1);
    this.save();
    this.onChange(null);
    this.pump();
    return it;
  }

  /* An error frame answered frame id `fid`. */
  error(fid, code, message) {
    const cm = [...this.inflight].find(([, f]) => f === fid)?.[0];
    if (!cm) return false;
    this.inflight.delete(cm);
    const it = this.get(cm);
    if (!it) return true;
    it.tries++;
    if (RETRYABLE.has(code) && it.tries < 8) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.pump(), Math.min(8000, 500 * 2 ** it.tries));
    } else {
      it.state = 'failed';
      it.error = message || code;
      this.save();
      this.onChange(it);
      this.pump();
    }
    return true;
  }

  retry(cm) {
    const it = this.get(cm);
    if (!it) return;
    it.state = 'queued';
    it.tries = 0;
    delete it.error;
    this.save();
    this.onChange(it);
    this.pump();
  }

  discard(cm) { this.done(cm); }

  /* The socket dropped: whatever was in flight is sent again. */
  reset() { this.inflight.clear(); }

  /* Send the first queued item of each conversation with nothing in flight. */
  pump() {
    const busy = new Set();
    for (const cm of this.inflight.keys()) { const it = this.get(cm); if (it) busy.add(it.conversationId); }
    for (const it of this.items) {
      if (it.state === 'failed' || busy.has(it.conversationId)) continue;
      busy.add(it.conversationId);
      if (this.inflight.has(it.clientMsgId)) continue;
      const frame = { type: 'send', conversationId: it.conversationId, clientMsgId: it.clientMsgId,
        msgType: it.msgType || 'text', content: it.content || '' };
      if (it.attachment) frame.attachment = it.attachment;
      if (it.replyTo) frame.replyTo = it.replyTo;
      if (it.mentions && it.mentions.length) frame.mentions = it.mentions;
      frame.id = `o-${it.clientMsgId}-${it.tries}`;
      if (!this.post(frame)) return;
      this.inflight.set(it.clientMsgId, frame.id);
    }
  }
}
