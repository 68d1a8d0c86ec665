/* app.js: the Confab chat page: sign-in, routing, live events, receipts,
 * the composer and the outbox. The conversation list (list.js) and the open
 * conversation (pane.js) render incrementally; every change is applied in
 * the next animation frame (schedule/flush). */
import { Api, ApiError, Live } from './api.js';
import { $, el, avatar, convTitle } from './ui.js';
import { ConvList } from './list.js';
import { Pane } from './pane.js';
import { Outbox } from './outbox.js';
import { Members } from './members.js';
import { setupNotify, notify } from './notify.js';
import { Composer } from './compose.js';
import { Quotes } from './reply.js';
import { Search } from './search.js';

const S = {
  api: null, live: null, me: null, list: null, pane: null, outbox: null,
  convs: new Map(),          /* conversationId -> conversation (list shape) */
  openId: null,
  listCursor: null, listMore: false, listBusy: false,
  receipts: {},              /* userId -> {deliveredSeq, readSeq} (open conv) */
  typing: new Map(),         /* userId -> timer */
  presence: new Map(),       /* userId -> online */
  pushed: new Set(),         /* users whose changes the socket is sent */
  subKey: null,
  media: new Map(),          /* mediaId -> object URL */
  presenceOk: true,
  typingSentAt: 0, typingStop: null,
  delivered: new Map(),      /* conversationId -> highest seq received, not yet reported */
  fetching: new Set(),       /* conversations being fetched (unknown to the list) */
  titles: new Map(),         /* conversationId -> title, for search results outside the list */
  composer: null, quotes: null, search: null,
  /* figures the browser tests read */
  stats: { evt: new Map(), shownMs: [], pageMs: [], listShownAt: 0, signInAt: 0 },
};

/* ---------- the frame scheduler ---------- */

let frameQueued = false;
function schedule() {
  if (frameQueued) return;
  frameQueued = true;
  const run = () => { frameQueued = false; flush(); };
  /* a hidden tab gets no animation frames: a timer keeps state current */
  if (document.hidden) setTimeout(run, 100); else requestAnimationFrame(run);
}
function flush() {
  S.list.flush();
  S.pane.flush();
  const n = S.list.unreadTotal();
  const title = n > 0 ? `(${n}) Confab` : 'Confab';
  if (document.title !== title) document.title = title;
  $('#conv-empty').hidden = S.convs.size > 0 || S.listMore;
}

/* ---------- messages in the page ---------- */

function toast(msg) {
  $('#toast-text').textContent = msg;
  $('#toast').hidden = false;
}
$('#toast-close').addEventListener('click', () => { $('#toast').hidden = true; });

function announce(text) { $('#announcer').textContent = text; }

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
  S.stats.signInAt = performance.now();
  window.confab = S; /* for the console and the browser tests */
  const api = new Api(auth);
  S.api = api;
  S.me = auth.user || tokenSubject(auth.token) || 'me';
  S.list = new ConvList($('#conv-list'), { me: S.me, convs: S.convs, presence: S.presence, openId: () => S.openId, schedule });
  S.quotes = new Quotes({ api, me: S.me, openId: () => S.openId, inWindow: (seq) => S.pane.msg(seq),
    requote: (seq) => S.pane.requote(seq), jump: (seq) => goTo(S.openId, seq) });
  S.pane = new Pane({
    api, me: S.me, convs: S.convs, receipts: () => S.receipts, schedule,
    onRecall: (seq, li) => S.composer.askRecall(seq, li), onReply: (m) => S.composer.reply(m),
    onEdit: (m) => S.composer.edit(m), quote: (m) => S.quotes.node(m), onQuotes: (seq, m) => S.quotes.update(seq, m),
    onSeen: markRead, media: mediaNode, pageTimes: S.stats.pageMs,
    shown: (m) => {
      const t = S.stats.evt.get(m.messageId);
      if (t !== undefined) { S.stats.evt.delete(m.messageId); S.stats.shownMs.push(performance.now() - t); }
    },
  });
  /* The socket first, then the list: whatever commits after the list was
   * read reaches the page as a live event. */
  /* made once (their listeners stay); they read S for the signed-in state */
  if (!S.composer) S.composer = new Composer({ get api() { return S.api; }, get me() { return S.me; }, get pane() { return S.pane; },
    openId: () => S.openId, conv: () => S.convs.get(S.openId), send: sendMessage, toast, onEdited, onRecalled, newId: clientMsgId });
  if (!S.search) S.search = new Search({ get api() { return S.api; }, get me() { return S.me; }, go: goHash, fetchConv: fetchTitle,
    title: (id) => (S.convs.has(id) ? convTitle(S.convs.get(id), S.me) : S.titles.get(id) || null) });
  S.members = new Members({ api, me: S.me, conv: () => S.convs.get(S.openId), toast,
    onChanged: (c) => { S.list.upsert(c); renderHead(); } });
  setupNotify();
  S.live = new Live(api, deviceId(), { onEvent, onState, onOpen });
  S.outbox = new Outbox(S.me, { post: (f) => S.live.post(f), onChange: renderOutbox });
  S.live.start();
  let first;
  try {
    first = await api.conversations(undefined, 50);
  } catch (e) {
    S.live.stop();
    showSignIn(e.status === 401 ? 'Not accepted: this node wants a valid token.' : `Cannot sign in: ${e.message}`);
    return;
  }
  localStorage.setItem('confab.auth', JSON.stringify(auth));
  $('#signin').hidden = true;
  $('#app').hidden = false;
  $('#me-name').textContent = S.me;
  avatar($('#me-avatar'), S.me);
  /* A drop before any event syncs from the list's moment. */
  if (first.syncCursor) S.live.adoptCursor(first.syncCursor);
  S.listCursor = first.cursor;
  S.listMore = !!first.hasMore;
  S.list.addPage(first.conversations);
  if (!document.hidden) await new Promise((r) => requestAnimationFrame(() => r()));
  S.stats.listShownAt = performance.now();
  for (const c of first.conversations) noteDelivered(c.conversationId, c.lastSeq || 0, c);
  refreshPresence();
  route();
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

/* More of the list when scrolled near its end. */
async function loadMoreConvs() {
  if (!S.listMore || S.listBusy) return;
  S.listBusy = true;
  $('#conv-more').hidden = false;
  try {
    const r = await S.api.conversations(S.listCursor, 50);
    S.listCursor = r.cursor;
    S.listMore = !!r.hasMore;
    S.list.addPage(r.conversations.filter((c) => !S.list.order.includes(c.conversationId)));
  } catch { /* the next scroll tries again */ } finally {
    S.listBusy = false;
    $('#conv-more').hidden = true;
  }
}
$('#conv-list').addEventListener('scroll', () => {
  const u = $('#conv-list');
  if (u.scrollTop + u.clientHeight > u.scrollHeight - 300) loadMoreConvs();
}, { passive: true });

/* ---------- routes: #/c/ID opens a conversation, #/c/ID/m/SEQ opens it
 * at message SEQ (highlighted), #/ the list ---------- */

function route() {
  if (!S.list) return;
  const m = /^#\/c\/([^/]+)(?:\/m\/(\d+))?$/.exec(location.hash);
  const id = m ? decodeURIComponent(m[1]) : null;
  const at = m && m[2] ? Number(m[2]) : 0;
  if (id && id !== S.openId) openConversation(id, at);
  else if (id && at) S.pane.jumpTo(at);
  else if (!id && S.openId) closeConversation();
}
window.addEventListener('hashchange', route);

/* Go to hash h; the same hash again (a result opened twice) routes anyway. */
function goHash(h) {
  if (location.hash === h) route(); else location.hash = h;
}
function goTo(id, seq) { goHash(`#/c/${encodeURIComponent(id)}/m/${seq}`); }

/* A conversation's title for a search result outside the loaded list. */
async function fetchTitle(id) {
  if (S.titles.has(id) || S.convs.has(id)) return;
  const c = await S.api.conversation(id);
  S.titles.set(id, convTitle(c, S.me));
}

/* ---------- connection ---------- */

let bannerTimer = null;
function onState(state, info) {
  const n = $('#conn-state');
  n.dataset.state = state;
  n.textContent = state === 'online' ? 'online' : state === 'offline' ? 'offline' : 'connecting…';
  clearInterval(bannerTimer);
  const banner = $('#conn-banner');
  if (state === 'online') { banner.hidden = true; return; }
  if (state === 'connecting' && !S.live.opened && info.attempt === 0) return;
  const text = () => {
    if (state === 'connecting') return `Reconnecting${info.node ? ` to ${new URL(info.node).host}` : ''}…`;
    const s = Math.max(0, Math.ceil((info.nextAt - Date.now()) / 1000));
    return `Disconnected. Next attempt in ${s} s (attempt ${info.attempt}). Messages you send are kept and sent when back online.`;
  };
  $('#conn-banner-text').textContent = text();
  banner.dataset.state = state;
  banner.hidden = false;
  if (state === 'offline') bannerTimer = setInterval(() => { $('#conn-banner-text').textContent = text(); }, 1000);
  if (state === 'offline') S.outbox.reset();
}
$('#conn-retry').addEventListener('click', () => S.live.retryNow());

async function onOpen(reconnected, node) {
  S.subKey = null;
  subscribePresence();
  /* HTTP follows the socket to another node when that node answers CORS;
   * otherwise it stays on this page's origin. */
  if (node && S.api.base !== node) {
    try {
      const r = await fetch(`${node}/v1/cluster`, { headers: S.api.headers() });
      S.api.base = r.ok ? node : '';
    } catch { S.api.base = ''; }
  } else if (!node) S.api.base = '';
  S.api.cluster().then((cl) => S.live.learnNodes(cl)).catch(() => {});
  if (!S.live.syncing) afterSync(reconnected);
}

/* The socket is current: catch up on what the page shows, drain the outbox. */
async function afterSync(reconnected) {
  S.outbox.pump();
  if (!reconnected) return;
  if (!S.live.cursor || !S.live.opened) {
    /* no cursor (nothing arrived yet): the first page of the list again */
    try { S.list.mergeFirst((await S.api.conversations(undefined, 50)).conversations); } catch { /* next time */ }
  }
  if (S.openId) {
    S.pane.newer(true);
    try { S.receipts = (await S.api.conversation(S.openId)).receipts || S.receipts; S.pane.patchTicks(); } catch { /* next time */ }
  }
}

function onEvent(f) {
  switch (f.type) {
  case 'message': onMessage(f); break;
  case 'recalled': onRecalled(f); break;
  case 'edited': onEdited(f); break;
  case 'receipt': onReceipt(f); break;
  case 'conversation': onConversation(f); break;
  case 'typing': onTyping(f); break;
  case 'presence': onPresence(f); break;
  case 'ack': onAck(f); break;
  case 'error': if (!S.outbox.error(f.id, f.code, f.message)) console.warn('confab:', f.code, f.message); break;
  case 'synced': afterSync(true); break;
  default: break;
  }
}

/* ---------- conversations ---------- */

function otherMember(c) { return c.type === 'direct' ? c.members.find((m) => m !== S.me) : undefined; }

/* A conversation the list does not hold yet: fetch it once, put it on top. */
async function fetchConv(id) {
  if (S.fetching.has(id)) return;
  S.fetching.add(id);
  try {
    const c = await S.api.conversation(id);
    delete c.receipts;
    S.list.upsert(c, true);
    noteDelivered(id, c.lastSeq || 0, c);
    subscribePresence();
  } catch { /* not ours (any more) */ } finally { S.fetching.delete(id); }
}

function openDialog() {
  $('#new-error').textContent = '';
  $('#new-form').reset();
  $('#new-title-row').hidden = true;
  $('#new-dialog').showModal();
}
$('#new-conv').addEventListener('click', openDialog);
$('#new-conv-2').addEventListener('click', openDialog);
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
    if (!S.convs.has(c.conversationId)) S.list.upsert({ ...c, unread: 0 }, true);
    location.hash = `#/c/${encodeURIComponent(c.conversationId)}`;
  } catch (e) {
    $('#new-error').textContent = e.message;
  }
});

function onConversation(f) {
  const c = f.conversation;
  if (!c) return;
  if (!c.members.includes(S.me)) {
    S.list.remove(c.conversationId);
    if (S.openId === c.conversationId) location.hash = '#/';
  } else {
    delete c.receipts;
    S.list.upsert(c, !S.convs.has(c.conversationId));
    if (S.openId === c.conversationId) renderHead();
  }
  subscribePresence();
}

/* ---------- presence ---------- */

/* The socket is sent presence changes only of the users it subscribes to
 * (at most 256): the members of the open conversation, then the other
 * member of each direct conversation in the list, in list order; the
 * others are polled by refreshPresence. */
const SUB_MAX = 256;

function watchedUsers() {
  const users = new Set();
  const open = S.convs.get(S.openId);
  if (open) for (const m of open.members) if (m !== S.me && users.size < SUB_MAX) users.add(m);
  for (const id of S.list.order) {
    const o = otherMember(S.convs.get(id));
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
  if (f.id !== undefined) S.pushed = new Set(f.users.filter((u) => u.subscribed).map((u) => u.userId));
  for (const u of f.users) {
    if (S.presence.get(u.userId) === !!u.online) continue;
    S.presence.set(u.userId, !!u.online);
    S.list.touchUser(u.userId);
  }
  renderHead();
}

/* Pull the users shown but not pushed (the open conversation's first). */
async function refreshPresence() {
  if (!S.presenceOk || !S.api) return;
  const users = new Set();
  const open = S.convs.get(S.openId);
  if (open) for (const m of open.members) if (m !== S.me && !S.pushed.has(m)) users.add(m);
  for (const id of S.list.order) {
    const o = otherMember(S.convs.get(id));
    if (o && !S.pushed.has(o)) users.add(o);
    if (users.size >= 100) break;
  }
  if (users.size === 0) return;
  try {
    const r = await S.api.presence([...users].slice(0, 100));
    for (const [u, p] of Object.entries(r)) {
      if (S.presence.get(u) === !!(p && p.online)) continue;
      S.presence.set(u, !!(p && p.online));
      S.list.touchUser(u);
    }
    renderHead();
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 400)) S.presenceOk = false;
  }
}
setInterval(refreshPresence, 30000);

/* ---------- one conversation ---------- */

function closeConversation() {
  const was = S.openId;
  S.openId = null;
  S.composer.reset();
  S.pane.clear();
  $('#pending-list').replaceChildren();
  $('#chat-pane').hidden = true;
  $('#chat-empty').hidden = false;
  $('#app').classList.remove('open');
  if (was) S.list.touch(was);
  const row = was && document.querySelector(`#conv-list li[data-id="${CSS.escape(was)}"] a`);
  if (row) row.focus();
}

async function openConversation(id, at = 0) {
  const was = S.openId;
  S.openId = id;
  S.composer.reset();
  S.receipts = {};
  for (const t of S.typing.values()) clearTimeout(t);
  S.typing.clear();
  renderTyping();
  $('#chat-empty').hidden = true;
  $('#chat-pane').hidden = false;
  $('#app').classList.add('open');
  if (was) S.list.touch(was);
  if (!S.convs.has(id)) await fetchConv(id);
  if (S.openId !== id) return;
  const c = S.convs.get(id);
  if (!c) { toast(`Conversation ${id} is not available.`); location.hash = '#/'; return; }
  S.list.touch(id);
  renderHead();
  renderOutbox();
  subscribePresence();
  const readSeq = c.readSeq || 0;
  try {
    const [conv] = await Promise.all([S.api.conversation(id), S.pane.open(id, readSeq, at)]);
    if (S.openId !== id) return;
    S.receipts = conv.receipts || {};
    S.pane.patchTicks();
  } catch (e) {
    if (S.openId === id) toast(`Cannot open the conversation: ${e.message}`);
  }
  if (at) return; /* the message jumped to has the focus */
  if (matchMedia('(min-width: 701px)').matches || document.activeElement === document.body) $('#composer-input').focus();
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
  S.members.update();
}

function mediaNode(m) {
  const att = m.attachment;
  if (m.msgType === 'file' || !(att.mime || '').startsWith('image/')) {
    const a = el('a', { class: 'file', href: '#', text: `📎 ${att.name || 'file'} (${Math.ceil((att.size || 0) / 1024)} KiB)` });
    a.addEventListener('click', async (ev) => {
      ev.preventDefault();
      try {
        const url = await S.api.mediaUrl(att.mediaId);
        const d = el('a', { href: url, download: att.name || 'file' });
        document.body.append(d); d.click(); d.remove();
      } catch (e) { toast(`Cannot download: ${e.message}`); }
    });
    return a;
  }
  const img = el('img', { alt: att.name || 'image', 'data-media': att.mediaId });
  const set = (url) => { img.src = url; };
  if (S.media.has(att.mediaId)) set(S.media.get(att.mediaId));
  else S.api.mediaUrl(att.mediaId).then((u) => { S.media.set(att.mediaId, u); set(u); })
    .catch(() => { img.replaceWith(el('span', { text: `[${att.name || 'image'}: unavailable]` })); });
  return img;
}

/* ---------- live events ---------- */

function onMessage(m) {
  if (m.messageId) {
    S.stats.evt.set(m.messageId, performance.now());
    if (S.stats.evt.size > 500) S.stats.evt.delete(S.stats.evt.keys().next().value);
  }
  if (m.senderId === S.me && m.clientMsgId) S.outbox.done(m.clientMsgId);
  const c = S.convs.get(m.conversationId);
  if (!c) { fetchConv(m.conversationId); return; }
  const isNew = !c.lastMessage || m.seq > c.lastMessage.seq;
  if (isNew) {
    c.lastMessage = m;
    c.lastSeq = Math.max(c.lastSeq || 0, m.seq);
    if (m.senderId !== S.me && m.conversationId !== S.openId && m.seq > (c.readSeq || 0))
      c.unread = Math.max(0, c.lastSeq - (c.readSeq || 0));
    S.list.upsert(c, true);
  }
  if (m.senderId !== S.me) {
    noteDelivered(m.conversationId, m.seq, c);
    clearTyping(m.senderId);
    const text = `${m.senderId}: ${m.recalled ? 'message recalled' : m.content || m.msgType}`;
    if (m.conversationId === S.openId && isNew && !S.live.syncing) announce(text);
    if (isNew && !S.live.syncing && (document.hidden || m.conversationId !== S.openId))
      notify(`${convTitle(c, S.me)}${m.mentionsMe ? ' (mentioned you)' : ''}`, text, m.conversationId);
  }
  S.pane.live(m);
}

function onRecalled(f) {
  const c = S.convs.get(f.conversationId);
  if (c && c.lastMessage && c.lastMessage.seq === f.seq) { c.lastMessage = { ...c.lastMessage, recalled: true }; S.list.touch(c.conversationId); }
  if (f.conversationId === S.openId) {
    S.pane.recalled(f.seq);
    S.composer.gone(f.seq);
  }
}

/* An edit (event, sync item, or our own PATCH answered): the list's preview
 * when it is the conversation's last message, the open window's row. */
function onEdited(f) {
  const c = S.convs.get(f.conversationId);
  if (c && c.lastMessage && c.lastMessage.seq === f.seq && !c.lastMessage.recalled) {
    c.lastMessage = { ...c.lastMessage, content: f.content, editedAt: f.editedAt };
    S.list.touch(c.conversationId);
  }
  if (f.conversationId === S.openId) S.pane.edited(f);
}

function onReceipt(f) {
  const c = S.convs.get(f.conversationId);
  if (f.userId === S.me && c) {
    c.readSeq = Math.max(c.readSeq || 0, f.readSeq || 0);
    c.deliveredSeq = Math.max(c.deliveredSeq || 0, f.deliveredSeq || 0);
    c.unread = Math.max(0, (c.lastSeq || 0) - c.readSeq);
    S.list.touch(c.conversationId);
  }
  if (f.conversationId === S.openId) {
    const r = S.receipts[f.userId] || {};
    S.receipts[f.userId] = {
      deliveredSeq: Math.max(r.deliveredSeq || 0, f.deliveredSeq || 0),
      readSeq: Math.max(r.readSeq || 0, f.readSeq || 0),
    };
    S.pane.patchTicks();
  }
}

function onAck(f) {
  const it = S.outbox.done(f.clientMsgId);
  if (!it) return;
  const m = { ...it, seq: f.seq, serverTs: f.serverTs, messageId: f.messageId, senderId: S.me };
  delete m.state; delete m.tries;
  const c = S.convs.get(f.conversationId);
  if (c && (!c.lastMessage || f.seq > c.lastMessage.seq)) {
    c.lastMessage = m;
    c.lastSeq = Math.max(c.lastSeq || 0, f.seq);
    S.list.upsert(c, true);
  }
  S.pane.live(m);
}

/* ---------- receipts: one pointer per conversation, only when it moves ---------- */

/* Seq `seq` of conversation c reached this device. */
function noteDelivered(id, seq, c) {
  if (!c || seq <= Math.max(c.deliveredSeq || 0, c.readSeq || 0)) return;
  if (seq <= (S.delivered.get(id) || 0)) return;
  S.delivered.set(id, seq);
  if (!receiptTimer) receiptTimer = setTimeout(sendReceipts, 300);
}

let receiptTimer = null;
let readWanted = null; /* [conversationId, seq] */
function sendReceipts() {
  receiptTimer = null;
  if (!S.live.online || S.live.syncing) { receiptTimer = setTimeout(sendReceipts, 1000); return; }
  if (readWanted) {
    const [id, seq] = readWanted;
    const c = S.convs.get(id);
    if (c && seq > (c.readSeq || 0) && S.live.post({ type: 'read', conversationId: id, upToSeq: seq })) {
      c.readSeq = seq;
      c.deliveredSeq = Math.max(c.deliveredSeq || 0, seq);
      c.unread = Math.max(0, (c.lastSeq || 0) - seq);
      S.list.touch(id);
    }
    readWanted = null;
  }
  for (const [id, seq] of S.delivered) {
    const c = S.convs.get(id);
    if (c && seq > Math.max(c.deliveredSeq || 0, c.readSeq || 0) &&
        S.live.post({ type: 'delivered', conversationId: id, upToSeq: seq })) c.deliveredSeq = seq;
  }
  S.delivered.clear();
}

/* What is on screen of the open conversation is read (when the page is seen). */
function markRead() {
  if (!S.openId || document.hidden) return;
  const seq = S.pane.seenUpTo();
  const c = S.convs.get(S.openId);
  if (!c || !seq) return;
  if (c.unread) { c.unread = 0; S.list.touch(c.conversationId); }
  if (seq <= (c.readSeq || 0)) return;
  readWanted = [S.openId, seq];
  if (!receiptTimer) receiptTimer = setTimeout(sendReceipts, 150);
}
document.addEventListener('visibilitychange', () => { markRead(); schedule(); });
window.addEventListener('focus', markRead);

/* ---------- sending ---------- */

let seqNo = 0;
function clientMsgId() { return `${deviceId()}-${Date.now().toString(36)}-${(seqNo++).toString(36)}`; }

function sendMessage(body) {
  S.outbox.add({ ...body, conversationId: S.openId, clientMsgId: clientMsgId(), senderId: S.me });
  /* a window away from the end (a search result): back to the latest page */
  if (!S.pane.atLatest) S.pane.toLatest(); else S.pane.box.scrollTop = S.pane.box.scrollHeight;
}

/* The open conversation's unacknowledged messages, below its window. */
function renderOutbox(changed) {
  const ol = $('#pending-list');
  if (!S.openId) return;
  const items = S.outbox.forConv(S.openId);
  const stick = S.pane.nearBottom();
  const keep = new Set(items.map((i) => i.clientMsgId));
  for (const li of [...ol.children]) if (!keep.has(li.dataset.cm)) li.remove();
  for (const it of items) {
    let li = ol.querySelector(`li[data-cm="${CSS.escape(it.clientMsgId)}"]`);
    if (li && changed && changed.clientMsgId === it.clientMsgId) { li.remove(); li = null; }
    if (li) continue;
    const failed = it.state === 'failed';
    li = el('li', { class: `msg mine pending${failed ? ' failed' : ''}`, 'data-cm': it.clientMsgId },
      el('div', { class: 'bubble', text: it.content || (it.attachment ? `📎 ${it.attachment.name || 'file'}` : '') }),
      el('div', { class: 'meta' },
        el('span', { class: 'tick', 'data-state': failed ? 'failed' : 'pending', text: failed ? '!' : '⏱',
          title: failed ? `not sent: ${it.error || ''}` : 'waiting to be sent' }),
        failed ? el('span', { class: 'small', text: `Not sent: ${it.error || 'error'}` }) : null,
        failed ? el('button', { type: 'button', class: 'link retry', text: 'Retry', onclick: () => S.outbox.retry(it.clientMsgId) }) : null,
        el('button', { type: 'button', class: 'link discard', text: 'Discard',
          'aria-label': `Discard the unsent message ${it.content || ''}`.trim(), onclick: () => S.outbox.discard(it.clientMsgId) })));
    ol.append(li);
  }
  if (stick) S.pane.box.scrollTop = S.pane.box.scrollHeight;
}

$('#composer').addEventListener('submit', () => sendTyping('stop'));

$('#file-input').addEventListener('change', async (ev) => {
  const file = ev.target.files[0];
  ev.target.value = '';
  if (!file || !S.openId) return;
  try {
    const up = await S.api.upload(file);
    const image = (up.mime || file.type || '').startsWith('image/');
    sendMessage({
      msgType: image ? 'image' : 'file', content: '',
      attachment: { mediaId: up.mediaId, mime: up.mime || file.type, size: up.size || file.size, name: file.name },
    });
  } catch (e) {
    toast(e.status === 404 ? 'This node does not take attachments yet.' : `Upload failed: ${e.message}`);
  }
});
document.querySelector('label.attach').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); $('#file-input').click(); }
});

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
