/* cluster.mjs: a throwaway three-node Confab cluster on a loopback address
 * and ports of its own for the browser tests (the same layout as
 * scripts/cluster.sh). */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, openSync, closeSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/* The low bound of the kernel's ephemeral port range: neither a bind to
 * port 0 nor an outgoing connection takes a port below it. */
function ephemeralLow() {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch { return 32768; }
}

function listenOn(host, port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(null));
    s.listen({ host, port, exclusive: true }, () => resolve(s));
  });
}

/* n ports on a loopback address of this cluster's own (127.a.b.c, never
 * 127.0.0.1), below the ephemeral range, held listening until the cluster
 * file is written (the same rule as tests/lib/cf_test_ports.c). */
async function reservePorts(n) {
  const low = 10000, high = ephemeralLow();
  const b = randomBytes(3);
  const host = `127.${1 + (b[0] % 254)}.${b[1]}.${1 + (b[2] % 254)}`;
  const held = [];
  let cand = low + (randomBytes(4).readUInt32LE(0) % (high - low));
  for (let tries = 0; held.length < n && tries < 4000; tries++) {
    cand = low + ((cand - low + 7919) % (high - low));
    const s = await listenOn(host, cand);
    if (s) held.push(s);
  }
  if (held.length < n) throw new Error(`no ${n} free ports on ${host}`);
  return { host, ports: held.map((s) => s.address().port), release: () => Promise.all(held.map((s) => new Promise((r) => s.close(r)))) };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Cluster {
  constructor({ bin, web, n = 3 }) {
    this.bin = bin;
    this.web = web;
    this.n = n;
    this.procs = [];
    this.urls = [];
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'confab-browser-'));
  }

  /* Start the nodes; a node that exits before it is ready (a port taken
   * meanwhile) makes the whole start again, from empty data folders, on a
   * new address and new ports. */
  async start() {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.startOnce();
        return;
      } catch (e) {
        if (!e.nodeExited || attempt >= 3) throw e;
        console.log(`# cluster start attempt ${attempt}: ${e.message}; again from empty folders`);
        await this.stop({ keep: true });
      }
    }
  }

  async startOnce() {
    const { host, ports, release } = await reservePorts(3 * this.n);
    this.procs = [];
    this.urls = [];
    const lines = ['partitions 16', 'secret secret.key'];
    for (let i = 1; i <= this.n; i++) {
      const [r, p, c] = ports.slice(3 * (i - 1), 3 * i);
      this.urls.push(`http://${host}:${c}`);
      lines.push(`node ${i} raft=${host}:${r} peer=${host}:${p} client=http://${host}:${c}`);
    }
    writeFileSync(path.join(this.dir, 'cluster.conf'), lines.join('\n') + '\n');
    writeFileSync(path.join(this.dir, 'secret.key'), randomBytes(32).toString('hex'), { mode: 0o600 });
    await release();
    for (let i = 1; i <= this.n; i++) {
      const data = path.join(this.dir, `n${i}`);
      rmSync(data, { recursive: true, force: true });
      mkdirSync(data);
      const log = openSync(path.join(this.dir, `n${i}.log`), 'a');
      const p = spawn(this.bin, ['--cluster', path.join(this.dir, 'cluster.conf'), '--id', String(i),
        '--data', data, '--auth=dev', '--web', this.web,
        '--log-level', 'warn'], { stdio: ['ignore', log, log] });
      closeSync(log);
      this.procs.push(p);
    }
    const deadline = Date.now() + 30000;
    for (const [k, u] of this.urls.entries()) {
      for (;;) {
        const p = this.procs[k];
        if (p.exitCode !== null || p.signalCode !== null) {
          const e = new Error(`node ${k + 1} exited (${p.exitCode ?? p.signalCode}) before it was ready:\n${this.logs()}`);
          e.nodeExited = true;
          throw e;
        }
        try {
          const r = await fetch(`${u}/readyz`);
          if (r.ok) break;
        } catch { /* not listening yet */ }
        if (Date.now() > deadline) throw new Error(`${u} not ready in 30 s:\n${this.logs()}`);
        await sleep(100);
      }
    }
  }

  logs() {
    let out = '';
    for (let i = 1; i <= this.n; i++) {
      try { out += readFileSync(path.join(this.dir, `n${i}.log`), 'utf8').split('\n').slice(-15).map((l) => `# n${i}: ${l}`).join('\n') + '\n'; } catch { /* none */ }
    }
    return out;
  }

  /* Node i (1-based) killed at once, as a crash would (SIGKILL by pid);
   * or another signal (SIGSTOP: a node that hangs, SIGCONT: it goes on). */
  kill(i, sig = 'SIGKILL') {
    const p = this.procs[i - 1];
    if (p && p.exitCode === null && p.signalCode === null) process.kill(p.pid, sig);
  }

  /* SIGTERM by pid, SIGKILL after 5 s; the data folder is removed. */
  async stop({ keep = false } = {}) {
    const waits = this.procs.map((p) => new Promise((resolve) => {
      if (p.exitCode !== null || p.signalCode !== null) return resolve();
      const t = setTimeout(() => { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
      p.on('exit', () => { clearTimeout(t); resolve(); });
      try { process.kill(p.pid, 'SIGTERM'); } catch { resolve(); }
    }));
    await Promise.all(waits);
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }
}
