/* extras.mjs: member management by a group's owner (add, remove, seen live
 * by the member concerned), desktop notifications for a message that is not
 * in plain sight (the Notification API stubbed and granted), a file
 * attachment that is not an image (a download link), and a message refused
 * while its sender was out of the group, retried by hand once back in. */

async function api(url, user, method, path, body) {
  const r = await fetch(url + path, { method, headers: { 'Content-Type': 'application/json', 'X-Confab-User': user },
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

/* The page must never open a browser dialog (alert, confirm, prompt):
 * each one is dismissed and counted in page.__dialogs. */
function watchDialogs(page) {
  page.__dialogs = [];
  page.on('dialog', (d) => { console.log(`# unexpected dialog: ${d.message()}`); page.__dialogs.push(d.message()); d.dismiss(); });
}

export function register({ test, expect, env }) {
  const T = 15000;
  let olive, group;

  test('group_owner_adds_and_removes_a_member', async () => {
    const { cluster, browser, contexts, openAs } = env();
    group = (await api(cluster.urls[0], 'olive', 'POST', '/v1/conversations', { type: 'group', title: 'Book club', members: ['pat'] })).conversationId;
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    contexts.push(ctx);
    /* a granted Notification that records what it is asked to show */
    await ctx.addInitScript(() => {
      window.__notes = [];
      window.Notification = class {
        constructor(title, o) { window.__notes.push({ title, body: o && o.body, tag: o && o.tag }); }
        close() {}
        static get permission() { return 'granted'; }
        static requestPermission() { return Promise.resolve('granted'); }
      };
    });
    olive = await ctx.newPage();
    watchDialogs(olive);
    olive.on('pageerror', (e) => console.log(`# olive page error: ${e.message}`));
    await olive.goto(`${cluster.urls[0]}/?user=olive#/c/${group}`);
    await olive.waitForSelector('#conn-state[data-state="online"]', { timeout: T });
    const dan = await openAs('dan', 2, 'laptop');
    await olive.click('#members-btn');
    await olive.fill('#members-add', 'dan');
    await olive.click('#members-submit');
    await dan.locator(`#conv-list li[data-id="${group}"]`).waitFor({ timeout: T });
    await olive.locator('#members-list li[data-user="dan"]').waitFor({ timeout: T });
    /* removing asks first, in the dialog: Cancel (by Escape) keeps dan */
    await olive.locator('#members-list li[data-user="dan"] button.remove').click();
    await olive.waitForFunction(() => document.activeElement && document.activeElement.matches('#members-list li[data-user="dan"] .confirm button.yes'), null, { timeout: T });
    await olive.keyboard.press('Escape');
    await olive.waitForFunction(() => document.activeElement && document.activeElement.matches('#members-list li[data-user="dan"] button.remove'), null, { timeout: T });
    expect(await olive.isVisible('#members-dialog'), 'Escape on the confirmation closed the dialog');
    await olive.waitForTimeout(300);
    expect(await dan.locator(`#conv-list li[data-id="${group}"]`).count() === 1, 'dan removed without a confirmation');
    await olive.keyboard.press('Enter');
    await olive.locator('#members-list li[data-user="dan"] .confirm button.yes').click();
    await dan.locator(`#conv-list li[data-id="${group}"]`).waitFor({ state: 'detached', timeout: T });
    await olive.locator('#members-list li[data-user="dan"]').waitFor({ state: 'detached', timeout: T });
    await olive.click('#members-close');
    const c = await api(cluster.urls[1], 'olive', 'GET', `/v1/conversations/${group}?consistent=1`);
    expect(c.members.sort().join(',') === 'olive,pat', `members ${c.members}`);
    expect(olive.__dialogs.length === 0, `browser dialogs opened: ${olive.__dialogs.join('; ')}`);
  });

  test('desktop_notification_for_a_message_out_of_sight', async () => {
    const { cluster } = env();
    const direct = (await api(cluster.urls[0], 'pat', 'POST', '/v1/conversations', { type: 'direct', members: ['olive'] })).conversationId;
    await api(cluster.urls[2], 'pat', 'POST', '/v1/messages', { conversationId: direct, clientMsgId: 'n1', content: 'ping from pat' });
    await olive.waitForFunction(() => window.__notes.some((n) => n.body === 'pat: ping from pat'), null, { timeout: T });
    const notes = await olive.evaluate(() => window.__notes);
    expect(notes.length === 1 && notes[0].title === 'pat' && notes[0].tag === direct, JSON.stringify(notes));
    /* none for a message in the conversation on screen */
    await api(cluster.urls[2], 'pat', 'POST', '/v1/messages', { conversationId: group, clientMsgId: 'n2', content: 'in the open group' });
    await olive.locator('#message-list li.msg', { hasText: 'in the open group' }).waitFor({ timeout: T });
    expect(await olive.evaluate(() => window.__notes.length) === 1, 'a notification for the open conversation');
  });

  test('file_attachment_is_offered_for_download', async () => {
    const { cluster } = env();
    await olive.setInputFiles('#file-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('chapter one, page 12\n') });
    const link = olive.locator('#message-list li.msg.mine a.file', { hasText: 'notes.txt' });
    await link.waitFor({ timeout: T });
    const dlp = olive.waitForEvent('download', { timeout: T });
    await link.click({ timeout: 5000 });
    const dl = await dlp;
    expect(dl.suggestedFilename() === 'notes.txt', `download named ${dl.suggestedFilename()}`);
    const r = await api(cluster.urls[1], 'pat', 'GET', `/v1/conversations/${group}/messages?consistent=1`);
    const m = r.messages.find((x) => x.msgType === 'file');
    expect(m && m.attachment && m.attachment.name === 'notes.txt', `stored ${JSON.stringify(m)}`);
  });

  test('a_message_refused_while_removed_is_retried_by_hand', async () => {
    const { cluster, browser, contexts } = env();
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    contexts.push(ctx);
    const pat = await ctx.newPage();
    pat.on('pageerror', (e) => console.log(`# pat page error: ${e.message}`));
    await pat.goto(`${cluster.urls[1]}/?user=pat#/c/${group}`);
    await pat.waitForSelector('#conn-state[data-state="online"]', { timeout: T });
    await api(cluster.urls[0], 'olive', 'POST', '/v1/messages', { conversationId: group, clientMsgId: 'w1', content: 'welcome pat' });
    await pat.locator('#message-list li.msg', { hasText: 'welcome pat' }).waitFor({ timeout: T });
    /* pat types offline; meanwhile olive removes pat: the send is refused (403) */
    await ctx.setOffline(true);
    await pat.waitForSelector('#conn-banner:not([hidden])', { timeout: T });
    await pat.fill('#composer-input', 'sorry I am late');
    await pat.press('#composer-input', 'Enter');
    await api(cluster.urls[0], 'olive', 'POST', `/v1/conversations/${group}/members`, { remove: ['pat'] });
    await ctx.setOffline(false);
    await pat.locator(`#conv-list li[data-id="${group}"]`).waitFor({ state: 'detached', timeout: 30000 });
    await pat.waitForFunction(() => JSON.parse(localStorage.getItem('confab.outbox.pat')).some((i) => i.state === 'failed'), null, { timeout: T });
    /* added back: the failed message waits in the conversation, sent on Retry */
    await api(cluster.urls[0], 'olive', 'POST', `/v1/conversations/${group}/members`, { add: ['pat'] });
    await pat.click(`#conv-list li[data-id="${group}"]`);
    const failed = pat.locator('#pending-list li.failed', { hasText: 'sorry I am late' });
    await failed.waitFor({ timeout: T });
    await failed.locator('button.retry').click();
    await pat.locator('#message-list li.msg', { hasText: 'sorry I am late' }).waitFor({ timeout: T });
    await olive.locator('#message-list li.msg', { hasText: 'sorry I am late' }).waitFor({ timeout: T });
    const r = await api(cluster.urls[2], 'olive', 'GET', `/v1/conversations/${group}/messages?consistent=1`);
    expect(r.messages.filter((m) => m.content === 'sorry I am late').length === 1, 'not stored once');
  });
}
