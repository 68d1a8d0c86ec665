/* notify.js: desktop notifications (Notification API), only when the
 * person allowed them (asked from the bell button, never on load), for a
 * live message from someone else that is not in plain sight: the tab is
 * hidden or another conversation is open. One notification per
 * conversation (tag), replaced by the next; a click opens it. */
import { $ } from './ui.js';

export function setupNotify() {
  const btn = $('#notify-btn');
  const supported = typeof window.Notification === 'function';
  btn.hidden = !supported || Notification.permission !== 'default';
  btn.addEventListener('click', async () => {
    try { await Notification.requestPermission(); } catch { /* refused */ }
    btn.hidden = Notification.permission !== 'default';
  });
}

export function notify(title, body, conversationId) {
  if (typeof window.Notification !== 'function' || Notification.permission !== 'granted') return false;
  try {
    const n = new Notification(title, { body, tag: conversationId });
    n.onclick = () => { window.focus(); location.hash = `#/c/${encodeURIComponent(conversationId)}`; n.close(); };
    return true;
  } catch { return false; } /* some browsers allow them only from a service worker */
}
