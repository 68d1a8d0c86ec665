/* pane.js: the open conversation's messages, a bounded window of pages.
 *
 * Opening a conversation loads its latest page only; scrolling back loads
 * the page before the window (beforeSeq), scrolling forward again the page
 * after it (fromSeq). The window holds at most MAX_WIN messages: past that,
 * the pages furthest from what is on screen are dropped, so a conversation
 * of any length keeps a bounded number of DOM nodes. Live messages are
 * appended (in the animation frame after their event) when the window
 * reaches the conversation's end; otherwise a "jump to latest" button counts
 * them. Rows are built once and patched (ticks, recall). Day separators and
 * the "new messages" marker are rows of their own, fixed at the window's
 * edges when pages come and go. */
import { el, clock, fullTime, dayKey, dayLabel, tick } from './ui.js';

export const PAGE = 50;
export const MAX_WIN = 150;

export class Pane {
  /* env: {api, me, convs, receipts(), schedule(), onRecall(seq), onSeen(),
   *       media(att, img), timing(messageId)} */
  constructor(env) {
    this.env = env;
    this.box = document.querySelector('#messages');
    this.ol = document.querySelector('#message-list');
    this.jump = document.querySelector('#jump-latest');
    this.more = document.querySelector('#history-more');
    this.id = null;
    this.msgs = [];          /* the window, ascending seq */
    this.nodes = new Map();  /* seq -> li */
    this.atLatest = false;   /* the window ends at the conversation's end */
    this.hasOlder = false;
    this.busy = false;
    this.queue = [];         /* live messages waiting for the next frame */
    this.ticksDirty = false;
    this.newBelow = 0;
    this.belowMax = 0;       /* highest seq counted in newBelow */
    this.markerSeq = 0;      /* first unread seq at open (0: no marker) */
    this.gen = 0;
    this.box.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.jump.addEventListener('click', () => this.toLatest());
  }

  get first() { return this.msgs.length ? this.msgs[0].seq : 0; }
  get last() { return this.msgs.length ? this.msgs[this.msgs.length - 1].seq : 0; }

  clear() {
    this.gen++;
    this.id = null;
    this.msgs = [];
    this.nodes.clear();
    this.queue = [];
    this.ol.replaceChildren();
    this.jump.hidden = true;
  }

  /* Open conversation `id` at its latest page; readSeq places the marker. */
  async open(id, readSeq) {
    this.clear();
    this.id = id;
    const gen = this.gen;
    this.busy = true;
    try {
      const r = await this.env.api.history(id, { limit: PAGE });
      if (gen !== this.gen) return;
      this.msgs = r.messages;
      this.hasOlder = r.hasMore;
      this.atLatest = true;
      this.newBelow = 0;
      const firstUnread = this.msgs.find((m) => m.seq > readSeq && m.senderId !== this.env.me);
      this.markerSeq = firstUnread ? firstUnread.seq : 0;
      this.ol.replaceChildren(this.build(this.msgs, null));
      const mk = this.ol.querySelector('.unread-marker');
      if (mk && mk.offsetTop > this.box.clientHeight / 2) this.box.scrollTop = mk.offsetTop - 60;
      else this.box.scrollTop = this.box.scrollHeight;
    } finally {
      if (gen === this.gen) this.busy = false;
    }
    this.fill();
    this.env.schedule();
    this.env.onSeen();
  }

  /* Load older pages while the window does not fill the screen. */
  fill() {
    if (this.hasOlder && this.box.scrollHeight <= this.box.clientHeight + 10) this.older();
  }

  /* Rows for messages ms, prev: the message shown before them (or null). */
  build(ms, prev) {
    const frag = document.createDocumentFragment();
    for (const m of ms) {
      this.rowsFor(m, prev).forEach((n) => frag.append(n));
      prev = m;
    }
    return frag;
  }

  /* A message's rows: [day separator?, marker?, message]. */
  rowsFor(m, prev) {
    const out = [];
    if (!prev || dayKey(prev.serverTs) !== dayKey(m.serverTs))
      out.push(el('li', { class: 'day', 'data-before': m.seq }, el('span', { text: dayLabel(m.serverTs) })));
    if (m.seq === this.markerSeq)
      out.push(el('li', { class: 'unread-marker', 'data-before': m.seq }, el('span', { text: 'New messages' })));
    const li = this.render(m, prev);
    this.nodes.set(m.seq, li);
    out.push(li);
    return out;
  }

  /* Rebuild the rows of msgs[ix] (its separator and sender line depend on
   * the message before it, which changes at the window's edges). */
  refix(ix) {
    const m = this.msgs[ix];
    if (!m) return;
    const old = this.nodes.get(m.seq);
    if (!old) return;
    for (let p = old.previousSibling; p && p.dataset && p.dataset.before === String(m.seq); p = old.previousSibling) p.remove();
    const rows = this.rowsFor(m, this.msgs[ix - 1] || null);
    old.replaceWith(...rows);
  }

  render(m, prev) {
    const me = this.env.me;
    const mine = m.senderId === me;
    const c = this.env.convs.get(this.id);
    const li = el('li', {
      class: `msg${mine ? ' mine' : ''}${m.recalled ? ' recalled' : ''}`,
      'data-seq': m.seq, 'data-sender': m.senderId,
    });
    const newDay = !prev || dayKey(prev.serverTs) !== dayKey(m.serverTs);
    if (!mine && c && c.type === 'group' && (newDay || prev.senderId !== m.senderId))
      li.append(el('div', { class: 'sender', text: m.senderId }));
    const bubble = el('div', { class: 'bubble' });
    this.fillBubble(bubble, m, mine);
    li.append(bubble);
    const t = el('time', { datetime: new Date(m.serverTs).toISOString(), title: fullTime(m.serverTs),
      'data-full': fullTime(m.serverTs), text: clock(m.serverTs) });
    const meta = el('div', { class: 'meta' }, t);
    if (mine && !m.recalled) {
      li._tick = tick(this.tickState(m));
      meta.append(li._tick, el('button', {
        class: 'recall', type: 'button', text: 'Recall',
        'aria-label': `Recall your message sent ${fullTime(m.serverTs)}`,
        onclick: () => this.env.onRecall(m.seq, li),
      }));
    }
    li.append(meta);
    return li;
  }

  fillBubble(bubble, m, mine) {
    if (m.recalled) { bubble.textContent = mine ? 'You recalled this message' : 'This message was recalled'; return; }
    if ((m.msgType === 'image' || m.msgType === 'file') && m.attachment) {
      bubble.append(this.env.media(m));
      if (m.content) bubble.append(el('div', { text: m.content }));
      return;
    }
    bubble.textContent = m.content || '';
  }

  tickState(m) {
    let best = 'sent';
    for (const [u, r] of Object.entries(this.env.receipts())) {
      if (u === this.env.me) continue;
      if ((r.readSeq || 0) >= m.seq) return 'read';
      if ((r.deliveredSeq || 0) >= m.seq) best = 'delivered';
    }
    return best;
  }

  nearBottom() { return this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 80; }

  /* A message of this conversation arrived (live, from sync, or an ack). */
  live(m) {
    if (m.conversationId !== this.id) return;
    this.queue.push(m);
    this.env.schedule();
  }

  patchTicks() { this.ticksDirty = true; this.env.schedule(); }

  /* Apply the queued live messages and tick changes (once per frame). */
  flush() {
    if (this.ticksDirty) {
      this.ticksDirty = false;
      for (const [seq, li] of this.nodes) {
        if (!li._tick) continue;
        const st = this.tickState({ seq });
        if (li._tick.dataset.state !== st) {
          li._tick.dataset.state = st;
          li._tick.title = st;
          li._tick.textContent = st === 'sent' ? '✓' : '✓✓';
        }
      }
    }
    if (!this.queue.length || this.busy) return;
    const q = this.queue;
    this.queue = [];
    q.sort((a, b) => a.seq - b.seq);
    const stick = this.nearBottom();
    const fresh = [];
    let gap = false;
    for (const m of q) {
      if (this.nodes.has(m.seq)) { if (m.recalled) this.replace(m); continue; }
      const lastShown = fresh.length ? fresh[fresh.length - 1].seq : this.last;
      if (m.seq <= lastShown) continue; /* a repeat, or before the window */
      if (!this.atLatest) {
        if (m.seq > this.belowMax && m.senderId !== this.env.me) this.newBelow++;
        this.belowMax = Math.max(this.belowMax, m.seq);
        continue;
      }
      if (lastShown && m.seq > lastShown + 1) { gap = true; break; }
      fresh.push(m);
    }
    if (fresh.length) {
      const prev = this.msgs[this.msgs.length - 1] || null;
      this.ol.append(this.build(fresh, prev));
      this.msgs.push(...fresh);
      for (const m of fresh) this.env.shown(m);
      if (stick) {
        this.trimTop();
        this.box.scrollTop = this.box.scrollHeight;
      } else this.newBelow += fresh.filter((m) => m.senderId !== this.env.me).length;
    }
    if (gap) this.newer(true);
    this.updateJump();
    if (fresh.length) this.env.onSeen();
  }

  /* A message already shown changed (recalled, or its ack). */
  replace(m) {
    const ix = this.msgs.findIndex((x) => x.seq === m.seq);
    if (ix < 0) return;
    this.msgs[ix] = { ...this.msgs[ix], ...m };
    const li = this.nodes.get(m.seq);
    const n = this.render(this.msgs[ix], this.msgs[ix - 1] || null);
    this.nodes.set(m.seq, n);
    li.replaceWith(n);
  }

  recalled(seq) {
    if (this.nodes.has(seq)) this.replace({ seq, recalled: true, content: undefined, attachment: undefined });
  }

  /* Keep scrolling position across a change of the rows above the anchor. */
  anchored(fn) {
    let seq = 0, before = 0;
    for (const m of this.msgs) {
      const li = this.nodes.get(m.seq);
      if (li && li.offsetTop + li.offsetHeight > this.box.scrollTop) { seq = m.seq; before = li.getBoundingClientRect().top; break; }
    }
    fn();
    /* the anchor's row may have been rebuilt (refix): find it by seq */
    const a = this.nodes.get(seq);
    if (a && a.isConnected) this.box.scrollTop += a.getBoundingClientRect().top - before;
  }

  dropRows(seq) {
    const li = this.nodes.get(seq);
    if (!li) return;
    for (let p = li.previousSibling; p && p.dataset && p.dataset.before === String(seq); p = li.previousSibling) p.remove();
    li.remove();
    this.nodes.delete(seq);
  }

  /* Over MAX_WIN: drop the oldest messages (the user is at the bottom). */
  trimTop() {
    if (this.msgs.length <= MAX_WIN) return;
    this.anchored(() => {
      while (this.msgs.length > MAX_WIN) this.dropRows(this.msgs.shift().seq);
      this.refix(0);
    });
    this.hasOlder = true;
  }

  async older() {
    if (!this.hasOlder || this.busy || !this.id || !this.msgs.length) return;
    const id = this.id, gen = this.gen;
    this.busy = true;
    this.more.hidden = false;
    const t0 = performance.now();
    try {
      const r = await this.env.api.history(id, { beforeSeq: this.first, limit: PAGE });
      if (gen !== this.gen) return;
      const ms = r.messages.filter((m) => m.seq < this.first);
      this.hasOlder = r.hasMore && ms.length > 0;
      if (ms.length) {
        this.anchored(() => {
          this.ol.prepend(this.build(ms, null));
          this.msgs.unshift(...ms);
          this.refix(ms.length);
          if (this.msgs.length > MAX_WIN) {
            while (this.msgs.length > MAX_WIN) this.dropRows(this.msgs.pop().seq);
            this.atLatest = false;
          }
        });
      }
      this.env.pageTimes.push(performance.now() - t0);
    } catch { /* retried on the next scroll */ } finally {
      if (gen === this.gen) { this.busy = false; this.more.hidden = true; }
    }
    this.updateJump();
  }

  /* The page after the window (scrolling forward, or a gap to fill). */
  async newer(gapOnly = false) {
    if ((this.atLatest && !gapOnly) || this.busy || !this.id) return;
    const id = this.id, gen = this.gen;
    this.busy = true;
    try {
      const r = await this.env.api.history(id, { fromSeq: this.last + 1, limit: PAGE });
      if (gen !== this.gen) return;
      const ms = r.messages.filter((m) => m.seq > this.last);
      const stick = this.nearBottom();
      if (ms.length) {
        this.ol.append(this.build(ms, this.msgs[this.msgs.length - 1] || null));
        this.msgs.push(...ms);
        if (this.msgs.length > MAX_WIN) {
          this.anchored(() => {
            while (this.msgs.length > MAX_WIN) this.dropRows(this.msgs.shift().seq);
            this.refix(0);
          });
          this.hasOlder = true;
        }
      }
      this.atLatest = !r.hasMore || !ms.length;
      if (this.atLatest) this.newBelow = 0;
      if (stick && gapOnly) this.box.scrollTop = this.box.scrollHeight;
    } catch { /* retried on the next scroll */ } finally {
      if (gen === this.gen) this.busy = false;
    }
    if (gen === this.gen && this.queue.length) this.env.schedule();
    this.updateJump();
    this.env.onSeen();
  }

  /* Jump to the conversation's end: the latest page again if far away. */
  async toLatest() {
    if (this.atLatest) { this.box.scrollTop = this.box.scrollHeight; this.newBelow = 0; this.updateJump(); return; }
    const c = this.env.convs.get(this.id);
    await this.open(this.id, c ? c.readSeq || 0 : 0);
    this.box.scrollTop = this.box.scrollHeight;
  }

  onScroll() {
    if (!this.id) return;
    if (this.box.scrollTop < 400) this.older();
    if (!this.atLatest && this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 400) this.newer();
    if (this.nearBottom() && this.atLatest) { this.newBelow = 0; this.env.onSeen(); }
    this.updateJump();
  }

  updateJump() {
    const away = !this.atLatest || this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight > this.box.clientHeight;
    this.jump.hidden = !away && this.newBelow === 0;
    if (this.nearBottom() && this.atLatest) this.jump.hidden = true;
    this.jump.textContent = this.newBelow > 0 ? `${this.newBelow} new ↓` : 'Latest ↓';
  }

  /* The newest seq the person has seen: the window's end, when shown. */
  seenUpTo() {
    if (!this.id || !this.atLatest || !this.nearBottom()) return 0;
    return this.last;
  }
}
