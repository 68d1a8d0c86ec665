/* seed.mjs: a user with a large history, through the client API: `convs`
 * direct conversations of `user` with peers `${prefix}0..`, each peer
 * sending `msgs / convs` messages (every peer stays within its own rate
 * burst), `concurrency` requests in flight spread over the nodes. */

async function post(url, user, path, body) {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(url + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Confab-User': user },
      body: JSON.stringify(body),
    });
    if (r.ok) return r.json();
    if ((r.status === 429 || r.status === 503) && attempt < 50) {
      await new Promise((res) => setTimeout(res, 200 + 100 * attempt));
      continue;
    }
    throw new Error(`${path} as ${user}: ${r.status} ${await r.text()}`);
  }
}

async function pool(n, jobs, concurrency) {
  let next = 0;
  const worker = async () => { while (next < n) { const i = next++; await jobs(i); } };
  await Promise.all([...Array(concurrency)].map(worker));
}

/* Returns [{conversationId, peer}] in creation order. */
export async function seedHistory(urls, { user, prefix, convs, msgs, concurrency = 48, text = (p, k) => `message ${k} from ${p}` }) {
  const out = new Array(convs);
  await pool(convs, async (i) => {
    const peer = `${prefix}${i}`;
    const c = await post(urls[i % urls.length], user, '/v1/conversations', { type: 'direct', members: [peer] });
    out[i] = { conversationId: c.conversationId, peer };
  }, Math.min(concurrency, 16));
  const per = Math.floor(msgs / convs);
  /* interleaved: message k of every conversation, then k + 1 */
  await pool(per * convs, async (j) => {
    const i = j % convs, k = Math.floor(j / convs);
    const { conversationId, peer } = out[i];
    await post(urls[j % urls.length], peer, '/v1/messages', { conversationId, clientMsgId: `seed-${k}`, content: text(peer, k) });
  }, concurrency);
  return out;
}
