/* search.js: the search box and the mentions view, in the sidebar in place
 * of the conversation list.
 *
 * Search (GET /v1/search) shows its results grouped by conversation: the
 * groups in the order of their newest result, each newest first; "More
 * results" fetches the next page (cursor) into the same groups. Mentions
 * (GET /v1/mentions) are listed newest first, each under its conversation's
 * name. Every result is a link to #/c/ID/m/SEQ: the page opens the
 * conversation at that message (aroundSeq) and highlights it. Escape or
 * the close button goes back to the conversation list. Errors are said in
 * the panel. */
import { $, el, timeOf, fullTime } from './ui.js';
import { quoteText } from './reply.js';

export class Search {
  /* env: {api, me, title(id) -> string|null, fetchConv(id) -> Promise, go(hash)} */
  constructor(env) {
    this.env = env;
    this.kind = null;   /* 'search' | 'mentions' while the panel shows */
    this.q = '';
    this.cursor = null;
    this.groups = new Map(); /* conversationId -> ul (search) */
    this.gen = 0;
    $('#search-form').addEventListener('submit', (ev) => { ev.preventDefault(); this.search($('#search-input').value); });
    $('#search-input').addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && this.kind) { ev.preventDefault(); this.close(); } });
    $('#mentions-btn').addEventListener('click', () => (this.kind === 'mentions' ? this.close() : this.mentions()));
    $('#search-close').addEventListener('click', () => this.close());
    $('#search-more').addEventListener('click', () => this.more());
    $('#search-panel').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { ev.preventDefault(); this.close(); } });
  }

  show(kind, title) {
    this.kind = kind;
    this.gen++;
    this.cursor = null;
    this.groups.clear();
    $('#search-title').textContent = title;
    $('#search-results').replaceChildren();
    $('#search-more').hidden = true;
    $('#search-panel').hidden = false;
    $('#conv-nav').hidden = true;
    $('#conv-empty').classList.add('under-search');
    $('#mentions-btn').setAttribute('aria-pressed', String(kind === 'mentions'));
  }

  close() {
    if (!this.kind) return;
    this.kind = null;
    this.gen++;
    $('#search-panel').hidden = true;
    $('#conv-nav').hidden = false;
    $('#conv-empty').classList.remove('under-search');
    $('#mentions-btn').setAttribute('aria-pressed', 'false');
    $('#search-input').focus();
  }

  status(text) { $('#search-status').textContent = text; }

  async search(q) {
    q = q.trim();
    if (!q) { this.close(); return; }
    this.q = q;
    this.show('search', `Results for “${q}”`);
    await this.page();
  }

  async mentions() {
    this.show('mentions', 'Mentions of you');
    await this.page();
  }

  more() { return this.page(); }

  async page() {
    const gen = this.gen;
    this.status('Searching…');
    $('#search-more').hidden = true;
    let r;
    try {
      r = this.kind === 'search'
        ? await this.env.api.search(this.q, { cursor: this.cursor || undefined, limit: 20 })
        : await this.env.api.mentions({ cursor: this.cursor || undefined, limit: 20 });
    } catch (e) {
      if (gen !== this.gen) return;
      this.status(e.status === 404 ? `This node does not offer ${this.kind === 'search' ? 'search' : 'mentions'} yet.`
        : `${this.kind === 'search' ? 'Search' : 'Mentions'} failed: ${e.message}`);
      return;
    }
    if (gen !== this.gen) return;
    const items = (this.kind === 'search' ? r.results : r.mentions) || [];
    this.cursor = r.cursor || null;
    if (this.kind === 'search') this.addGrouped(items); else this.addFlat(items);
    const n = $('#search-results').querySelectorAll('a.result').length;
    this.status(n === 0 ? (this.kind === 'search' ? 'No messages found.' : 'Nobody has mentioned you yet.')
      : `${n} ${n === 1 ? 'message' : 'messages'}${r.hasMore ? ' so far' : ''}.`);
    $('#search-more').hidden = !(r.hasMore && this.cursor);
  }

  addGrouped(items) {
    for (const m of items) {
      let ul = this.groups.get(m.conversationId);
      if (!ul) {
        ul = el('ul', { class: 'result-list' });
        const h = el('h3', { class: 'result-conv' });
        this.titleInto(h, m.conversationId);
        $('#search-results').append(el('section', { class: 'result-group', 'data-conv': m.conversationId }, h, ul));
        this.groups.set(m.conversationId, ul);
      }
      ul.append(el('li', {}, this.link(m, false)));
    }
  }

  addFlat(items) {
    let ul = $('#search-results').querySelector('ul');
    if (!ul) { ul = el('ul', { class: 'result-list' }); $('#search-results').append(ul); }
    for (const m of items) ul.append(el('li', {}, this.link(m, true)));
  }

  link(m, withConv) {
    const href = `#/c/${encodeURIComponent(m.conversationId)}/m/${m.seq}`;
    const who = m.senderId === this.env.me ? 'You' : m.senderId;
    const head = el('span', { class: 'result-head' }, el('span', { class: 'result-who', text: who }),
      el('time', { class: 'result-time', datetime: new Date(m.serverTs).toISOString(), title: fullTime(m.serverTs), text: timeOf(m.serverTs) }));
    if (withConv) {
      const c = el('span', { class: 'result-in' });
      this.titleInto(c, m.conversationId, 'in ');
      head.insertBefore(c, head.lastChild);
    }
    const text = el('span', { class: 'result-text' });
    this.mark(text, quoteText(m));
    const a = el('a', { class: `result${m.mentionsMe ? ' mention-me' : ''}`, href, 'data-conv': m.conversationId, 'data-seq': m.seq }, head, text);
    /* the same result twice: the hash does not change, jump anyway */
    a.addEventListener('click', (ev) => { ev.preventDefault(); this.env.go(href); });
    return a;
  }

  /* The query's words in bold (a hint only: the server's matching is the
   * truth, accents and all). */
  mark(node, text) {
    const words = this.kind === 'search' ? this.q.split(/\s+/).filter((w) => w.length > 0) : [];
    if (!words.length) { node.textContent = text; return; }
    const re = new RegExp(`(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'gi');
    const parts = text.split(re);
    for (let i = 0; i < parts.length; i++) {
      if (!parts[i]) continue;
      node.append(i % 2 ? el('mark', { text: parts[i] }) : document.createTextNode(parts[i]));
    }
  }

  titleInto(node, id, prefix = '') {
    const t = this.env.title(id);
    node.textContent = prefix + (t || id);
    if (!t) this.env.fetchConv(id).then(() => { const u = this.env.title(id); if (u) node.textContent = prefix + u; }).catch(() => {});
  }
}
