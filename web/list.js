/* list.js: the conversation list, paged and patched in place.
 *
 * The list holds the conversations loaded so far (a page at a time, more on
 * scroll), most recently active first. Each row is built once and patched
 * (title, time, preview, badge, presence dot) when its conversation changes;
 * a conversation that becomes active moves its row to the top. Changes are
 * marked and applied together in flush(), called once per animation frame
 * by the page's scheduler. Rows are links to #/c/ID (keyboard and back
 * button work as for any link). */
import { el, avatar, timeOf, convTitle, preview, fullTime } from './ui.js';

export class ConvList {
  /* ul: the <ul>; env: {me, convs (Map), presence (Map), openId(), schedule()} */
  constructor(ul, env) {
    this.ul = ul;
    this.env = env;
    this.rows = new Map();  /* id -> li */
    this.order = [];        /* ids, display order */
    this.dirty = new Set();
    this.toTop = [];
    this.renders = 0;       /* rows built or patched (the tests read it) */
  }

  /* A page of the list from the server, appended below what is shown. */
  addPage(convs) {
    for (const c of convs) {
      if (this.env.convs.has(c.conversationId) && this.order.includes(c.conversationId)) {
        Object.assign(this.env.convs.get(c.conversationId), c);
      } else {
        this.env.convs.set(c.conversationId, c);
        this.order.push(c.conversationId);
      }
      this.dirty.add(c.conversationId);
    }
    this.env.schedule();
  }

  /* Replace the first page after a reconnect: merge, move active ones up. */
  mergeFirst(convs) {
    for (let i = convs.length - 1; i >= 0; i--) this.upsert(convs[i], true);
  }

  /* A conversation changed; top: it has new activity (moves to the top). */
  upsert(c, top = false) {
    const id = c.conversationId;
    const old = this.env.convs.get(id);
    if (old) { if (old !== c) Object.assign(old, c); } else this.env.convs.set(id, c);
    if (!this.order.includes(id)) { this.order.unshift(id); this.toTop.push(id); } else if (top && this.order[0] !== id) {
      this.order.splice(this.order.indexOf(id), 1);
      this.order.unshift(id);
      this.toTop.push(id);
    }
    this.dirty.add(id);
    this.env.schedule();
  }

  remove(id) {
    this.env.convs.delete(id);
    const i = this.order.indexOf(id);
    if (i >= 0) this.order.splice(i, 1);
    const li = this.rows.get(id);
    if (li) li.remove();
    this.rows.delete(id);
    this.env.schedule();
  }

  touch(id) { if (this.env.convs.has(id)) { this.dirty.add(id); this.env.schedule(); } }
  touchAll() { for (const id of this.order) this.dirty.add(id); this.env.schedule(); }

  /* Rows of direct conversations with `user`: their presence dot changed. */
  touchUser(user) {
    for (const id of this.order) {
      const c = this.env.convs.get(id);
      if (c && c.type === 'direct' && c.members.includes(user)) this.dirty.add(id);
    }
    this.env.schedule();
  }

  flush() {
    for (const id of this.dirty) {
      const c = this.env.convs.get(id);
      if (!c) continue;
      let li = this.rows.get(id);
      if (!li) {
        li = this.build(id);
        this.rows.set(id, li);
        if (!this.toTop.includes(id)) this.ul.append(li);
      }
      this.patch(li, c);
    }
    for (const id of this.toTop) {
      const li = this.rows.get(id);
      if (li) this.ul.prepend(li);
    }
    this.dirty.clear();
    this.toTop = [];
  }

  build(id) {
    const a = el('a', { class: 'conv', href: `#/c/${encodeURIComponent(id)}` });
    const li = el('li', { 'data-id': id }, a);
    li._av = el('span', { class: 'avatar', 'aria-hidden': 'true' });
    li._title = el('span', { class: 'conv-title' });
    li._time = el('time', { class: 'conv-time' });
    li._last = el('span', { class: 'conv-last' });
    li._badge = el('span', { class: 'badge' });
    a.append(li._av, el('div', { class: 'conv-body' },
      el('div', { class: 'conv-top' }, li._title, li._time),
      li._bottom = el('div', { class: 'conv-bottom' }, li._last)));
    return li;
  }

  patch(li, c) {
    this.renders++;
    const { me } = this.env;
    const title = convTitle(c, me);
    const other = c.type === 'direct' ? c.members.find((m) => m !== me) : undefined;
    const open = this.env.openId() === c.conversationId;
    const unread = open ? 0 : (c.unread || 0);
    set(li._title, title);
    const ts = c.lastMessage && c.lastMessage.serverTs;
    set(li._time, timeOf(ts));
    if (ts) li._time.title = fullTime(ts);
    set(li._last, preview(c.lastMessage, me));
    if (unread > 0) {
      set(li._badge, String(unread));
      if (!li._badge.isConnected) li._bottom.append(li._badge);
    } else if (li._badge.isConnected) li._badge.remove();
    li.classList.toggle('active', open);
    li.classList.toggle('unread', unread > 0);
    const a = li.firstChild;
    if (open) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    a.setAttribute('aria-label', `${title}${unread > 0 ? `, ${unread} unread` : ''}`);
    avatar(li._av, title, other ? this.env.presence.get(other) === true : undefined);
  }

  /* The unread total over the loaded conversations. */
  unreadTotal() {
    let n = 0;
    const open = this.env.openId();
    for (const c of this.env.convs.values()) if (c.conversationId !== open) n += c.unread || 0;
    return n;
  }
}

function set(node, text) { if (node.textContent !== text) node.textContent = text; }
