/* cluster.mjs: a throwaway three-node Confab cluster on free loopback ports
 * for the browser tests (the same layout as scripts/cluster.sh). */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, openSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
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

  async start() {
    const ports = [];
    while (ports.length < 3 * this.n) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const lines = ['partitions 16', 'secret secret.key'];
    for (let i = 1; i <= this.n; i++) {
      const [r, p, c] = ports.slice(3 * (i - 1), 3 * i);
      this.urls.push(`http://127.0.0.1:${c}`);
      lines.push(`node ${i} raft=127.0.0.1:${r} peer=127.0.0.1:${p} client=http://127.0.0.1:${c}`);
    }
    writeFileSync(path.join(this.dir, 'cluster.conf'), lines.join('\n') + '\n');
    writeFileSync(path.join(this.dir, 'secret.key'), randomBytes(32).toString('hex'), { mode: 0o600 });
    for (let i = 1; i <= this.n; i++) {
      mkdirSync(path.join(this.dir, `n${i}`));
      const log = openSync(path.join(this.dir, `n${i}.log`), 'a');
      const p = spawn(this.bin, ['--cluster', path.join(this.dir, 'cluster.conf'), '--id', String(i),
        '--data', path.join(this.dir, `n${i}`), '--auth=dev', '--web', this.web,
        '--log-level', 'warn'], { stdio: ['ignore', log, log] });
      this.procs.push(p);
    }
    const deadline = Date.now() + 20000;
    for (const u of this.urls) {
      for (;;) {
        try {
          const r = await fetch(`${u}/readyz`);
          if (r.ok) break;
        } catch { /* not listening yet */ }
        if (Date.now() > deadline) throw new Error(`${u} not ready in 20 s:\n${this.logs()}`);
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
