/* chat.test.mjs: the chat page end to end in headless Chromium against a
 * real three-node cluster: alice on node 1, bob on node 2 (and his second
 * device on node 3). Prints TAP. Environment: CHROMIUM, CONFAB_BUILDDIR,
 * CONFAB_SRCDIR; UPDATE_SCREENSHOT=1 also writes docs/screenshot.png and
 * docs/screenshot-phone.png. The other files register more tests: scale.mjs
 * (large history), layout.mjs (phone, routes, keyboard), a11y.mjs (axe-core),
 * extras.mjs (members, notifications), history.mjs (search, edit, reply,
 * mentions),
 * offline.mjs (outbox, failover; last, it kills node 3).
 * CONFAB_BROWSER_ONLY=regex runs only the tests whose names match. */
import { chromium } from 'playwright-core';
import { mkdirSync, existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Cluster } from './cluster.mjs';
import { register as registerScale } from './scale.mjs';
import { register as registerOffline } from './offline.mjs';
import { register as registerLayout } from './layout.mjs';
import { register as registerA11y } from './a11y.mjs';
import { register as registerExtras } from './extras.mjs';
import { register as registerHistory } from './history.mjs';

const SRC = process.env.CONFAB_SRCDIR;
const BUILD = process.env.CONFAB_BUILDDIR || process.cwd();
const BIN = process.env.CONFABD || path.join(BUILD, 'confabd');
const T = 10000; /* per-step wait */
const started = Date.now();

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const expect = (cond, what) => { if (!cond) throw new Error(what); };

/* A raw request, so that "..", "%2e" and friends reach the server as sent. */
function rawGet(url, target) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname, () => {
      s.write(`GET ${target} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`);
    });
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('end', () => resolve(Number(data.split(' ')[1])));
    s.on('error', reject);
  });
}

let cluster, browser, alice, bob, bob2, convId;
const contexts = [];

async function openAs(user, node, device, viewport = { width: 1100, height: 700 }) {
  const ctx = await browser.newContext({ viewport });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.log(`# ${user}/${device} page error: ${e.message}`));
  await page.goto(`${cluster.urls[node - 1]}/?user=${user}`);
  await page.waitForSelector('#conn-state[data-state="online"]', { timeout: T });
  return page;
}

const badge = (page, id) => page.locator(`#conv-list li[data-id="${id}"] .badge`);

test('page_and_assets_are_served_with_content_types', async () => {
  for (const [p, type] of [['/', 'text/html'], ['/app/app.css', 'text/css'], ['/app/app.js', 'text/javascript'],
    ['/app/api.js', 'text/javascript'], ['/app/ui.js', 'text/javascript']]) {
    const r = await fetch(cluster.urls[1] + p);
    expect(r.status === 200, `${p}: ${r.status}`);
    expect((r.headers.get('content-type') || '').startsWith(type), `${p}: ${r.headers.get('content-type')}`);
  }
});

test('static_route_refuses_path_traversal', async () => {
  for (const t of ['/app/../Makefile.am', '/app/..%2fMakefile.am', '/app/%2e%2e/configure.ac',
    '/app/../../etc/passwd', '/app/.app.js', '/app/app.js%00.css', '/app/sub/app.js', '/app/app.c']) {
    const st = await rawGet(cluster.urls[0], t);
    expect(st === 404 || st === 400, `${t} answered ${st}`);
  }
});

test('alice_on_node1_and_bob_on_node2_chat_live_both_ways', async () => {
  alice = await openAs('alice', 1, 'laptop');
  bob = await openAs('bob', 2, 'phone');
  await alice.click('#new-conv');
  await alice.fill('#new-members', 'bob');
  await alice.click('#new-create');
  await alice.waitForSelector('#chat-pane:not([hidden])', { timeout: T });
  convId = await alice.getAttribute('#conv-list li.active', 'data-id');
  expect(convId, 'no active conversation after create');
  await alice.fill('#composer-input', 'hi bob, from node 1');
  await alice.press('#composer-input', 'Enter');
  await alice.waitForSelector('#message-list li.mine:not(.pending) .tick', { timeout: T });
  /* bob (node 2) sees the new conversation with an unread badge, live */
  await badge(bob, convId).filter({ hasText: '1' }).waitFor({ timeout: T });
  await bob.click(`#conv-list li[data-id="${convId}"]`);
  await bob.locator('#message-list li', { hasText: 'hi bob, from node 1' }).waitFor({ timeout: T });
  await bob.fill('#composer-input', 'hello alice, from node 2');
  await bob.press('#composer-input', 'Enter');
  await alice.locator('#message-list li:not(.mine)', { hasText: 'hello alice, from node 2' }).waitFor({ timeout: T });
});

test('sender_sees_read_ticks_when_the_peer_reads', async () => {
  /* bob has the conversation open: alice's message goes to "read" */
  await alice.waitForSelector('#message-list li.mine .tick[data-state="read"]', { timeout: T });
});

test('second_device_sees_unread_then_read_state_move', async () => {
  bob2 = await openAs('bob', 3, 'tablet');
  /* bob closes the conversation on his phone so that nothing reads it */
  await bob.click('#new-conv');
  await bob.click('#new-cancel');
  await bob.evaluate(() => { location.hash = '#/'; });
  await bob.waitForSelector('#chat-pane', { state: 'hidden', timeout: T });
  await alice.fill('#composer-input', 'are you there?');
  await alice.press('#composer-input', 'Enter');
  await badge(bob2, convId).filter({ hasText: '1' }).waitFor({ timeout: T });
  await alice.waitForSelector('#message-list li.mine:last-child .tick[data-state="delivered"]', { timeout: T });
  /* bob reads on his phone: the tablet's badge goes and alice's tick turns read */
  await bob.click(`#conv-list li[data-id="${convId}"]`);
  await bob.locator('#message-list li', { hasText: 'are you there?' }).waitFor({ timeout: T });
  await badge(bob2, convId).waitFor({ state: 'detached', timeout: T });
  await alice.waitForSelector('#message-list li.mine:last-child .tick[data-state="read"]', { timeout: T });
});

test('typing_indicator_reaches_the_other_node', async () => {
  await bob.click('#composer-input');
  await bob.type('#composer-input', 'typing som', { delay: 20 });
  await alice.waitForFunction(() => /bob is typing/.test(document.querySelector('#typing').textContent), null, { timeout: T });
  await bob.fill('#composer-input', '');
});

test('presence_dot_shows_the_peer_online', async () => {
  await alice.waitForSelector('#chat-avatar[data-online="true"]', { timeout: 40000 });
  /* The page subscribed to its direct peer: the server pushes bob's changes
   * to this socket (issue 11: presence_subscribe). */
  await alice.waitForFunction(() => window.confab.pushed.has('bob'), null, { timeout: T });
});

test('recall_of_own_message_reaches_the_peer', async () => {
  await alice.fill('#composer-input', 'oops, wrong chat');
  await alice.press('#composer-input', 'Enter');
  const li = bob.locator('#message-list li', { hasText: 'oops, wrong chat' });
  await li.waitFor({ timeout: T });
  const mine = alice.locator('#message-list li.mine', { hasText: 'oops, wrong chat' });
  await mine.hover();
  await mine.locator('.recall').click();
  await mine.locator('.confirm button.danger').click();
  await bob.locator('#message-list li.recalled', { hasText: 'recalled' }).waitFor({ timeout: T });
  expect(await bob.locator('#message-list li', { hasText: 'oops, wrong chat' }).count() === 0, 'content still shown');
});

test('history_scrolls_back_with_before_seq', async () => {
  const n = 50;
  await alice.evaluate(async ([id, n]) => {
    const post = (i) => fetch('/v1/messages', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Confab-User': 'alice' },
      body: JSON.stringify({ conversationId: id, clientMsgId: `bulk-${i}`, content: `bulk message ${i}` }) });
    for (let i = 0; i < n; i += 10) await Promise.all([...Array(Math.min(10, n - i)).keys()].map((k) => post(i + k)));
  }, [convId, n]);
  const page = await openAs('bob', 2, 'desk');
  /* A new device starts from the list, not from a replay of the history:
   * the open conversation shows its latest page only. */
  await page.click(`#conv-list li[data-id="${convId}"]`);
  await page.locator('#message-list li', { hasText: `bulk message ${n - 1}` }).waitFor({ timeout: T });
  expect(await page.locator('#message-list li', { hasText: 'hi bob, from node 1' }).count() === 0, 'first page already has everything');
  for (let i = 0; i < 10; i++) {
    await page.evaluate(() => { document.querySelector('#messages').scrollTop = 0; });
    if (await page.locator('#message-list li', { hasText: 'hi bob, from node 1' }).count()) break;
    await page.waitForTimeout(300);
  }
  await page.locator('#message-list li', { hasText: 'hi bob, from node 1' }).waitFor({ timeout: T });
});

test('reconnect_after_a_dropped_socket_catches_up', async () => {
  await bob.evaluate(() => { const L = window.confab.live; L.closed = true; L.ws.close(); });
  await bob.waitForSelector('#conn-state[data-state="offline"]', { timeout: T });
  await alice.fill('#composer-input', 'sent while you were away');
  await alice.press('#composer-input', 'Enter');
  await alice.waitForSelector('#message-list li.mine:last-child:not(.pending)', { timeout: T });
  await bob.waitForTimeout(300);
  expect(await bob.locator('#message-list li', { hasText: 'sent while you were away' }).count() === 0, 'delivered to a closed socket');
  await bob.evaluate(() => { const L = window.confab.live; L.closed = false; L.connect(); });
  await bob.waitForSelector('#conn-state[data-state="online"]', { timeout: T });
  await bob.locator('#message-list li', { hasText: 'sent while you were away' }).waitFor({ timeout: T });
  /* and the automatic path: a drop reconnects by itself */
  await bob.evaluate(() => window.confab.live.drop());
  await bob.waitForSelector('#conn-state[data-state="online"]', { timeout: T });
  await alice.fill('#composer-input', 'welcome back');
  await alice.press('#composer-input', 'Enter');
  await bob.locator('#message-list li', { hasText: 'welcome back' }).waitFor({ timeout: T });
});

test('image_attachment_is_shown_inline', async () => {
  const probe = await fetch(`${cluster.urls[0]}/v1/media`, { method: 'POST', headers: { 'X-Confab-User': 'alice', 'Content-Type': 'image/png' }, body: new Uint8Array(0) });
  if (probe.status === 404) return 'SKIP POST /v1/media not served yet';
  /* an 8x8 PNG made by the browser itself */
  const png = await alice.evaluate(async () => {
    const c = document.createElement('canvas'); c.width = 8; c.height = 8;
    const g = c.getContext('2d'); g.fillStyle = '#3b6cf6'; g.fillRect(0, 0, 8, 8);
    const b = await new Promise((r) => c.toBlob(r, 'image/png'));
    return Array.from(new Uint8Array(await b.arrayBuffer()));
  });
  await alice.setInputFiles('#file-input', { name: 'dot.png', mimeType: 'image/png', buffer: Buffer.from(png) });
  await bob.waitForFunction(() => [...document.querySelectorAll('#message-list .bubble img')].some((i) => i.complete && i.naturalWidth === 8), null, { timeout: T });
});

test('group_created_in_the_page_reaches_every_member', async () => {
  const carol = await openAs('carol', 3, 'laptop');
  await alice.click('#new-conv');
  await alice.check('#new-form input[value="group"]');
  await alice.fill('#new-members', 'bob, carol');
  await alice.fill('#new-title', 'Weekend trip');
  await alice.click('#new-create');
  await alice.waitForSelector('#chat-pane:not([hidden])', { timeout: T });
  await alice.waitForFunction(() => document.querySelector('#chat-title').textContent === 'Weekend trip', null, { timeout: T });
  const say = async (page, text) => {
    await page.fill('#composer-input', text);
    await page.press('#composer-input', 'Enter');
    await alice.locator('#message-list li', { hasText: text }).waitFor({ timeout: T });
  };
  await say(alice, 'Who is in for the lake on Saturday?');
  await carol.click('#conv-list li:has-text("Weekend trip")');
  await bob.click('#conv-list li:has-text("Weekend trip")');
  await say(bob, 'Me! I can drive, 4 seats left');
  await say(carol, 'Count me in. I will bring the tent.');
  await say(alice, 'Great, leaving at 8 from my place.');
  await carol.locator('#message-list li', { hasText: 'leaving at 8' }).waitFor({ timeout: T });
});

test('screenshot_is_saved', async () => {
  const dir = path.join(BUILD, 'test-artifacts');
  mkdirSync(dir, { recursive: true });
  await alice.fill('#composer-input', '');
  await bob.fill('#composer-input', 'Should I bring');
  await bob.type('#composer-input', ' snacks?', { delay: 10 });
  await alice.waitForFunction(() => /typing/.test(document.querySelector('#typing').textContent), null, { timeout: T }).catch(() => {});
  await alice.mouse.move(1, 699);
  await alice.evaluate(() => { document.querySelector('#messages').scrollTop = 1e9; });
  await alice.screenshot({ path: path.join(dir, 'chat-alice.png') });
  await bob2.screenshot({ path: path.join(dir, 'chat-bob-tablet.png') });
  expect(existsSync(path.join(dir, 'chat-alice.png')), 'no screenshot');
  /* carol's phone, in the group */
  const phone = await openAs('carol', 1, 'phone', { width: 390, height: 780 });
  await phone.click('#conv-list li:has-text("Weekend trip")');
  await phone.locator('#message-list li', { hasText: 'leaving at 8' }).waitFor({ timeout: T });
  await phone.screenshot({ path: path.join(dir, 'chat-carol-phone.png') });
  if (process.env.UPDATE_SCREENSHOT) {
    await alice.screenshot({ path: path.join(SRC, 'docs', 'screenshot.png') });
    await phone.screenshot({ path: path.join(SRC, 'docs', 'screenshot-phone.png') });
  }
});

const env = () => ({ cluster, browser, contexts, openAs });
registerScale({ test, expect, env });
registerLayout({ test, expect, env });
registerA11y({ test, expect, env });
registerExtras({ test, expect, env });
registerHistory({ test, expect, env });
registerOffline({ test, expect, env }); /* last: it kills node 3 */
/* CONFAB_BROWSER_ONLY=regex runs the tests whose names match (debugging) */
if (process.env.CONFAB_BROWSER_ONLY) {
  const re = new RegExp(process.env.CONFAB_BROWSER_ONLY);
  for (let i = tests.length - 1; i >= 0; i--) if (!re.test(tests[i].name)) tests.splice(i, 1);
}

async function main() {
  console.log(`1..${tests.length}`);
  let failed = 0;
  try {
    cluster = new Cluster({ bin: BIN, web: path.join(SRC, 'web') });
    await cluster.start();
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      /* playwright gives every launch a fresh --user-data-dir of its own */
      timeout: 30000,
    });
  } catch (e) {
    console.log(`# setup failed: ${e.stack || e}`);
    if (cluster) console.log(cluster.logs());
    tests.forEach((t, i) => console.log(`not ok ${i + 1} - ${t.name}`));
    failed = tests.length;
  }
  if (!failed) {
    for (let i = 0; i < tests.length; i++) {
      const t0 = Date.now();
      try {
        const skip = await tests[i].fn();
        console.log(`ok ${i + 1} - ${tests[i].name}${skip ? ` # ${skip}` : ''}`);
      } catch (e) {
        failed++;
        console.log(`not ok ${i + 1} - ${tests[i].name}`);
        console.log(String(e.stack || e).split('\n').slice(0, 6).map((l) => `# ${l}`).join('\n'));
      }
      console.log(`# ${tests[i].name}: ${Date.now() - t0} ms`);
    }
  }
  if (failed && cluster) console.log(cluster.logs());
  for (const c of contexts) await c.close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (cluster) await cluster.stop();
  console.log(`# ${failed} failed, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(failed ? 1 : 0);
}

main();
