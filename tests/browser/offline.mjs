/* offline.mjs: the page never loses what the person typed. Messages typed
 * offline wait in the outbox (localStorage) and are sent after, once each,
 * in order; a reload keeps the outbox; a failed message can be discarded by
 * hand; the banner tells the connection's state, also when the node hangs
 * (SIGSTOP: the socket stays open and silent); and when the page's own node
 * is killed (SIGKILL) it moves to another node and carries on. */

async function api(url, user, method, path, body) {
  const r = await fetch(url + path, { method, headers: { 'Content-Type': 'application/json', 'X-Confab-User': user },
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

/* The texts of the conversation's latest messages, in seq order. */
async function texts(url, user, id) {
  const r = await api(url, user, 'GET', `/v1/conversations/${id}/messages?limit=200&consistent=1`);
  return r.messages.map((m) => m.content);
}

export function register({ test, expect, env }) {
  const T = 15000;
  let ctx, page, conv, url;

  const type = async (p, text) => {
    await p.fill('#composer-input', text);
    await p.press('#composer-input', 'Enter');
  };

  test('messages_typed_offline_are_sent_after_once_and_in_order', async () => {
    const { browser, cluster, contexts } = env();
    url = cluster.urls[0];
    conv = (await api(url, 'olga', 'POST', '/v1/conversations', { type: 'direct', members: ['pete'] })).conversationId;
    ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    contexts.push(ctx);
    page = await ctx.newPage();
    page.on('pageerror', (e) => console.log(`# olga page error: ${e.message}`));
    await page.goto(`${url}/?user=olga#/c/${conv}`);
    await page.waitForSelector('#conn-state[data-state="online"]', { timeout: T });
    await type(page, 'before going offline');
    await page.locator('#message-list li.msg', { hasText: 'before going offline' }).waitFor({ timeout: T });
    await ctx.setOffline(true);
    await page.waitForSelector('#conn-banner:not([hidden])', { timeout: T });
    const banner = await page.textContent('#conn-banner');
    expect(/Next attempt in \d+ s|Reconnecting/.test(banner), `banner says "${banner}"`);
    expect(await page.getAttribute('#conn-state', 'data-state') !== 'online', 'still says online while offline');
    for (const t of ['offline one', 'offline two', 'offline three']) await type(page, t);
    await page.waitForFunction(() => document.querySelectorAll('#pending-list li.pending').length === 3, null, { timeout: T });
    const kept = await page.evaluate(() => JSON.parse(localStorage.getItem('confab.outbox.olga')).map((i) => i.content));
    expect(kept.join('|') === 'offline one|offline two|offline three', `outbox holds ${kept}`);
    await ctx.setOffline(false);
    await page.waitForSelector('#conn-banner', { state: 'hidden', timeout: 30000 });
    await page.waitForFunction(() => document.querySelectorAll('#pending-list li').length === 0, null, { timeout: T });
    await page.locator('#message-list li.msg', { hasText: 'offline three' }).waitFor({ timeout: T });
    const got = (await texts(cluster.urls[1], 'pete', conv)).filter((t) => /^offline /.test(t));
    expect(got.join('|') === 'offline one|offline two|offline three', `stored: ${got.join('|')}`);
  });

  test('outbox_survives_a_reload', async () => {
    const { cluster } = env();
    await ctx.setOffline(true);
    await page.waitForSelector('#conn-banner:not([hidden])', { timeout: T });
    for (const t of ['kept one', 'kept two']) await type(page, t);
    await page.waitForFunction(() => document.querySelectorAll('#pending-list li.pending').length === 2, null, { timeout: T });
    await page.close();
    await ctx.setOffline(false);
    page = await ctx.newPage();
    page.on('pageerror', (e) => console.log(`# olga page error: ${e.message}`));
    await page.goto(`${url}/?user=olga#/c/${conv}`);
    await page.locator('#message-list li.msg', { hasText: 'kept two' }).waitFor({ timeout: T });
    await page.waitForFunction(() => document.querySelectorAll('#pending-list li').length === 0, null, { timeout: T });
    const got = (await texts(cluster.urls[2], 'pete', conv)).filter((t) => /^(offline|kept) /.test(t));
    expect(got.join('|') === 'offline one|offline two|offline three|kept one|kept two', `stored: ${got.join('|')}`);
    expect(await page.evaluate(() => localStorage.getItem('confab.outbox.olga')) === '[]', 'outbox not emptied');
  });

  test('a_failed_message_can_be_discarded_by_hand', async () => {
    await type(page, 'x'.repeat(100001));
    const failed = page.locator('#pending-list li.failed');
    await failed.waitFor({ timeout: T });
    expect(await failed.locator('button.retry').count() === 1, 'no retry button');
    await failed.locator('button.discard').focus();
    await page.keyboard.press('Enter');
    await failed.waitFor({ state: 'detached', timeout: T });
    expect(await page.evaluate(() => localStorage.getItem('confab.outbox.olga')) === '[]', 'outbox not emptied');
    expect(await page.locator('#toast').isHidden(), 'an error toast is left');
  });

  test('a_hung_node_is_noticed_and_left', async () => {
    const { cluster, openAs } = env();
    const hana = await openAs('hana', 2, 'laptop');
    await hana.waitForFunction(() => window.confab.live.nodes.length === 3, null, { timeout: T });
    /* The banner and the state are transient (another node may answer
     * within half a second): record that they showed, then check. */
    await hana.evaluate(() => {
      const b = document.querySelector('#conn-banner'), st = document.querySelector('#conn-state');
      window.__seen = { banner: false, offline: false };
      const look = () => {
        if (!b.hidden) window.__seen.banner = true;
        if (st.dataset.state !== 'online') window.__seen.offline = true;
      };
      new MutationObserver(look).observe(b, { attributes: true });
      new MutationObserver(look).observe(st, { attributes: true });
    });
    cluster.kill(2, 'SIGSTOP');
    try {
      /* the socket stays open, nothing answers: the next ping finds out */
      const t0 = Date.now();
      await hana.evaluate(() => window.confab.live.heartbeat());
      await hana.waitForFunction(() => window.__seen.banner, null, { timeout: T });
      console.log(`# hung node noticed ${Date.now() - t0} ms after a ping`);
      expect(await hana.evaluate(() => window.__seen.offline), 'never stopped saying online');
      await hana.waitForFunction(() => window.confab.live.node !== '' && window.confab.live.online, null, { timeout: 40000 });
      await hana.waitForSelector('#conn-state[data-state="online"]', { timeout: 40000 });
      const node = await hana.evaluate(() => window.confab.live.node);
      expect(node && node !== new URL(cluster.urls[1]).origin, `reconnected to ${node || 'its own node'}`);
    } finally {
      cluster.kill(2, 'SIGCONT');
    }
  });

  test('page_moves_to_another_node_when_its_node_is_killed', async () => {
    const { cluster, openAs } = env();
    const id = (await api(cluster.urls[0], 'kim', 'POST', '/v1/conversations', { type: 'direct', members: ['lee'] })).conversationId;
    const kim = await openAs('kim', 3, 'laptop');
    const lee = await openAs('lee', 1, 'phone');
    await kim.evaluate((c) => { location.hash = `#/c/${c}`; }, id);
    await lee.evaluate((c) => { location.hash = `#/c/${c}`; }, id);
    await type(kim, 'before the crash');
    await lee.locator('#message-list li.msg', { hasText: 'before the crash' }).waitFor({ timeout: T });
    await kim.waitForFunction(() => window.confab.live.nodes.length === 3, null, { timeout: T });
    /* the banner may show for half a second only: record that it did */
    await kim.evaluate(() => {
      const b = document.querySelector('#conn-banner');
      window.__bannerSeen = false;
      new MutationObserver(() => { if (!b.hidden) window.__bannerSeen = true; }).observe(b, { attributes: true });
    });
    cluster.kill(3);
    await kim.waitForFunction(() => window.__bannerSeen, null, { timeout: T });
    await type(kim, 'during the failover');
    await kim.waitForSelector('#conn-state[data-state="online"]', { timeout: 40000 });
    const node = await kim.evaluate(() => window.confab.live.node);
    expect(node && node !== new URL(cluster.urls[2]).origin, `reconnected to ${node}`);
    await type(kim, 'after the failover');
    await lee.locator('#message-list li.msg', { hasText: 'after the failover' }).waitFor({ timeout: T });
    await type(lee, 'lee answers');
    await kim.locator('#message-list li.msg', { hasText: 'lee answers' }).waitFor({ timeout: T });
    const got = (await texts(cluster.urls[0], 'lee', id)).filter((t) => / the (crash|failover)$/.test(t));
    expect(got.join('|') === 'before the crash|during the failover|after the failover', `stored: ${got.join('|')}`);
  });
}
