/* api.js: the Confab client protocol (API.md) over fetch and one WebSocket
 * that reconnects by itself (backoff, failover to the cluster's other
 * nodes) and syncs from its cursor after a drop. */

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  /* auth: {user} on a development node, or {token}. base: the node the
   * HTTP calls go to ('' = this page's origin; another node's URL once it
   * answers CORS). */
  constructor(auth) {
    this.auth = auth;
    this.base = '';
    this.requests = 0; /* HTTP requests made (the browser tests read it) */
  }

  headers(extra = {}) {
    const h = { ...extra };
    if (this.auth.token) h.Authorization = `Bearer ${this.auth.token}`;
    else h['X-Confab-User'] = this.auth.user;
    return h;
  }

  async req(method, path, body) {
    const init = { method, headers: this.headers() };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    this.requests++;
    let r;
    try {
      r = await fetch(this.base + path, init);
    } catch (e) {
      throw new ApiError(0, 'network', `network error: ${e.message}`);
    }
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!r.ok) {
      const e = (data && data.error) || {};
      throw new ApiError(r.status, e.code, e.message);
    }
    return data;
  }

  /* One page of the list, most recently active first. */
  conversations(cursor, limit = 50) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set('cursor', cursor);
    return this.req('GET', `/v1/conversations?${q}`);
  }
  conversation(id) { return this.req('GET', `/v1/conversations/${encodeURIComponent(id)}`); }
  createConversation(body) { return this.req('POST', '/v1/conversations', body); }
  members(id, body) { return this.req('POST', `/v1/conversations/${encodeURIComponent(id)}/members`, body); }
  history(id, { beforeSeq, fromSeq, aroundSeq, limit = 50 } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (beforeSeq) q.set('beforeSeq', String(beforeSeq));
    if (fromSeq) q.set('fromSeq', String(fromSeq));
    if (aroundSeq) q.set('aroundSeq', String(aroundSeq));
    return this.req('GET', `/v1/conversations/${encodeURIComponent(id)}/messages?${q}`);
  }
  /* body {content, clientEditId}: an edit of one's own message */
  edit(id, seq, body) {
    return this.req('PATCH', `/v1/conversations/${encodeURIComponent(id)}/messages/${seq}`, body);
  }
  search(text, { conversationId, cursor, limit = 20 } = {}) {
    const q = new URLSearchParams({ q: text, limit: String(limit) });
    if (conversationId) q.set('conversationId', conversationId);
    if (cursor) q.set('cursor', cursor);
    return this.req('GET', `/v1/search?${q}`);
  }
  mentions({ cursor, limit = 20 } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set('cursor', cursor);
    return this.req('GET', `/v1/mentions?${q}`);
  }
  send(body) { return this.req('POST', '/v1/messages', body); }
  recall(id, seq) {
    return this.req('DELETE', `/v1/conversations/${encodeURIComponent(id)}/messages/${seq}`);
  }
  receipt(id, kind, upToSeq) {
    return this.req('POST', `/v1/conversations/${encodeURIComponent(id)}/${kind}`, { upToSeq });
  }
  presence(users) {
    return this.req('GET', `/v1/presence?users=${users.map(encodeURIComponent).join(',')}`);
  }
  cluster() { return this.req('GET', '/v1/cluster'); }
  async upload(file) {
    this.requests++;
    const r = await fetch(this.base + '/v1/media', {
      method: 'POST',
      headers: this.headers({ 'Content-Type': file.type || 'application/octet-stream' }),
      body: file,
    });
    const data = await r.json().catch(() => null);
    if (!r.ok) {
      const e = (data && data.error) || {};
      throw new ApiError(r.status, e.code, e.message);
    }
    return data;
  }
  async mediaUrl(mediaId) {
    const r = await fetch(`${this.base}/v1/media/${encodeURIComponent(mediaId)}`, { headers: this.headers() });
    if (!r.ok) throw new ApiError(r.status, 'media', `media ${mediaId}: ${r.status}`);
    return URL.createObjectURL(await r.blob());
  }

  /* The WebSocket URL on node `origin` (http(s)://host:port, '' = ours). */
  wsUrl(deviceId, origin) {
    const u = new URL(origin || location.origin);
    const proto = u.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = new URLSearchParams({ deviceId });
    if (this.auth.token) q.set('token', this.auth.token);
    else q.set('user', this.auth.user);
    return `${proto}//${u.host}/v1/ws?${q}`;
  }
}

/*
 * Live: one WebSocket with automatic reconnect and failover.
 *
 * Nodes: this page's origin first, then every other client URL /v1/cluster
 * listed (learned on each open). A connection attempt that fails moves to the
 * next node; after a whole round the wait doubles (0.5 s .. 15 s, jittered).
 * A ping every 10 s; a socket that has not answered it with its pong 5 s
 * after it (or when the browser says it went offline) is taken as dead
 * and closed, so the state shown is honest within 15 s. After every (re)connect, `sync` from the last
 * cursor seen (a fresh page starts from the list and the live events, not
 * from a replay of the whole history: the list's first page gives the
 * cursor of its moment, adoptCursor).
 *
 * Handlers: onEvent(frame), onState(state, info) with state 'connecting',
 * 'online', 'offline' and info {attempt, nextAt, node}, onOpen(reconnected,
 * node), onSynced().
 */
export class Live {
  /* A cursor learned elsewhere (the list's syncCursor): kept if newer. */
  adoptCursor(c) {
    const n = (x) => (typeof x === 'string' && x[0] === 'm' ? Number(x.slice(1)) : -1);
    if (n(c) >= 0 && n(c) > n(this.cursor)) this.cursor = c;
  }

  constructor(api, deviceId, handlers) {
    this.api = api;
    this.deviceId = deviceId;
    this.h = handlers;
    this.ws = null;
    this.attempt = 0;
    this.opened = false;
    this.closed = false;
    this.cursor = null;
    this.nextId = 1;
    this.pingTimer = null;
    this.retryTimer = null;
    this.synced = false;
    this.syncing = false;
    this.nodes = [''];
    this.nodeIx = 0;
    this.lastRx = 0;
    this.waitPong = null; /* id of the ping whose pong is awaited */
    this.nextAt = 0;
    this.sent = {}; /* frames sent, by type (the browser tests read it) */
    this.onOffline = () => this.abandon('offline');
    window.addEventListener('offline', this.onOffline);
    window.addEventListener('online', () => this.retryNow());
  }

  get node() { return this.nodes[this.nodeIx] || ''; }

  /* Nodes from a /v1/cluster answer: ours first, the others in its order. */
  learnNodes(cl) {
    const urls = [];
    for (const p of (cl && cl.peers) || []) if (p.url && !urls.includes(p.url)) urls.push(p.url);
    const cur = this.node;
    const mine = urls.find((u) => u === location.origin);
    this.nodes = ['', ...urls.filter((u) => u !== mine)];
    const ix = this.nodes.indexOf(cur);
    this.nodeIx = ix >= 0 ? ix : 0;
  }

  start() { this.connect(); }

  stop() {
    this.closed = true;
    clearInterval(this.pingTimer);
    clearTimeout(this.retryTimer);
    window.removeEventListener('offline', this.onOffline);
    if (this.ws) this.ws.close(1000, 'bye');
  }

  /* Drop the socket as a network failure would (used by tests, too). */
  drop() { if (this.ws) this.ws.close(4000, 'dropped'); }

  /* Skip the wait of the next attempt. */
  retryNow() {
    if (this.closed || this.ws) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  connect() {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    this.nextAt = 0;
    this.h.onState('connecting', { attempt: this.attempt, node: this.node });
    this.synced = false;
    let ws;
    try {
      ws = new WebSocket(this.api.wsUrl(this.deviceId, this.node));
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    let wasOpen = false;
    ws.onopen = () => {
      wasOpen = true;
      const reconnected = this.opened;
      this.opened = true;
      this.attempt = 0;
      this.lastRx = Date.now();
      this.h.onState('online', { attempt: 0, node: this.node });
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.heartbeat(), 10000);
      if (this.cursor) {
        this.syncing = true;
        this.post({ type: 'sync', cursor: this.cursor });
      } else {
        this.synced = true;
      }
      this.h.onOpen(reconnected, this.node);
    };
    ws.onmessage = (ev) => {
      this.lastRx = Date.now();
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      if (f.type === 'pong' && f.id === this.waitPong) this.waitPong = null;
      if (f.cursor && (f.type === 'message' || f.type === 'recalled' || f.type === 'edited' ||
          f.type === 'conversation' || f.type === 'synced')) this.cursor = f.cursor;
      if (f.type === 'synced') {
        if (f.hasMore) { this.post({ type: 'sync', cursor: this.cursor }); return; }
        this.syncing = false;
        this.synced = true;
        this.h.onEvent(f);
        return;
      }
      this.h.onEvent(f);
    };
    ws.onclose = () => this.lost(ws, wasOpen);
    ws.onerror = () => {};
  }

  /* The socket ws is gone (closed, or given up on). */
  lost(ws, wasOpen) {
    if (this.ws !== ws) return;
    clearInterval(this.pingTimer);
    this.ws = null;
    this.syncing = false;
    /* a node that never answered: try the next one first */
    if (!wasOpen || this.attempt > 0) this.nodeIx = (this.nodeIx + 1) % this.nodes.length;
    if (this.closed) { this.h.onState('offline', { attempt: 0, nextAt: 0, node: this.node }); return; }
    this.scheduleRetry();
  }

  /* Give up on the socket now: a close to a peer that does not answer
   * completes only after the browser's own timeout. */
  abandon(why) {
    const ws = this.ws;
    if (!ws) return;
    try { ws.close(4001, why); } catch { /* closing already */ }
    this.lost(ws, true);
    /* on the next attempt, try the next node first */
    this.nodeIx = (this.nodeIx + 1) % this.nodes.length;
  }

  scheduleRetry() {
    this.attempt++;
    /* the first try of each other node is quick; a whole round doubles */
    const round = Math.floor((this.attempt - 1) / Math.max(1, this.nodes.length));
    const base = (this.attempt - 1) % Math.max(1, this.nodes.length) === 0 || this.nodes.length === 1
      ? Math.min(15000, 500 * 2 ** Math.min(round, 5)) : 300;
    const delay = Math.round(base * (0.75 + Math.random() / 2));
    this.nextAt = Date.now() + delay;
    this.h.onState('offline', { attempt: this.attempt, nextAt: this.nextAt, node: this.node });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /* A ping with an id; a socket that has not answered it with its pong
   * 5 s later is dead, whatever the browser thinks (a frame the node sent
   * before it hung may still arrive after the ping: only the pong counts). */
  heartbeat() {
    if (!this.online) return;
    const ws = this.ws, id = `hb${this.nextId++}`;
    this.waitPong = id;
    this.post({ type: 'ping', id });
    setTimeout(() => { if (this.ws === ws && this.waitPong === id) this.abandon('no answer'); }, 5000);
  }

  get online() { return this.ws !== null && this.ws.readyState === WebSocket.OPEN; }

  /* Send a frame if the socket is open; false otherwise. */
  post(frame) {
    if (!this.online) return false;
    if (frame.id === undefined && frame.type !== 'ping') frame.id = String(this.nextId++);
    this.ws.send(JSON.stringify(frame));
    this.sent[frame.type] = (this.sent[frame.type] || 0) + 1;
    return true;
  }
}
