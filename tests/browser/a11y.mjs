/* a11y.mjs: axe-core (npm axe-core, installed by `npm ci`) on the sign-in
 * form, the desktop page with a conversation open (and a recall being
 * confirmed), a reply being written with the search results shown, the
 * members dialog, the phone list and the new-conversation
 * dialog: no serious or critical violation. */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';

const require = createRequire(import.meta.url);

function axePath() {
  try { return require.resolve('axe-core/axe.min.js'); } catch { return null; }
}

async function scan(page, what) {
  await page.addScriptTag({ path: axePath() });
  const r = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  for (const v of r) console.log(`# axe ${what}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.join('; ')})`);
  return r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export function register({ test, expect, env }) {
  test('axe_core_finds_no_serious_or_critical_violation', async () => {
    const p = axePath();
    if (!p || !existsSync(p)) return 'SKIP axe-core missing: run npm ci --prefix tests/browser';
    const { browser, cluster, contexts } = env();
    const bad = [];
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${cluster.urls[0]}/`);
    await page.waitForSelector('#signin:not([hidden])', { timeout: 10000 });
    bad.push(...await scan(page, 'sign-in'));
    const r = await fetch(`${cluster.urls[0]}/v1/conversations`, { method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Confab-User': 'axel' },
      body: JSON.stringify({ type: 'group', members: ['bea', 'cyd'], title: 'Accessible' }) });
    const id = (await r.json()).conversationId;
    await page.goto(`${cluster.urls[0]}/?user=axel#/c/${id}`);
    await page.waitForSelector('#conn-state[data-state="online"]', { timeout: 10000 });
    await page.fill('#composer-input', 'is this readable?');
    await page.press('#composer-input', 'Enter');
    const li = page.locator('#message-list li.msg.mine', { hasText: 'is this readable?' });
    await li.waitFor({ timeout: 10000 });
    await li.locator('.recall').focus();
    await page.keyboard.press('Enter');
    await li.locator('.confirm').waitFor({ timeout: 10000 });
    bad.push(...await scan(page, 'desktop'));
    /* replying (the bar above the composer) and the search results panel */
    await page.keyboard.press('Escape');
    await li.locator('.reply').click();
    await page.waitForSelector('#compose-ctx:not([hidden])', { timeout: 10000 });
    await page.fill('#search-input', 'readable');
    await page.press('#search-input', 'Enter');
    await page.waitForSelector('#search-panel:not([hidden])', { timeout: 10000 });
    await page.waitForFunction(() => !/Searching/.test(document.querySelector('#search-status').textContent), null, { timeout: 10000 });
    bad.push(...await scan(page, 'reply and search'));
    await page.click('#search-close');
    await page.click('#compose-ctx-cancel');
    await page.click('#members-btn');
    await page.waitForSelector('#members-dialog[open]', { timeout: 10000 });
    bad.push(...await scan(page, 'members dialog'));
    await page.click('#members-close');
    await page.setViewportSize({ width: 390, height: 780 });
    await page.evaluate(() => { location.hash = '#/'; });
    await page.waitForSelector('.sidebar', { state: 'visible', timeout: 10000 });
    bad.push(...await scan(page, 'phone list'));
    await page.click('#new-conv');
    await page.waitForSelector('#new-dialog[open]', { timeout: 10000 });
    bad.push(...await scan(page, 'new conversation dialog'));
    await page.click('#new-cancel');
    expect(bad.length === 0, `serious or critical: ${bad.map((v) => v.id).join(', ')}`);
  });
}
