/* ui.js: small DOM helpers and the rendering of list items and messages. */

export const $ = (sel) => document.querySelector(sel);

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'style') e.style.cssText = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function hue(s) {
  let h = 0;
  for (const ch of s) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

/* A round avatar with initials; online: undefined (no dot), true or false. */
export function avatar(node, name, online) {
  node.textContent = (name || '?').slice(0, 1).toUpperCase();
  node.style.setProperty('--avatar', `hsl(${hue(name || '?')} 55% 52%)`);
  if (online === undefined) node.removeAttribute('data-online');
  else node.dataset.online = String(online);
  return node;
}

export function timeOf(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  const now = new Date();
  if (d.toDateString() === now.toDateString())
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

export function convTitle(conv, me) {
  if (conv.type === 'direct') return conv.members.find((m) => m !== me) || me;
  return conv.title || conv.members.filter((m) => m !== me).join(', ') || conv.conversationId;
}

export function preview(m, me) {
  if (!m) return 'No messages yet';
  const who = m.senderId === me ? 'You: ' : '';
  if (m.recalled) return `${who}message recalled`;
  if (m.msgType === 'image') return `${who}Photo`;
  if (m.msgType === 'file') return `${who}File`;
  return who + (m.content || '');
}

/* ✓ sent, ✓✓ delivered, ✓✓ (blue) read, ⏱ pending. */
export function tick(state) {
  const t = { pending: '⏱', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' }[state] || '';
  return el('span', { class: 'tick', 'data-state': state, title: state, text: t });
}

/* "Today", "Yesterday" or the date, for day separators. */
export function dayLabel(ts) {
  const d = new Date(ts);
  const today = new Date();
  const y = new Date(today); y.setDate(today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return 'Today';
  if (d.toDateString() === y.toDateString()) return 'Yesterday';
  return d.toLocaleDateString([], { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}
export const dayKey = (ts) => new Date(ts).toDateString();
export const clock = (ts) => new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
export const fullTime = (ts) => new Date(ts).toLocaleString([], { dateStyle: 'full', timeStyle: 'medium' });
