/* reply.js: the quote shown above a reply (a message with replyTo).
 *
 * The quoted message is taken from the open window when it is there;
 * otherwise from a small cache of messages fetched for quotes (one
 * GET .../messages?fromSeq=S&limit=1 per quoted seq, once). A recalled (or
 * missing) message quotes as "message unavailable"; an edit or a recall of a
 * quoted message refreshes its quotes (update). The quote is a button: it
 * jumps to the quoted message, which is then highlighted. */
import { el } from './ui.js';

const MAX_CACHE = 500;

export class Quotes {
  /* env: {api, me, openId(), inWindow(seq) -> message|undefined,
   *       requote(seq), jump(seq)} */
  constructor(env) {
    this.env = env;
    this.cache = new Map(); /* `${conv}\n${seq}` -> message | null (unavailable) */
    this.asked = new Set();
  }

  key(conv, seq) { return `${conv}\n${seq}`; }

  /* The quote node for reply m of the open conversation. */
  node(m) {
    const conv = this.env.openId();
    const seq = m.replyTo;
    let q = this.env.inWindow(seq);
    if (q === undefined) q = this.cache.get(this.key(conv, seq));
    if (q === undefined) this.fetch(conv, seq);
    const who = el('span', { class: 'quote-who' });
    const text = el('span', { class: 'quote-text' });
    let label;
    if (q === undefined) { text.textContent = '…'; label = 'the quoted message (loading)'; }
    else if (q === null || q.recalled) { text.textContent = 'message unavailable'; label = 'a message that is unavailable'; }
    else {
      who.textContent = q.senderId === this.env.me ? 'You' : q.senderId;
      text.textContent = quoteText(q);
      label = `${who.textContent}: ${text.textContent}`;
    }
    const b = el('button', { type: 'button', class: `quote${q === null || (q && q.recalled) ? ' unavailable' : ''}`,
      'data-reply': seq, 'aria-label': `In reply to ${label}. Go to the quoted message`,
      onclick: () => this.env.jump(seq) }, who, text);
    return b;
  }

  async fetch(conv, seq) {
    const k = this.key(conv, seq);
    if (this.asked.has(k)) return;
    this.asked.add(k);
    let q = null;
    try {
      const r = await this.env.api.history(conv, { fromSeq: seq, limit: 1 });
      q = r.messages.find((x) => x.seq === seq) || null;
    } catch (e) {
      if (e.status !== 404 && e.status !== 403) { this.asked.delete(k); return; } /* tried again on the next render */
    }
    this.put(k, q);
    if (this.env.openId() === conv) this.env.requote(seq);
  }

  put(k, q) {
    this.cache.set(k, q);
    if (this.cache.size > MAX_CACHE) this.cache.delete(this.cache.keys().next().value);
  }

  /* Message seq of the open conversation changed: m (edited or recalled),
   * null (recalled, not in the window), undefined (changed, not known here:
   * fetched again when next quoted). */
  update(seq, m) {
    const conv = this.env.openId();
    const k = this.key(conv, seq);
    if (m === undefined) { this.cache.delete(k); this.asked.delete(k); } else if (this.cache.has(k) || m === null) this.put(k, m);
    this.env.requote(seq);
  }
}

export function quoteText(m) {
  if (m.recalled) return 'message unavailable';
  const t = m.content || (m.msgType === 'image' ? 'Photo' : m.msgType === 'file' ? 'File' : '');
  return t.length > 140 ? `${t.slice(0, 140)}…` : t;
}
