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
 * edges when pages come and go.
 *
 * A conversation may also be opened at a message (a search result, a
 * mention, a reply's quote: aroundSeq): the window then need not reach the
 * conversation's end (atLatest false). Scrolling down loads the pages after
 * it; live messages are not appended to such a window, only counted on the
 * "jump to latest" button. The message jumped to is highlighted and focused.
 * Every message row is focusable (tabindex -1; the arrow keys move between
 * them inside the list), and its full time shows on hover and focus. Only
 * the current row's actions (reply, edit, recall, its quote) are in the Tab
 * order: the row last focused, else the latest one; so Tab crosses the list
 * in a few steps however long it is. An edit patches the row in place. */
import { el, clock, fullTime, dayKey, dayLabel, tick } from './ui.js';

export const PAGE = 50;
export const MAX_WIN = 150;
/* Recalls and edits remembered for pages still on their way (Pane.later). */
const LATER_MAX = 1000;

export class Pane {
  /* env: {api, me, convs, receipts(), schedule(), onRecall(seq, li),
   *       onReply(m), onEdit(m), quote(m) -> node, onQuotes(seq, m),
   *       onSeen(), media(att, img), shown(m), pageTimes} */
  constructor(env) {
    this.env = env;
    this.box = document.querySelector('#messages');
    this.ol = document.querySelector('#message-list');
    this.jump = document.querySelector('#jump-latest');
    this.more = document.querySelector('#history-more');
    this.pending = document.querySelector('#pending-list');
    this.id = null;
    this.msgs = [];          /* the window, ascending seq */
    /* Recalls and edits of the open conversation that events told us of
     * (seq -> recall, or the edit's fields). A page asked before an event
     * can arrive after it, holding the message as it was: its copy is
     * corrected from here as it enters the window (fixed), else a reply
     * would quote a recalled message as it was, for good. */
    this.later = new Map();
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
    this.hlSeq = 0;          /* the message jumped to (highlighted) */
    this.activeSeq = 0;      /* the row whose actions Tab reaches (0: the last) */
    this.tabRow = null;
    this.box.addEventListener('focusin', (ev) => {
      const li = ev.target.closest && ev.target.closest('#message-list > li.msg');
      if (li) { this.activeSeq = Number(li.dataset.seq); this.syncTabStops(); }
    });
    this.box.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.box.addEventListener('keydown', (ev) => this.onKey(ev));
    this.jump.addEventListener('click', () => this.toLatest());
  }

  get first() { return this.msgs.length ? this.msgs[0].seq : 0; }
  get last() { return this.msgs.length ? this.msgs[this.msgs.length - 1].seq : 0; }

  clear() {
    this.gen++;
    this.id = null;
    this.msgs = [];
    this.later.clear();
    this.nodes.clear();
    this.queue = [];
    this.hlSeq = 0;
    this.activeSeq = 0;
    this.tabRow = null;
    this.ol.replaceChildren();
    this.jump.hidden = true;
  }

  /* Open conversation `id` at its latest page, or (at > 0) at the page
   * around seq `at`, which is then highlighted; readSeq places the marker. */
  async open(id, readSeq, at = 0) {
    this.clear();
    this.id = id;
    const gen = this.gen;
    this.busy = true;
    try {
      const r = at > 0 ? await this.around(id, at) : await this.env.api.history(id, { limit: PAGE });
      if (gen !== this.gen) return;
      this.msgs = this.fixed(r.messages);
      if (at > 0) {
        this.hasOlder = !!r.hasMoreBefore;
        this.atLatest = !r.hasMoreAfter;
      } else {
        this.hasOlder = r.hasMore;
        this.atLatest = true;
      }
      this.newBelow = 0;
      const firstUnread = this.msgs.find((m) => m.seq > readSeq && m.senderId !== this.env.me);
      this.markerSeq = firstUnread ? firstUnread.seq : 0;
      this.ol.replaceChildren(this.build(this.msgs, null));
      const mk = this.ol.querySelector('.unread-marker');
      if (at > 0) this.highlight(at);
      else if (mk && mk.offsetTop > this.box.clientHeight / 2) this.box.scrollTop = mk.offsetTop - 60;
      else this.box.scrollTop = this.box.scrollHeight;
    } finally {
      if (gen === this.gen) this.busy = false;
    }
    this.fill();
    this.env.schedule();
    this.env.onSeen();
    this.updateJump();
  }

  /* The page around seq `at` (GET ...?aroundSeq=S). An older node that does
   * not know aroundSeq answers its latest page without hasMoreBefore: then
   * the same page is asked with fromSeq. */
  async around(id, at) {
    const r = await this.env.api.history(id, { aroundSeq: at, limit: PAGE });
    if (r.hasMoreBefore !== undefined || r.messages.some((m) => m.seq === at)) {
      if (r.hasMoreBefore === undefined) {
        r.hasMoreBefore = r.hasMore && r.messages.length > 0;
        r.hasMoreAfter = r.messages.length > 0 && r.messages[r.messages.length - 1].seq < (r.lastSeq || 0);
      }
      return r;
    }
    const from = Math.max(1, at - PAGE / 2);
    const f = await this.env.api.history(id, { fromSeq: from, limit: PAGE });
    const last = f.messages.length ? f.messages[f.messages.length - 1].seq : 0;
    return { messages: f.messages, hasMoreBefore: from > 1, hasMoreAfter: last < (f.lastSeq || 0) };
  }

  /* Go to message seq of the open conversation: in the window, or the page
   * around it. */
  async jumpTo(seq) {
    if (!this.id) return;
    if (this.nodes.has(seq)) { this.highlight(seq); return; }
    const c = this.env.convs.get(this.id);
    await this.open(this.id, c ? c.readSeq || 0 : 0, seq);
  }

  /* Mark message seq as the one jumped to: highlighted, centred, focused. */
  highlight(seq) {
    const was = this.nodes.get(this.hlSeq);
    if (was) { was.classList.remove('highlight'); was.removeAttribute('aria-current'); }
    this.hlSeq = seq;
    const li = this.nodes.get(seq);
    if (!li) return;
    li.classList.add('highlight');
    li.setAttribute('aria-current', 'true');
    li.scrollIntoView({ block: 'center' });
    li.focus({ preventScroll: true });
  }

  /* Load more pages while the window does not fill the screen. */
  async fill() {
    for (let i = 0; i < 4 && this.id && this.box.scrollHeight <= this.box.clientHeight + 10; i++) {
      const n = this.msgs.length;
      if (this.hasOlder) await this.older();
      else if (!this.atLatest) await this.newer();
      else break;
      if (this.msgs.length === n) break;
    }
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
    const li = el('li', { class: 'msg', 'data-seq': m.seq, 'data-sender': m.senderId, tabindex: '-1' });
    const newDay = !prev || dayKey(prev.serverTs) !== dayKey(m.serverTs);
    if (!mine && c && c.type === 'group' && (newDay || prev.senderId !== m.senderId))
      li.append(el('div', { class: 'sender', text: m.senderId }));
    li._quote = null;
    li._bubble = el('div', { class: 'bubble' });
    li._time = el('time', { datetime: new Date(m.serverTs).toISOString(), text: clock(m.serverTs) });
    li._edited = el('span', { class: 'edited', text: '(edited)' });
    li._meta = el('div', { class: 'meta' }, li._time);
    li.append(li._bubble, li._meta);
    if (mine && !m.recalled) li._tick = tick(this.tickState(m));
    this.patch(li, m);
    return li;
  }

  /* (Re)fill row li from message m: classes, quote, bubble, full time,
   * "(edited)", actions. The row itself stays (focus, scroll position). */
  patch(li, m) {
    const mine = m.senderId === this.env.me;
    li.className = `msg${mine ? ' mine' : ''}${m.recalled ? ' recalled' : ''}${m.mentionsMe && !m.recalled ? ' mention-me' : ''}${m.seq === this.hlSeq ? ' highlight' : ''}`;
    const q = m.replyTo && !m.recalled ? this.env.quote(m) : null;
    if (li._quote) li._quote.remove();
    li._quote = q;
    if (q) li.insertBefore(q, li._bubble);
    li._bubble.replaceChildren();
    this.fillBubble(li._bubble, m, mine);
    let full = fullTime(m.serverTs);
    if (m.editedAt && !m.recalled) full += ` · edited ${fullTime(m.editedAt)}`;
    li._time.title = full;
    li._time.dataset.full = full;
    const who = mine ? 'your message' : `${m.senderId}'s message`;
    const meta = li._meta;
    /* what the tip shows, for screen readers (the row keeps its content) */
    meta.replaceChildren(li._time, el('span', { class: 'sr-only', text: `${mine ? 'You' : m.senderId}, ${full}${m.mentionsMe && !m.recalled ? ', mentions you' : ''}` }));
    if (m.editedAt && !m.recalled) meta.append(li._edited);
    if (m.recalled) { li._tick = null; return; }
    if (mine && li._tick) meta.append(li._tick);
    meta.append(el('button', { class: 'act reply', type: 'button', text: 'Reply',
      'aria-label': `Reply to ${who} sent ${fullTime(m.serverTs)}`, onclick: () => this.env.onReply(this.msg(m.seq) || m) }));
    if (mine) {
      meta.append(el('button', { class: 'act edit', type: 'button', text: 'Edit',
        'aria-label': `Edit your message sent ${fullTime(m.serverTs)}`, onclick: () => this.env.onEdit(this.msg(m.seq) || m) }));
      meta.append(el('button', { class: 'act recall', type: 'button', text: 'Recall',
        'aria-label': `Recall your message sent ${fullTime(m.serverTs)}`, onclick: () => this.env.onRecall(m.seq, li) }));
    }
    this.tabStops(li, li === this.tabRow);
  }

  tabStops(li, on) {
    for (const b of li.querySelectorAll(':scope > .quote, :scope > .meta > button')) b.tabIndex = on ? 0 : -1;
  }

  /* Exactly one row's actions in the Tab order: the active row, else the last. */
  syncTabStops() {
    const want = (this.activeSeq && this.nodes.get(this.activeSeq)) || this.nodes.get(this.last) || null;
    if (want === this.tabRow && (!want || want.isConnected)) return;
    if (this.tabRow) this.tabStops(this.tabRow, false);
    this.tabRow = want;
    if (want) this.tabStops(want, true);
  }

  msg(seq) { return this.msgs.find((x) => x.seq === seq); }

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
      if (this.nodes.has(m.seq)) { this.changed(m); continue; }
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

  /* A message of the window came again (sync, ack): patched if it changed. */
  changed(m) {
    const x = this.msg(m.seq);
    if (!x) return;
    if ((m.recalled && !x.recalled) || (m.editedAt && m.editedAt !== x.editedAt && !x.recalled)) this.replace(m);
  }

  /* A message already shown changed (recalled, edited, or its ack):
   * its row is patched in place. */
  replace(m) {
    const ix = this.msgs.findIndex((x) => x.seq === m.seq);
    if (ix < 0) return;
    this.msgs[ix] = { ...this.msgs[ix], ...m };
    const li = this.nodes.get(m.seq);
    if (li) this.patch(li, this.msgs[ix]);
    this.env.onQuotes(m.seq, this.msgs[ix]);
  }

  /* Messages of a page, with what events said of them since (later). */
  fixed(ms) {
    if (!this.later.size) return ms;
    return ms.map((m) => {
      const x = this.later.get(m.seq);
      if (!x || m.recalled) return m;
      if (x.recalled) return { ...m, recalled: true, content: undefined, attachment: undefined, editedAt: undefined };
      return m.editedAt && m.editedAt >= x.editedAt ? m : { ...m, ...x };
    });
  }

  note(seq, x) {
    this.later.delete(seq);
    this.later.set(seq, x);
    if (this.later.size > LATER_MAX) this.later.delete(this.later.keys().next().value);
  }

  recalled(seq) {
    this.note(seq, { recalled: true });
    if (this.nodes.has(seq)) this.replace({ seq, recalled: true, content: undefined, attachment: undefined, editedAt: undefined });
    else this.env.onQuotes(seq, null);
  }

  /* An `edited` event or sync item (or the answer to our own PATCH). */
  edited(f) {
    if (f.conversationId !== this.id) return;
    const prev = this.later.get(f.seq);
    if (!prev || (!prev.recalled && !(prev.editedAt > f.editedAt)))
      this.note(f.seq, { content: f.content, editedAt: f.editedAt, mentions: f.mentions, mentionsMe: !!f.mentionsMe });
    const m = this.msg(f.seq);
    if (!m) { this.env.onQuotes(f.seq, undefined); return; }
    if (m.recalled || (m.editedAt && f.editedAt && f.editedAt < m.editedAt)) return;
    this.replace({ seq: f.seq, content: f.content, editedAt: f.editedAt, mentions: f.mentions, mentionsMe: !!f.mentionsMe });
  }

  /* Re-fill the quotes (replies) in the window that quote seq. */
  requote(seq) {
    for (const x of this.msgs) {
      if (x.replyTo !== seq) continue;
      const li = this.nodes.get(x.seq);
      if (li) this.patch(li, x);
    }
  }

  /* Arrow keys move between the messages (each shows its full time when
   * focused); Home and End go to the window's first and last. */
  onKey(ev) {
    if (!['ArrowUp', 'ArrowDown', 'Home', 'End'].includes(ev.key)) return;
    const cur = ev.target.closest && ev.target.closest('#message-list > li.msg');
    if (ev.target !== this.box && cur !== ev.target) return; /* a button inside a row */
    const rows = [...this.ol.querySelectorAll(':scope > li.msg')];
    if (!rows.length) return;
    let ix = cur ? rows.indexOf(cur) : -1;
    if (ev.key === 'Home') ix = 0;
    else if (ev.key === 'End') ix = rows.length - 1;
    else if (ev.key === 'ArrowUp') ix = ix < 0 ? rows.length - 1 : Math.max(0, ix - 1);
    else ix = ix < 0 ? rows.length - 1 : Math.min(rows.length - 1, ix + 1);
    ev.preventDefault();
    rows[ix].focus({ preventScroll: true });
    rows[ix].scrollIntoView({ block: 'nearest' });
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
      const ms = this.fixed(r.messages.filter((m) => m.seq < this.first));
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
      const ms = this.fixed(r.messages.filter((m) => m.seq > this.last));
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
    this.syncTabStops();
    /* the unsent messages go after the latest one: not below an older window */
    this.pending.hidden = !this.atLatest;
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
