/* app.js: the Confab chat page: state, event handling and rendering. */
import { Api, ApiError, Live } from './api.js';
import { $, el, avatar, timeOf, convTitle, preview, tick } from './ui.js';

const S = {
  api: null, live: null, me: null,
  convs: new Map(),          /* conversationId -> conversation (list shape) */
  openId: null,
  msgs: new Map(),           /* seq -> message of the open conversation */
  pending: new Map(),        /* clientMsgId -> pending message */
  receipts: {},              /* userId -> {deliveredSeq, readSeq} (open conv) */
  hasMore: false, loadingOlder: false,
  typing: new Map(),         /* userId -> timer */
  presence: new Map(),       /* userId -> online */
  pushed: new Set(),         /* users whose changes the socket is sent */
  subKey: null,              /* the list last subscribed to, joined */
  media: new Map(),          /* mediaId -> object URL */
  presenceOk: true,
  typingSentAt: 0, typingStop: null,
};

/* ---------- sign in ---------- */

function deviceId() {
  let d = sessionStorage.getItem('confab.device');
  if (!d) {
    d = 'web-' + Math.random().toString(36).slice(2, 10);
    sessionStorage.setItem('confab.device', d);
  }
  return d;
}

function showSignIn(msg) {
  $('#app').hidden = true;
  $('#signin').hidden = false;
  $('#signin-error').textContent = msg || '';
}

async function signIn(auth) {
  const api = new Api(auth);
  try {
    await api.conversations(undefined, 1);
  } catch (e) {
    showSignIn(e.status === 401 ? 'Not accepted: this node wants a valid token.' : `Cannot sign in: ${e.message}`);
    return;
  }
  localStorage.setItem('confab.auth', JSON.stringify(auth));
  S.api = api;
  S.me = auth.user || tokenSubject(auth.token) || 'me';
  $('#signin').hidden = true;
  $('#app').hidden = false;
  $('#me-name').textContent = S.me;
  avatar($('#me-avatar'), S.me);
  await refreshConversations();
  S.live = new Live(api, deviceId(), { onEvent, onState, onOpen });
  S.live.start();
  window.confab = S; /* for the console and the browser tests */
}

function tokenSubject(token) {
  try {
    const p = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(p)).sub;
  } catch { return null; }
}

$('#signin-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const user = $('#signin-user').value.trim();
  const token = $('#signin-token').value.trim();
  if (!user && !token) { $('#signin-error').textContent = 'Enter a user name or a token.'; return; }
  signIn(token ? { token } : { user });
});

$('#sign-out').addEventListener('click', () => {
  localStorage.removeItem('confab.auth');
  location.href = location.pathname;
});

/* ---------- connection ---------- */

function onState(state, attempt) {
  const n = $('#conn-state');
  n.dataset.state = state;
  n.textContent = state === 'online' ? 'online'
    : state === 'offline' ? `offline, retrying${attempt > 1 ? ` (${attempt})` : ''}…` : 'connecting…';
}

async function onOpen(reconnected) {
  /* A new socket watches nobody: subscribe again. */
  S.subKey = null;
  subscribePresence();
  if (!reconnected) return;
  /* Whatever sync replays, the list and the open conversation are also
   * refreshed over HTTP, so a node without sync still catches up. */
  await refreshConversations();
  if (S.openId) await fillGap();
}

function onEvent(f) {
  switch (f.type) {
  case 'message': onMessage(f); break;
  case 'recalled': onRecalled(f); break;
  case 'receipt': onReceipt(f); break;
  case 'conversation': onConversation(f); break;
  case 'typing': onTyping(f); break;
  case 'presence': onPresence(f); break;
  case 'ack': onAck(f); break;
  default: break;
  }
}

/* ---------- conversations ---------- */

async function refreshConversations() {
  let list;
  try { list = await S.api.allConversations(); } catch { return; }
  S.convs = new Map(list.map((c) => [c.conversationId, c]));
  renderList();
  subscribePresence();
  refreshPresence();
}

function sortedConvs() {
  const t = (c) => (c.lastMessage && c.lastMessage.serverTs) || c.createdAt || 0;
  return [...S.convs.values()].sort((a, b) => t(b) - t(a));
}

function otherMember(c) { return c.type === 'direct' ? c.members.find((m) => m !== S.me) : undefined; }

function renderList() {
  const ul = $('#conv-list');
  ul.replaceChildren();
  const convs = sortedConvs();
  $('#conv-empty').hidden = convs.length > 0;
  for (const c of convs) {
    const title = convTitle(c, S.me);
    const other = otherMember(c);
    const unread = c.conversationId === S.openId ? 0 : (c.unread || 0);
    const li = el('li', {
      class: 'conv' + (c.conversationId === S.openId ? ' active' : ''),
      'data-id': c.conversationId, onclick: () => openConversation(c.conversationId),
    },
    avatar(el('span', { class: 'avatar' }), title, other ? S.presence.get(other) === true : undefined),
    el('div', { class: 'conv-body' },
      el('div', { class: 'conv-top' },
        el('span', { class: 'conv-title', text: title }),
        el('span', { class: 'conv-time', text: timeOf(c.lastMessage && c.lastMessage.serverTs) })),
      el('div', { class: 'conv-bottom' },
        el('span', { class: 'conv-last', text: preview(c.lastMessage, S.me) }),
        unread > 0 ? el('span', { class: 'badge', text: String(unread) }) : null)));
    ul.append(li);
  }
}

$('#new-conv').addEventListener('click', () => {
  $('#new-error').textContent = '';
  $('#new-form').reset();
  $('#new-title-row').hidden = true;
  $('#new-dialog').showModal();
});
$('#new-cancel').addEventListener('click', () => $('#new-dialog').close());
$('#new-form').addEventListener('change', () => {
  $('#new-title-row').hidden = $('#new-form').elements.type.value !== 'group';
});
$('#new-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const type = $('#new-form').elements.type.value;
  const members = $('#new-members').value.split(/[\s,]+/).filter((m) => m && m !== S.me);
  if (type === 'direct' && members.length !== 1) {
    $('#new-error').textContent = 'A direct conversation has exactly one other member.';
    return;
  }
  const body = { type, members };
  if (type === 'group' && $('#new-title').value.trim()) body.title = $('#new-title').value.trim();
  /* an idempotency key: a create retried after a lost answer is the same group */
  if (type === 'group') body.clientMsgId = clientMsgId();
  try {
    const c = await S.api.createConversation(body);
    $('#new-dialog').close();
    if (!S.convs.has(c.conversationId)) S.convs.set(c.conversationId, { ...c, unread: 0 });
    renderList();
    openConversation(c.conversationId);
  } catch (e) {
    $('#new-error').textContent = e.message;
  }
});

function onConversation(f) {
  const c = f.conversation;
  if (!c) return;
  if (!c.members.includes(S.me)) {
    S.convs.delete(c.conversationId);
    if (S.openId === c.conversationId) closeConversation();
  } else {
    const old = S.convs.get(c.conversationId) || {};
    S.convs.set(c.conversationId, { ...old, ...c });
  }
  renderList();
  subscribePresence();
  refreshPresence();
}

/* ---------- presence ---------- */

/*
 * The socket is sent presence changes only of the users it subscribes to
 * (at most 256): the members of the open conversation, then the other
 * member of each direct conversation in the list, in list order. The server
 * pushes only users sharing a small conversation with us; the answer says
 * which ("subscribed"), and the others are polled by refreshPresence.
 */
const SUB_MAX = 256;

function watchedUsers() {
  const users = new Set();
  const open = S.convs.get(S.openId);
  if (open) for (const m of open.members) if (m !== S.me && users.size < SUB_MAX) users.add(m);
  for (const c of sortedConvs()) {
    const o = otherMember(c);
    if (o && users.size < SUB_MAX) users.add(o);
  }
  return [...users];
}

function subscribePresence() {
  if (!S.live || !S.live.online) return;
  const users = watchedUsers();
  const key = users.join(',');
  if (key === S.subKey) return;
  if (S.live.post({ type: 'presence_subscribe', users })) S.subKey = key;
}

function onPresence(f) {
  if (!Array.isArray(f.users)) return;
  /* The answer to a subscribe (it has an id) says who is pushed. */
  if (f.id !== undefined) S.pushed = new Set(f.users.filter((u) => u.subscribed).map((u) => u.userId));
  let changed = false;
  for (const u of f.users) {
    if (S.presence.get(u.userId) === !!u.online) continue;
    S.presence.set(u.userId, !!u.online);
    changed = true;
  }
  if (changed) { renderList(); renderHead(); }
}

/* Pull the users shown but not pushed (all of them before the socket opens). */
async function refreshPresence() {
  if (!S.presenceOk) return;
  const users = new Set();
  for (const c of S.convs.values()) for (const m of c.members) if (m !== S.me && !S.pushed.has(m)) users.add(m);
  if (users.size === 0) return;
  try {
    const r = await S.api.presence([...users].slice(0, 100));
    for (const [u, p] of Object.entries(r)) S.presence.set(u, !!(p && p.online));
    renderList();
    renderHead();
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 400)) S.presenceOk = false;
  }
}

setInterval(refreshPresence, 30000);

/* ---------- one conversation ---------- */

function closeConversation() {
  S.openId = null;
  $('#chat-pane').hidden = true;
  $('#chat-empty').hidden = false;
  $('#app').classList.remove('open');
}

async function openConversation(id) {
  S.openId = id;
  S.msgs = new Map();
  S.receipts = {};
  S.hasMore = false;
  for (const t of S.typing.values()) clearTimeout(t);
  S.typing.clear();
  renderTyping();
  $('#chat-empty').hidden = true;
  $('#chat-pane').hidden = false;
  $('#app').classList.add('open');
  $('#message-list').replaceChildren();
  renderHead();
  renderList();
  subscribePresence();
  try {
    const [conv, hist] = await Promise.all([S.api.conversation(id), S.api.history(id)]);
    if (S.openId !== id) return;
    S.convs.set(id, { ...(S.convs.get(id) || {}), ...conv });
    S.receipts = conv.receipts || {};
    for (const m of hist.messages) S.msgs.set(m.seq, m);
    S.hasMore = hist.hasMore;
    renderHead();
    renderMessages({ toBottom: true });
    markRead();
  } catch (e) {
    $('#chat-sub').textContent = `cannot open: ${e.message}`;
  }
  $('#composer-input').focus();
}

function renderHead() {
  const c = S.convs.get(S.openId);
  if (!c) return;
  const title = convTitle(c, S.me);
  const other = otherMember(c);
  $('#chat-title').textContent = title;
  avatar($('#chat-avatar'), title, other ? S.presence.get(other) === true : undefined);
  $('#chat-sub').textContent = other
    ? (S.presence.get(other) ? 'online' : (S.presenceOk ? 'offline' : ''))
    : `${c.members.length} members`;
}

async function loadOlder() {
  if (!S.hasMore || S.loadingOlder || !S.openId) return;
  const id = S.openId;
  const first = Math.min(...S.msgs.keys());
  S.loadingOlder = true;
  $('#history-more').hidden = false;
  try {
    const r = await S.api.history(id, { beforeSeq: first });
    if (S.openId !== id) return;
    const box = $('#messages');
    const before = box.scrollHeight - box.scrollTop;
    for (const m of r.messages) S.msgs.set(m.seq, m);
    S.hasMore = r.hasMore && r.messages.length > 0;
    renderMessages();
    box.scrollTop = box.scrollHeight - before;
  } catch { /* retried on the next scroll */ } finally {
    S.loadingOlder = false;
    $('#history-more').hidden = true;
  }
}
$('#messages').addEventListener('scroll', () => { if ($('#messages').scrollTop < 60) loadOlder(); });

async function fillGap() {
  const id = S.openId;
  const last = S.msgs.size ? Math.max(...S.msgs.keys()) : 0;
  try {
    for (let from = last + 1; ;) {
      const r = await S.api.history(id, { fromSeq: from, limit: 200 });
      if (S.openId !== id) return;
      for (const m of r.messages) S.msgs.set(m.seq, m);
      if (!r.messages.length || from > r.lastSeq || !r.hasMore) break;
      from = r.messages[r.messages.length - 1].seq + 1;
    }
    const conv = await S.api.conversation(id);
    S.receipts = conv.receipts || S.receipts;
    renderMessages({ toBottom: true });
    markRead();
  } catch { /* the next reconnect tries again */ }
}

function tickState(m) {
  let best = 'sent';
  for (const [u, r] of Object.entries(S.receipts)) {
    if (u === S.me) continue;
    if ((r.readSeq || 0) >= m.seq) return 'read';
    if ((r.deliveredSeq || 0) >= m.seq) best = 'delivered';
  }
  return best;
}

function mediaImage(att) {
  const img = el('img', { alt: att.name || 'image', 'data-media': att.mediaId });
  const set = (url) => { img.src = url; };
  if (S.media.has(att.mediaId)) set(S.media.get(att.mediaId));
  else S.api.mediaUrl(att.mediaId).then((u) => { S.media.set(att.mediaId, u); set(u); })
    .catch(() => { img.replaceWith(el('span', { text: `[${att.name || 'image'}: unavailable]` })); });
  return img;
}

function renderMessage(m, prev) {
  const mine = m.senderId === S.me;
  const c = S.convs.get(S.openId);
  const state = m.pending ? (m.failed ? 'failed' : 'pending') : tickState(m);
  const li = el('li', {
    class: `msg${mine ? ' mine' : ''}${m.recalled ? ' recalled' : ''}${m.pending ? ' pending' : ''}`,
    'data-seq': m.seq, 'data-sender': m.senderId,
  });
  if (!mine && c && c.type === 'group' && (!prev || prev.senderId !== m.senderId))
    li.append(el('div', { class: 'sender', text: m.senderId }));
  const bubble = el('div', { class: 'bubble' });
  if (m.recalled) bubble.textContent = mine ? 'You recalled this message' : 'This message was recalled';
  else if (m.msgType === 'image' && m.attachment) {
    bubble.append(mediaImage(m.attachment));
    if (m.content) bubble.append(el('div', { text: m.content }));
  } else bubble.textContent = m.content || '';
  li.append(bubble);
  const meta = el('div', { class: 'meta' }, el('span', { text: timeOf(m.serverTs) }));
  if (mine && !m.recalled) {
    meta.append(tick(state));
    if (!m.pending) meta.append(el('button', { class: 'recall', title: 'Recall', text: 'Recall', onclick: () => recall(m.seq) }));
  }
  li.append(meta);
  return li;
}

function renderMessages({ toBottom = false } = {}) {
  const box = $('#messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const list = $('#message-list');
  const ms = [...S.msgs.values()].sort((a, b) => a.seq - b.seq);
  for (const p of S.pending.values()) if (p.conversationId === S.openId) ms.push(p);
  const out = [];
  let prev = null;
  for (const m of ms) { out.push(renderMessage(m, prev)); prev = m; }
  list.replaceChildren(...out);
  if (toBottom || atBottom) box.scrollTop = box.scrollHeight;
  if (S.hasMore && box.scrollHeight <= box.clientHeight + 10) loadOlder();
}

/* ---------- live events ---------- */

function onMessage(m) {
  const c = S.convs.get(m.conversationId);
  if (!c) { refreshConversations(); return; }
  const isNew = !c.lastMessage || m.seq > c.lastMessage.seq;
  if (isNew) {
    c.lastMessage = m;
    c.lastSeq = Math.max(c.lastSeq || 0, m.seq);
  }
  if (m.senderId !== S.me) {
    if (isNew && m.conversationId !== S.openId && m.seq > (c.readSeq || 0))
      c.unread = Math.max(0, c.lastSeq - (c.readSeq || 0));
    S.live.post({ type: 'delivered', conversationId: m.conversationId, upToSeq: m.seq });
    clearTyping(m.senderId);
  }
  if (m.conversationId === S.openId) {
    for (const [k, p] of S.pending) if (p.senderId === S.me && k === m.clientMsgId) S.pending.delete(k);
    S.msgs.set(m.seq, m);
    renderMessages();
    markRead();
  }
  renderList();
}

function onRecalled(f) {
  const c = S.convs.get(f.conversationId);
  if (c && c.lastMessage && c.lastMessage.seq === f.seq) c.lastMessage = { ...c.lastMessage, recalled: true };
  if (f.conversationId === S.openId && S.msgs.has(f.seq)) {
    const m = S.msgs.get(f.seq);
    S.msgs.set(f.seq, { ...m, recalled: true, content: undefined, attachment: undefined });
    renderMessages();
  }
  renderList();
}

function onReceipt(f) {
  const c = S.convs.get(f.conversationId);
  if (f.userId === S.me && c) {
    c.readSeq = Math.max(c.readSeq || 0, f.readSeq || 0);
    c.deliveredSeq = Math.max(c.deliveredSeq || 0, f.deliveredSeq || 0);
    if (c.readSeq >= (c.lastSeq || 0)) c.unread = 0;
    else refreshConversations();
    renderList();
  }
  if (f.conversationId === S.openId) {
    const r = S.receipts[f.userId] || {};
    S.receipts[f.userId] = {
      deliveredSeq: Math.max(r.deliveredSeq || 0, f.deliveredSeq || 0),
      readSeq: Math.max(r.readSeq || 0, f.readSeq || 0),
    };
    renderMessages();
  }
}

function onAck(f) {
  const p = S.pending.get(f.clientMsgId);
  if (!p) return;
  S.pending.delete(f.clientMsgId);
  if (f.conversationId === S.openId && !S.msgs.has(f.seq))
    S.msgs.set(f.seq, { ...p, pending: false, seq: f.seq, serverTs: f.serverTs, messageId: f.messageId });
  renderMessages();
}

/* ---------- reading ---------- */

let readTimer = null;
function markRead() {
  if (!S.openId || document.hidden) return;
  clearTimeout(readTimer);
  readTimer = setTimeout(async () => {
    const c = S.convs.get(S.openId);
    if (!c) return;
    const last = Math.max(0, ...S.msgs.keys());
    if (!last || (c.readSeq || 0) >= last) { c.unread = 0; renderList(); return; }
    try {
      const r = await S.api.receipt(c.conversationId, 'read', last);
      c.readSeq = Math.max(c.readSeq || 0, r.readSeq || last);
      c.unread = 0;
      renderList();
    } catch { /* retried on the next message */ }
  }, 150);
}
document.addEventListener('visibilitychange', markRead);
window.addEventListener('focus', markRead);

/* ---------- sending ---------- */

let seqNo = 0;
function clientMsgId() { return `${deviceId()}-${Date.now().toString(36)}-${(seqNo++).toString(36)}`; }

async function sendMessage(body) {
  const id = S.openId;
  const cm = clientMsgId();
  const pending = { ...body, conversationId: id, clientMsgId: cm, senderId: S.me, pending: true, seq: Infinity, serverTs: Date.now() };
  S.pending.set(cm, pending);
  renderMessages({ toBottom: true });
  const req = { conversationId: id, clientMsgId: cm, msgType: body.msgType || 'text', content: body.content || '' };
  if (body.attachment) req.attachment = body.attachment;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const a = await S.api.send(req);
      onAck({ ...a, clientMsgId: cm });
      const c = S.convs.get(id);
      if (c && (!c.lastMessage || a.seq > c.lastMessage.seq)) {
        c.lastMessage = { ...req, seq: a.seq, senderId: S.me, serverTs: a.serverTs };
        c.lastSeq = Math.max(c.lastSeq || 0, a.seq);
        renderList();
      }
      return;
    } catch (e) {
      /* 503 / network: the same clientMsgId is always safe to retry */
      if (e instanceof ApiError && e.status !== 503 && e.status !== 429) break;
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
    }
  }
  pending.failed = true;
  renderMessages();
}

$('#composer').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $('#composer-input');
  const text = input.value.trim();
  if (!text || !S.openId) return;
  input.value = '';
  sendTyping('stop');
  sendMessage({ msgType: 'text', content: text });
});

$('#file-input').addEventListener('change', async (ev) => {
  const file = ev.target.files[0];
  ev.target.value = '';
  if (!file || !S.openId) return;
  try {
    const up = await S.api.upload(file);
    sendMessage({
      msgType: 'image', content: '',
      attachment: { mediaId: up.mediaId, mime: up.mime || file.type, size: up.size || file.size, name: file.name },
    });
  } catch (e) {
    alert(e.status === 404 ? 'This node does not take attachments yet.' : `Upload failed: ${e.message}`);
  }
});

async function recall(seq) {
  if (!confirm('Recall this message for everyone?')) return;
  try {
    await S.api.recall(S.openId, seq);
    onRecalled({ conversationId: S.openId, seq });
  } catch (e) {
    alert(`Cannot recall: ${e.message}`);
  }
}

/* ---------- typing ---------- */

function sendTyping(state) {
  if (!S.openId || !S.live) return;
  clearTimeout(S.typingStop);
  if (state === 'start') {
    S.typingStop = setTimeout(() => sendTyping('stop'), 4000);
    if (Date.now() - S.typingSentAt < 3000) return;
    S.typingSentAt = Date.now();
  } else {
    if (!S.typingSentAt) return;
    S.typingSentAt = 0;
  }
  S.live.post({ type: 'typing', conversationId: S.openId, state });
}
$('#composer-input').addEventListener('input', () => {
  if ($('#composer-input').value) sendTyping('start'); else sendTyping('stop');
});
$('#composer-input').addEventListener('blur', () => sendTyping('stop'));

function clearTyping(user) {
  clearTimeout(S.typing.get(user));
  if (S.typing.delete(user)) renderTyping();
}

function onTyping(f) {
  if (f.userId === S.me || f.conversationId !== S.openId) return;
  clearTimeout(S.typing.get(f.userId));
  if (f.state === 'start') S.typing.set(f.userId, setTimeout(() => clearTyping(f.userId), 6000));
  else S.typing.delete(f.userId);
  renderTyping();
}

function renderTyping() {
  const who = [...S.typing.keys()];
  $('#typing').textContent = who.length === 0 ? ''
    : who.length === 1 ? `${who[0]} is typing…` : `${who.join(', ')} are typing…`;
}

/* ---------- start ---------- */

(function boot() {
  const q = new URLSearchParams(location.search);
  let auth = null;
  if (q.get('user')) auth = { user: q.get('user') };
  else if (q.get('token')) auth = { token: q.get('token') };
  else {
    try { auth = JSON.parse(localStorage.getItem('confab.auth')); } catch { auth = null; }
  }
  if (auth && (auth.user || auth.token)) signIn(auth);
  else showSignIn();
})();
