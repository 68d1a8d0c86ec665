/* layout.mjs: the page on a phone and by keyboard: one column with back
 * navigation, hash routes (reload and the back button), the "new messages"
 * marker and day separator, the unread total in the tab title, errors in
 * the page (never a dialog), recall by keyboard only, the full time of any
 * message (not only one's own) on hover and on keyboard focus. */

async function api(url, user, method, path, body) {
  const r = await fetch(url + path, { method, headers: { 'Content-Type': 'application/json', 'X-Confab-User': user },
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

export function register({ test, expect, env }) {
  const T = 15000;
  let conv, conv2;

  const newPage = async (viewport) => {
    const { browser, contexts } = env();
    const ctx = await browser.newContext({ viewport });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.log(`# pia page error: ${e.message}`));
    page.on('dialog', (d) => { console.log(`# unexpected dialog: ${d.message()}`); d.dismiss(); throw new Error('a dialog was opened'); });
    return page;
  };

  test('phone_layout_navigates_list_to_conversation_and_back', async () => {
    const { cluster } = env();
    const url = cluster.urls[0];
    conv = (await api(url, 'pia', 'POST', '/v1/conversations', { type: 'direct', members: ['quin'] })).conversationId;
    conv2 = (await api(url, 'pia', 'POST', '/v1/conversations', { type: 'direct', members: ['ruth'] })).conversationId;
    await api(url, 'pia', 'POST', '/v1/messages', { conversationId: conv, clientMsgId: 'p1', content: 'hello quin' });
    await api(url, 'quin', 'POST', '/v1/messages', { conversationId: conv, clientMsgId: 'q1', content: 'first unread' });
    await api(url, 'quin', 'POST', '/v1/messages', { conversationId: conv, clientMsgId: 'q2', content: 'second unread' });
    const page = await newPage({ width: 390, height: 780 });
    await page.goto(`${url}/?user=pia`);
    await page.waitForSelector('#conn-state[data-state="online"]', { timeout: T });
    /* the server counts every seq past readSeq (pia's own message too) */
    await page.waitForFunction(() => /^\([23]\) Confab$/.test(document.title), null, { timeout: T });
    expect(await page.isVisible('#new-conv'), '+ not visible on the list');
    expect(await page.isHidden('#chat'), 'the chat pane shows beside the list on a phone');
    await page.click(`#conv-list li[data-id="${conv}"]`);
    await page.waitForSelector('#chat-pane:not([hidden])', { timeout: T });
    expect(await page.isHidden('.sidebar'), 'the list shows beside the conversation on a phone');
    expect(await page.isVisible('#back'), 'no back button');
    expect(await page.isVisible('#new-conv-2'), 'no + while a conversation is open');
    expect(new URL(page.url()).hash === `#/c/${conv}`, `url ${page.url()}`);
    /* the unread ones are under a "new messages" marker, after a day separator */
    await page.locator('#message-list li.msg', { hasText: 'second unread' }).waitFor({ timeout: T });
    const order = await page.evaluate(() => [...document.querySelectorAll('#message-list > li')].map((l) => l.className.split(' ')[0] + ':' + l.textContent.slice(0, 12)));
    expect(/^day:Today/.test(order[0]), `first row ${order[0]}`);
    const mk = order.findIndex((o) => o.startsWith('unread-marker'));
    expect(mk > 0 && /first unread/.test(order[mk + 1]), `marker misplaced: ${order.join(', ')}`);
    await page.waitForFunction(() => document.title === 'Confab', null, { timeout: T });
    /* the browser's back button, then forward, then the page's back button */
    await page.goBack();
    await page.waitForSelector('.sidebar', { state: 'visible', timeout: T });
    expect(await page.isHidden('#chat'), 'back did not return to the list');
    await page.goForward();
    await page.waitForSelector('#chat-pane:not([hidden])', { timeout: T });
    await page.click('#back');
    await page.waitForSelector('.sidebar', { state: 'visible', timeout: T });
    await page.click('#new-conv');
    await page.waitForSelector('#new-dialog[open]', { timeout: T });
    await page.click('#new-cancel');
  });

  test('reload_keeps_the_open_conversation', async () => {
    const { cluster } = env();
    const page = await newPage({ width: 1100, height: 700 });
    await page.goto(`${cluster.urls[1]}/?user=pia#/c/${conv2}`);
    await page.waitForFunction(() => document.querySelector('#chat-title').textContent === 'ruth', null, { timeout: T });
    await page.click(`#conv-list li[data-id="${conv}"]`);
    await page.locator('#message-list li.msg', { hasText: 'hello quin' }).waitFor({ timeout: T });
    await page.reload();
    await page.waitForSelector('#chat-pane:not([hidden])', { timeout: T });
    await page.locator('#message-list li.msg', { hasText: 'hello quin' }).waitFor({ timeout: T });
    expect(await page.textContent('#chat-title') === 'quin', 'another conversation after reload');
    await page.goBack();
    await page.waitForFunction(() => document.querySelector('#chat-title').textContent === 'ruth', null, { timeout: T });
    /* a conversation that does not exist: said in the page */
    await page.evaluate(() => { location.hash = '#/c/no-such-conversation'; });
    await page.waitForSelector('#toast:not([hidden])', { timeout: T });
    await page.click('#toast-close');
  });

  test('recall_by_keyboard_only', async () => {
    const { cluster } = env();
    const page = await newPage({ width: 1100, height: 700 });
    await page.goto(`${cluster.urls[2]}/?user=pia#/c/${conv}`);
    await page.waitForSelector('#conn-state[data-state="online"]', { timeout: T });
    await page.locator('#message-list li.msg', { hasText: 'hello quin' }).waitFor({ timeout: T });
    await page.focus('#composer-input');
    await page.keyboard.type('take this back');
    await page.keyboard.press('Enter');
    const li = page.locator('#message-list li.msg.mine', { hasText: 'take this back' });
    await li.waitFor({ timeout: T });
    let found = false;
    for (let i = 0; i < 8 && !found; i++) {
      await page.keyboard.press('Shift+Tab');
      found = await page.evaluate(() => {
        const a = document.activeElement;
        return !!a && a.classList.contains('recall') && /take this back/.test(a.closest('li').textContent);
      });
    }
    expect(found, 'the recall button is not reachable with Shift+Tab from the composer');
    expect(await li.locator('.recall').evaluate((b) => getComputedStyle(b).opacity === '1'), 'focused recall button is invisible');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement && document.activeElement.classList.contains('danger'), null, { timeout: T });
    await page.keyboard.press('Enter');
    await page.locator('#message-list li.recalled', { hasText: 'You recalled' }).waitFor({ timeout: T });
    const r = await api(cluster.urls[0], 'quin', 'GET', `/v1/conversations/${conv}/messages?consistent=1`);
    expect(r.messages.some((m) => m.recalled) && !r.messages.some((m) => m.content === 'take this back'), 'not recalled on the server');
  });

  test('full_time_on_hover_and_on_keyboard_focus_for_every_message', async () => {
    const { cluster } = env();
    const page = await newPage({ width: 1100, height: 700 });
    await page.goto(`${cluster.urls[0]}/?user=pia#/c/${conv}`);
    await page.waitForSelector('#conn-state[data-state="online"]', { timeout: T });
    await page.locator('#message-list li.msg', { hasText: 'second unread' }).waitFor({ timeout: T });
    const tip = (text) => page.evaluate((t) => {
      const li = [...document.querySelectorAll('#message-list li.msg')].find((l) => l.textContent.includes(t));
      const time = li.querySelector('.meta time');
      return { after: getComputedStyle(time, '::after').content, full: time.dataset.full };
    }, text);
    /* nothing shown before: the tip is the full date and time */
    expect((await tip('first unread')).after === 'none', 'the full time shows without hover or focus');
    /* keyboard: Tab into the message list, then the arrow keys between messages */
    await page.focus('#messages');
    await page.keyboard.press('End');
    let found = false;
    for (let i = 0; i < 10 && !found; i++) {
      found = await page.evaluate(() => {
        const a = document.activeElement;
        return a.matches('#message-list li.msg:not(.mine)') && a.textContent.includes('first unread');
      });
      if (!found) await page.keyboard.press('ArrowUp');
    }
    expect(found, 'another member\'s message cannot be focused with the arrow keys');
    const f = await tip('first unread');
    expect(f.after === JSON.stringify(f.full) && /\d{4}/.test(f.full) && /\d:\d\d/.test(f.full), `on focus: ${f.after} (full ${f.full})`);
    /* Tab from the focused row reaches its own actions, then leaves the
     * list (the other rows' actions are not Tab stops) */
    await page.keyboard.press('Tab');
    const t1 = await page.evaluate(() => { const a = document.activeElement; return `${a.className}|${a.closest('li') ? a.closest('li').textContent : ''}`; });
    expect(/\breply\b/.test(t1) && t1.includes('first unread'), `Tab from the row went to ${t1}`);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => !document.activeElement.closest('#message-list')), 'Tab stays among the rows\' actions');
    /* hover over another message of the other member */
    await page.locator('#message-list li.msg', { hasText: 'second unread' }).locator('.bubble').hover();
    const h = await tip('second unread');
    expect(h.after === JSON.stringify(h.full), `on hover: ${h.after}`);
  });
}
