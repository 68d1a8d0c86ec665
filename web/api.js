/* api.js: the Confab client protocol (API.md) over fetch and one WebSocket
 * that reconnects by itself and syncs from its cursor after a drop. */

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  /* auth: {user} on a development node, or {token}. */
  constructor(auth) {
    this.auth = auth;
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
    const r = await fetch(path, init);
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!r.ok) {
      const e = (data && data.error) || {};
      throw new ApiError(r.status, e.code, e.message);
    }
    return data;
  }

  conversations(cursor, limit = 500) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set('cursor', cursor);
    return this.req('GET', `/v1/conversations?${q}`);
  }
  /* every page of the list, most recently active first */
  async allConversations() {
    const all = [];
    let cursor;
    for (;;) {
      const r = await this.conversations(cursor);
      all.push(...r.conversations);
      if (!r.hasMore) return all;
      cursor = r.cursor;
    }
  }
  conversation(id) { return this.req('GET', `/v1/conversations/${encodeURIComponent(id)}`); }
  createConversation(body) { return this.req('POST', '/v1/conversations', body); }
  history(id, { beforeSeq, fromSeq, limit = 40 } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (beforeSeq) q.set('beforeSeq', String(beforeSeq));
    if (fromSeq) q.set('fromSeq', String(fromSeq));
    return this.req('GET', `/v1/conversations/${encodeURIComponent(id)}/messages?${q}`);
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
  async upload(file) {
    const r = await fetch('/v1/media', {
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
    const r = await fetch(`/v1/media/${encodeURIComponent(mediaId)}`, { headers: this.headers() });
    if (!r.ok) throw new ApiError(r.status, 'media', `media ${mediaId}: ${r.status}`);
    return URL.createObjectURL(await r.blob());
  }

  wsUrl(deviceId) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = new URLSearchParams({ deviceId });
    if (this.auth.token) q.set('token', this.auth.token);
    else q.set('user', this.auth.user);
    return `${proto}//${location.host}/v1/ws?${q}`;
  }
}

/*
 * Live: one WebSocket with automatic reconnect (backoff 0.5 s .. 10 s), a ping
 * every 15 s (keeps presence alive), and a `sync` from the last cursor seen
 * after every (re)connect. Handlers: onEvent(frame), onState(state, attempt),
 * onOpen(reconnected).
 */
export class Live {
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
    this.synced = false;
  }

  start() { this.connect(); }

  stop() {
    this.closed = true;
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close(1000, 'bye');
  }

  /* Drop the socket as a network failure would (used by tests, too). */
  drop() { if (this.ws) this.ws.close(4000, 'dropped'); }

  connect() {
    if (this.closed) return;
    this.h.onState('connecting', this.attempt);
    this.synced = false;
    const ws = new WebSocket(this.api.wsUrl(this.deviceId));
    this.ws = ws;
    ws.onopen = () => {
      const reconnected = this.opened;
      this.opened = true;
      this.attempt = 0;
      this.h.onState('online', 0);
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.post({ type: 'ping' }), 15000);
      const f = { type: 'sync' };
      if (this.cursor) f.cursor = this.cursor;
      this.post(f);
      this.h.onOpen(reconnected);
    };
    ws.onmessage = (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      if (f.cursor && (f.type === 'message' || f.type === 'recalled' ||
          f.type === 'conversation' || f.type === 'synced')) this.cursor = f.cursor;
      /* The replay asked for on open is over (tests wait for this). */
      if (f.type === 'synced' && !f.hasMore) this.synced = true;
      this.h.onEvent(f);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      clearInterval(this.pingTimer);
      this.ws = null;
      this.h.onState('offline', this.attempt + 1);
      if (this.closed) return;
      this.attempt++;
      const delay = Math.min(10000, 500 * 2 ** Math.min(this.attempt - 1, 5));
      setTimeout(() => this.connect(), delay * (0.75 + Math.random() / 2));
    };
    ws.onerror = () => {};
  }

  get online() { return this.ws !== null && this.ws.readyState === WebSocket.OPEN; }

  /* Send a frame if the socket is open; false otherwise. */
  post(frame) {
    if (!this.online) return false;
    if (frame.id === undefined && frame.type !== 'ping') frame.id = String(this.nextId++);
    this.ws.send(JSON.stringify(frame));
    return true;
  }
}
