/* compose.js: the composer and the actions on a message: reply, edit,
 * recall.
 *
 * Reply: the next message sent carries replyTo; a bar above the composer
 * says what is being replied to, with a Cancel button (Escape too). Edit: the
 * composer takes the message's text and Send saves it
 * (PATCH .../messages/{seq} with a clientEditId kept across retries of the
 * same text, so a retry after a lost answer is the same edit); the bar says
 * so, and Escape or Cancel leaves the message as it was. ArrowUp in an empty
 * composer edits one's latest message. Recall is confirmed in the message's
 * row (never confirm()). Typing `@` offers the conversation's members
 * (ArrowUp/ArrowDown choose, Enter or Tab completes, Escape closes).
 * Errors are shown in the page (toast). */
import { $, el } from './ui.js';
import { quoteText } from './reply.js';

export class Composer {
  /* env: {api, me, openId(), conv(), pane, send(body), toast(msg),
   *       onEdited(frame), onRecalled(frame), newId()} */
  constructor(env) {
    this.env = env;
    this.mode = null; /* {kind: 'reply'|'edit', m, editId?, editText?} */
    this.input = $('#composer-input');
    this.bar = $('#compose-ctx');
    this.sugg = $('#mention-list');
    this.suggIx = 0;
    $('#composer').addEventListener('submit', (ev) => { ev.preventDefault(); this.submit(); });
    $('#compose-ctx-cancel').addEventListener('click', () => { this.cancel(); this.input.focus(); });
    this.input.addEventListener('keydown', (ev) => this.onKey(ev));
    this.input.addEventListener('input', () => this.suggest());
    this.input.addEventListener('blur', () => setTimeout(() => this.closeSuggest(), 150));
  }

  /* Another conversation (or none) is open. */
  reset() { this.cancel(); this.closeSuggest(); }

  reply(m) {
    this.cancel();
    this.mode = { kind: 'reply', m };
    this.showBar(`Replying to ${m.senderId === this.env.me ? 'yourself' : m.senderId}`, quoteText(m), 'Cancel reply');
    this.input.focus();
  }

  edit(m) {
    if (m.recalled || m.senderId !== this.env.me) return;
    this.cancel();
    this.mode = { kind: 'edit', m, saved: this.input.value };
    this.showBar('Editing your message', quoteText(m), 'Cancel edit');
    this.input.value = m.content || '';
    this.input.focus();
    this.input.setSelectionRange(this.input.value.length, this.input.value.length);
  }

  cancel() {
    const was = this.mode;
    this.mode = null;
    this.bar.hidden = true;
    this.input.removeAttribute('aria-describedby');
    $('.composer .send').textContent = 'Send';
    if (was && was.kind === 'edit') this.input.value = was.saved || '';
  }

  /* Message seq of the open conversation was recalled: no reply to it or
   * edit of it any more. */
  gone(seq) {
    if (!this.mode || this.mode.m.seq !== seq) return;
    const editing = this.mode.kind === 'edit';
    this.cancel();
    this.env.toast(editing ? 'The message you were editing was recalled.' : 'The message you were replying to was recalled.');
  }

  showBar(label, text, cancelLabel) {
    $('#compose-ctx-label').textContent = label;
    $('#compose-ctx-text').textContent = text;
    $('#compose-ctx-cancel').setAttribute('aria-label', cancelLabel);
    this.bar.hidden = false;
    this.input.setAttribute('aria-describedby', 'compose-ctx');
    $('.composer .send').textContent = this.mode.kind === 'edit' ? 'Save' : 'Send';
  }

  submit() {
    const text = this.input.value.trim();
    if (!this.env.openId()) return;
    if (this.mode && this.mode.kind === 'edit') { this.saveEdit(text); return; }
    if (!text) return;
    const body = { msgType: 'text', content: text };
    if (this.mode && this.mode.kind === 'reply') body.replyTo = this.mode.m.seq;
    this.input.value = '';
    this.cancel();
    this.closeSuggest();
    this.env.send(body);
  }

  async saveEdit(text) {
    const md = this.mode;
    const m = md.m;
    if (!text) { this.env.toast('An edit cannot be empty: recall the message to remove it.'); return; }
    if (text === m.content) { this.cancel(); return; }
    if (md.editText !== text) { md.editText = text; md.editId = this.env.newId(); }
    const conv = this.env.openId();
    try {
      const r = await this.env.api.edit(conv, m.seq, { content: text, clientEditId: md.editId });
      if (this.mode === md) { this.mode.saved = ''; this.cancel(); }
      this.env.onEdited({ conversationId: conv, seq: m.seq, content: text, editedAt: r.editedAt || Date.now() });
    } catch (e) {
      const why = e.status === 404 ? 'the message is gone (recalled?)' : e.message;
      this.env.toast(`Cannot edit: ${why}`);
    }
  }

  /* The latest message of mine in the window, for ArrowUp. */
  lastMine() {
    const ms = this.env.pane.msgs;
    for (let i = ms.length - 1; i >= 0; i--) if (ms[i].senderId === this.env.me && !ms[i].recalled) return ms[i];
    return null;
  }

  onKey(ev) {
    if (!this.sugg.hidden) {
      const items = [...this.sugg.children];
      if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
        ev.preventDefault();
        this.suggIx = (this.suggIx + (ev.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
        this.markSugg();
        return;
      }
      if (ev.key === 'Enter' || ev.key === 'Tab') { ev.preventDefault(); this.complete(items[this.suggIx].dataset.user); return; }
      if (ev.key === 'Escape') { ev.preventDefault(); this.closeSuggest(); return; }
    }
    if (ev.key === 'Escape' && this.mode) { ev.preventDefault(); this.cancel(); return; }
    if (ev.key === 'ArrowUp' && !this.input.value && !this.mode) {
      const m = this.lastMine();
      if (m) { ev.preventDefault(); this.edit(m); }
    }
  }

  /* ---- @ suggestions: the members whose id starts with what follows @ ---- */

  word() {
    const pos = this.input.selectionStart || 0;
    const before = this.input.value.slice(0, pos);
    const w = /(^|\s)@([A-Za-z0-9._:@-]*)$/.exec(before);
    return w ? { start: pos - w[2].length, end: pos, prefix: w[2] } : null;
  }

  suggest() {
    const c = this.env.conv();
    const w = this.word();
    if (!c || !w) { this.closeSuggest(); return; }
    const p = w.prefix.toLowerCase();
    const users = c.members.filter((u) => u !== this.env.me && u.toLowerCase().startsWith(p)).slice(0, 8);
    if (!users.length) { this.closeSuggest(); return; }
    this.sugg.replaceChildren(...users.map((u, i) => el('li', { role: 'option', id: `mention-opt-${i}`, 'data-user': u, text: `@${u}`,
      onmousedown: (ev) => { ev.preventDefault(); this.complete(u); } })));
    this.suggIx = 0;
    this.sugg.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
    this.markSugg();
  }

  markSugg() {
    [...this.sugg.children].forEach((li, i) => li.setAttribute('aria-selected', String(i === this.suggIx)));
    this.input.setAttribute('aria-activedescendant', `mention-opt-${this.suggIx}`);
  }

  complete(user) {
    const w = this.word();
    if (w) {
      const v = this.input.value;
      this.input.value = `${v.slice(0, w.start)}${user} ${v.slice(w.end)}`;
      const at = w.start + user.length + 1;
      this.input.setSelectionRange(at, at);
    }
    this.closeSuggest();
  }

  closeSuggest() {
    this.sugg.hidden = true;
    this.sugg.replaceChildren();
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }

  /* ---- recall, asked in the message's row, keyboard first ---- */

  askRecall(seq, li) {
    const meta = li.querySelector('.meta');
    if (meta.querySelector('.confirm')) return;
    const box = el('span', { class: 'confirm', role: 'group', 'aria-label': 'Recall this message for everyone?' },
      el('span', { text: 'Recall for everyone?' }));
    const yes = el('button', { type: 'button', class: 'link danger', text: 'Recall', onclick: () => this.doRecall(seq) });
    const no = el('button', { type: 'button', class: 'link', text: 'Cancel', onclick: () => {
      box.remove();
      const b = this.env.pane.nodes.get(seq)?.querySelector('.recall');
      if (b) b.focus();
    } });
    box.append(yes, no);
    box.addEventListener('keydown', (e) => { if (e.key === 'Escape') no.click(); });
    meta.append(box);
    yes.focus();
  }

  async doRecall(seq) {
    const conv = this.env.openId();
    try {
      await this.env.api.recall(conv, seq);
      if (this.mode && this.mode.m.seq === seq) this.cancel();
      this.env.onRecalled({ conversationId: conv, seq });
      this.input.focus();
    } catch (e) {
      this.env.toast(`Cannot recall: ${e.message}`);
    }
  }
}
