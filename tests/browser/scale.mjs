/* scale.mjs: the chat page with a large history. A user ("hist") with
 * CONFAB_BIG_MSGS messages (default 100,000, the target) in
 * CONFAB_BIG_CONVS direct conversations (default 500), plus a group of
 * 1,000 messages, seeded through the API (about 90 s on a loaded 2-core
 * machine). Prints the figures (TAP comments: list shown after
 * sign-in, live message on screen after its event, scroll-back of a page)
 * and asserts what must hold whatever the machine's speed: one list request
 * at sign-in, the latest page only on open, receipts as one pointer per
 * conversation (counted on the WebSocket), a bounded DOM after scrolling
 * back many pages. */
import { seedHistory } from './seed.mjs';

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
const fmt = (a) => `median ${median(a).toFixed(1)} ms, max ${Math.max(...a).toFixed(1)} ms over ${a.length}`;

async function send(url, user, conversationId, clientMsgId, content) {
  const r = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Confab-User': user },
    body: JSON.stringify({ conversationId, clientMsgId, content }) });
  if (!r.ok) throw new Error(`send: ${r.status} ${await r.text()}`);
  return r.json();
}

export function register({ test, expect, env }) {
  const T = 15000;
  let page, frames, listReqs, histReqs, group;

  test('large_history_is_seeded_through_the_api', async () => {
    const { cluster } = env();
    const convs = Number(process.env.CONFAB_BIG_CONVS || 500);
    const msgs = Number(process.env.CONFAB_BIG_MSGS || 100000);
    const t0 = Date.now();
    await seedHistory(cluster.urls, { user: 'hist', prefix: 'hp', convs, msgs });
    /* a long group conversation, the most recently active one */
    const g = await (await fetch(`${cluster.urls[0]}/v1/conversations`, { method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Confab-User': 'hist' },
      body: JSON.stringify({ type: 'group', title: 'Long story', conversationId: 'long-story',
        members: [...Array(10).keys()].map((i) => `ls${i}`) }) })).json();
    group = g.conversationId;
    let next = 0;
    await Promise.all([...Array(10).keys()].map(async (w) => {
      for (let k = 0; k < 100; k++) {
        const n = next++;
        await send(cluster.urls[w % 3], `ls${w}`, group, `ls-${k}`, `chapter ${n} by ls${w}`);
      }
    }));
    console.log(`# seeded ${msgs} messages in ${convs} conversations + 1,000 in a group: ${Date.now() - t0} ms`);
  });

  test('sign_in_shows_the_list_from_one_paged_request', async () => {
    const { browser, cluster, contexts } = env();
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    contexts.push(ctx);
    page = await ctx.newPage();
    frames = {};
    listReqs = 0;
    histReqs = 0;
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname === '/v1/conversations') listReqs++;
      if (/^\/v1\/conversations\/[^/]+\/messages$/.test(u.pathname)) histReqs++;
    });
    page.on('websocket', (ws) => ws.on('framesent', (f) => {
      try {
        const j = JSON.parse(f.payload);
        frames[j.type] = (frames[j.type] || 0) + 1;
        if (j.type === 'sync' && !j.cursor) frames.syncFromStart = (frames.syncFromStart || 0) + 1;
      } catch { /* not JSON */ }
    }));
    page.on('pageerror', (e) => console.log(`# hist page error: ${e.message}`));
    await page.goto(`${cluster.urls[0]}/?user=hist`);
    await page.waitForSelector('#conv-list li', { timeout: T });
    await page.waitForSelector('#conn-state[data-state="online"]', { timeout: T });
    const st = await page.evaluate(() => ({ shown: window.confab.stats.listShownAt, from: window.confab.stats.listShownAt - window.confab.stats.signInAt }));
    console.log(`# list shown ${st.shown.toFixed(0)} ms after navigation start, ${st.from.toFixed(0)} ms after sign-in began`);
    await page.waitForTimeout(1000);
    const rows = await page.locator('#conv-list li').count();
    expect(listReqs === 1, `${listReqs} list requests at sign-in`);
    expect(rows > 0 && rows <= 50, `${rows} rows after sign-in`);
    /* a socket that opens after the list syncs from the list's moment
     * (its syncCursor), never from the start */
    expect(!frames.syncFromStart, 'a fresh page replays the history (sync without a cursor)');
    const c0 = await page.evaluate(() => window.confab.live.cursor);
    expect(!frames.sync || c0, 'a sync sent without a cursor to sync from');
    expect((frames.delivered || 0) <= rows, `${frames.delivered} delivered frames for ${rows} conversations`);
    expect(await page.locator('#conv-list li').first().getAttribute('data-id') === group, 'the most recent conversation is not first');
    /* the next page when the list is scrolled to its end */
    await page.evaluate(() => { const u = document.querySelector('#conv-list'); u.scrollTop = u.scrollHeight; });
    await page.waitForFunction((n) => document.querySelectorAll('#conv-list li').length > n, rows, { timeout: T });
    expect(listReqs === 2, `${listReqs} list requests after one scroll`);
  });

  test('open_loads_the_latest_page_and_live_messages_are_appended', async () => {
    const { cluster } = env();
    await page.click(`#conv-list li[data-id="${group}"]`);
    await page.waitForFunction(() => document.querySelector('#message-list li.msg:last-child')?.dataset.seq === '1000', null, { timeout: T });
    await page.waitForTimeout(300);
    const shown = await page.locator('#message-list li.msg').count();
    expect(histReqs === 1, `${histReqs} history requests to open`);
    expect(shown <= 50, `${shown} messages shown on open`);
    const before = { ...frames };
    for (let i = 0; i < 15; i++) {
      await send(cluster.urls[1], `ls${i % 10}`, group, `live-${i}`, `live line ${i}`);
      await page.locator('#message-list li.msg .bubble', { hasText: new RegExp(`^live line ${i}$`) }).waitFor({ timeout: T });
    }
    const ms = await page.evaluate(() => window.confab.stats.shownMs.slice(-15));
    console.log(`# live message on screen after its event: ${fmt(ms)}`);
    const ann = await page.textContent('#announcer');
    expect(/live line 14/.test(ann), `live region says "${ann}"`);
    expect(await page.getAttribute('#messages', 'aria-live') === 'off', 'the message list is a live region');
    /* a burst of 120 from another node: receipts stay one pointer per conversation */
    const t0 = Date.now();
    await Promise.all([...Array(120).keys()].map((i) => send(cluster.urls[2], `ls${i % 10}`, group, `burst-${i}`, `burst ${i}`)));
    await page.waitForFunction(() => [...document.querySelectorAll('#message-list li.msg')].some((l) => /burst/.test(l.textContent)) &&
      Number(document.querySelector('#message-list li.msg:last-child').dataset.seq) >= 1135, null, { timeout: T });
    console.log(`# 120 messages sent in ${Date.now() - t0} ms (with their acks) all on screen`);
    await page.waitForTimeout(800);
    const reads = (frames.read || 0) - (before.read || 0);
    const dels = (frames.delivered || 0) - (before.delivered || 0);
    console.log(`# receipt frames for 135 live messages: ${reads} read, ${dels} delivered`);
    expect(reads >= 1 && reads <= 40, `${reads} read frames for 135 messages`);
    expect(dels <= 5, `${dels} delivered frames in the open conversation`);
    const dom = await page.evaluate(() => document.querySelectorAll('#message-list *').length);
    const n = await page.locator('#message-list li.msg').count();
    expect(n <= 150, `${n} messages in the DOM after 135 live ones`);
    console.log(`# DOM after the burst: ${n} messages, ${dom} nodes`);
  });

  test('scroll_back_many_pages_keeps_the_dom_bounded', async () => {
    const pageMs = [];
    let first = await page.evaluate(() => window.confab.pane.first);
    for (let i = 0; i < 14 && first > 1; i++) {
      await page.evaluate(() => { document.querySelector('#messages').scrollTop = 0; });
      await page.waitForFunction((f) => window.confab.pane.first < f && !window.confab.pane.busy, first, { timeout: T });
      first = await page.evaluate(() => window.confab.pane.first);
    }
    pageMs.push(...await page.evaluate(() => window.confab.stats.pageMs));
    console.log(`# scroll-back of a page (request and render): ${fmt(pageMs)}; window now starts at seq ${first}`);
    const n = await page.locator('#message-list li.msg').count();
    const dom = await page.evaluate(() => document.querySelectorAll('#message-list *').length);
    console.log(`# DOM after scrolling back: ${n} messages, ${dom} nodes`);
    expect(first <= 600, `scrolled back only to seq ${first}`);
    expect(n <= 150 && dom <= 1500, `${n} messages, ${dom} nodes after scrolling back`);
    expect(await page.locator('#message-list li.day').count() >= 1, 'no day separator');
    /* and back to the end */
    await page.click('#jump-latest');
    await page.locator('#message-list li.msg', { hasText: 'burst' }).last().waitFor({ timeout: T });
    await page.waitForFunction(() => window.confab.pane.atLatest, null, { timeout: T });
  });
}
