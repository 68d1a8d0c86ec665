/* members.js: a group's members dialog. Everyone sees the members and may
 * leave; the owner adds and removes others (POST .../members). Removing a
 * member and leaving are confirmed inside the dialog (a Yes/Cancel group in
 * place, focused, Escape cancels; never confirm()). The list is redrawn
 * from the conversation object, which `conversation` events keep current. */
import { $, el, avatar } from './ui.js';

export class Members {
  /* env: {api, me, conv() -> the open conversation, onChanged(conv), toast(msg)} */
  constructor(env) {
    this.env = env;
    $('#members-btn').addEventListener('click', () => this.show());
    $('#members-close').addEventListener('click', () => $('#members-dialog').close());
    /* Escape while a confirmation is open cancels it, not the dialog */
    $('#members-dialog').addEventListener('cancel', (ev) => {
      const q = $('#members-dialog .confirm');
      if (q) { ev.preventDefault(); q._back(); }
    });
    $('#members-form').addEventListener('submit', (ev) => { ev.preventDefault(); this.add(); });
    $('#members-leave').addEventListener('click', () => this.ask($('#members-leave'), 'Leave this group?', 'Leave',
      () => this.change({ remove: [this.env.me] }, true)));
  }

  /* The header's button: shown for groups. */
  update() {
    const c = this.env.conv();
    $('#members-btn').hidden = !c || c.type !== 'group';
    if ($('#members-dialog').open) this.render();
  }

  show() {
    $('#members-error').textContent = '';
    $('#members-add').value = '';
    this.render();
    $('#members-dialog').showModal();
  }

  render() {
    const c = this.env.conv();
    if (!c) { $('#members-dialog').close(); return; }
    const owner = c.owner === this.env.me;
    $('#members-add-row').hidden = !owner;
    $('#members-submit').hidden = !owner;
    $('#members-list').replaceChildren(...c.members.map((m) => el('li', { 'data-user': m },
      avatar(el('span', { class: 'avatar', 'aria-hidden': 'true' }), m),
      el('span', { class: 'who', text: m === this.env.me ? `${m} (you)` : m }),
      m === c.owner ? el('span', { class: 'muted small', text: 'owner' }) : null,
      owner && m !== this.env.me ? el('button', { type: 'button', class: 'link danger remove', text: 'Remove',
        'aria-label': `Remove ${m}`, onclick: (ev) => this.ask(ev.currentTarget, `Remove ${m} from the group?`, 'Remove',
          () => this.change({ remove: [m] })) }) : null)));
  }

  /* Confirm in place of button b: the question, a Yes button (focused)
   * and Cancel (Escape too), which gives b back its focus. */
  ask(b, question, yesText, action) {
    if (b.hidden) return;
    const box = b.parentNode.querySelector(':scope > .confirm');
    if (box) { box.querySelector('.danger').focus(); return; }
    const q = el('span', { class: 'confirm', role: 'group', 'aria-label': question }, el('span', { text: question }));
    const back = () => { q.remove(); b.hidden = false; b.focus(); };
    const yes = el('button', { type: 'button', class: 'link danger yes', text: yesText, onclick: () => { q.remove(); b.hidden = false; action(); } });
    const no = el('button', { type: 'button', class: 'link no', text: 'Cancel', onclick: back });
    q.append(yes, no);
    q._back = back;
    b.hidden = true;
    b.after(q);
    yes.focus();
  }

  add() {
    const users = $('#members-add').value.split(/[\s,]+/).filter(Boolean);
    if (!users.length) { $('#members-error').textContent = 'Enter a user name.'; return; }
    this.change({ add: users }).then(() => { $('#members-add').value = ''; });
  }

  async change(body, leaving = false) {
    const c = this.env.conv();
    if (!c) return;
    $('#members-error').textContent = '';
    try {
      const r = await this.env.api.members(c.conversationId, body);
      if (leaving) { $('#members-dialog').close(); location.hash = '#/'; return; }
      if (r && r.members) this.env.onChanged({ ...c, ...r });
      this.render();
    } catch (e) {
      $('#members-error').textContent = e.message;
    }
  }
}
