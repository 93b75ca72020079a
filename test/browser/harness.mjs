// Shared harness of the browser tests: a real Caddy (the binary in
// $CADDY_BIN, built by scripts/browser-test.sh) on 190xx loopback ports,
// real headless Debian Chromium driven by playwright-core, and a publisher
// that speaks to the IN line byte for byte like the original PHP client.
//
// Every test file owns a block of ten ports (portBlock) so that files never
// share a hub, even if someone runs them concurrently.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BROWSER_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(BROWSER_DIR, '..', '..');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

// The flags this machine needs (docs of the machine: without the
// background-networking ones Chromium's own connections are refused by the
// closed network). site.test and its sub-domains, and other.test for a
// cross-site page, all resolve to loopback.
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP site.test 127.0.0.1, MAP rpl.site.test 127.0.0.1, MAP other.test 127.0.0.1, MAP evil.test 127.0.0.1',
];

// Upper bound of every in-page wait (the brief: at most 10 s), except the
// restart test, which documents its own longer bound.
export const WAIT_MS = 10_000;

export function caddyBin() {
  const bin = process.env.CADDY_BIN;
  if (!bin || !fs.existsSync(bin)) {
    throw new Error('CADDY_BIN must point to a built caddy binary (scripts/browser-test.sh sets it), got ' + JSON.stringify(bin));
  }
  return bin;
}

// Ports 19000-19099 are ours; block n is 19000+10n .. 19000+10n+9.
export function portBlock(n) {
  if (!(n >= 0 && n <= 9)) throw new Error('port block out of range: ' + n);
  const base = 19000 + 10 * n;
  return { site: base + 1, publish: base + 2, cors: base + 3 };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { sleep };

function tab(text, n = 1) {
  const pad = '\t'.repeat(n);
  return text.split('\n').map((l) => (l ? pad + l : l)).join('\n');
}

// The Caddyfile of the brief: the pages under test and the WAIT handler on
// one site (same origin), the IN line on another. hubOptions are extra
// `realplexor { }` lines; siteBefore are extra routes on the WAIT site,
// tried before the catch-all WAIT handler; extraSites are appended.
export function caddyfile({ ports, waitTimeout = '3s', hubOptions = [], siteBefore = '', extraSites = '' }) {
  const hub = [`wait_timeout ${waitTimeout}`, 'offline_timeout 2s', ...hubOptions].join('\n');
  return `{
	admin off
	persist_config off
	default_bind 127.0.0.1
	realplexor {
${tab(hub, 2)}
	}
}

http://:${ports.site} {
	handle /pages/* {
		# The host page of the iframe test sets document.domain, which
		# Chromium allows only outside origin-keyed agent clusters.
		header Origin-Agent-Cluster ?0
		root * "${BROWSER_DIR}"
		file_server
	}
${tab(siteBefore.trim())}
	handle {
		realplexor_wait
	}
}

http://:${ports.publish} {
	realplexor_publish
}
${extraSites}
`;
}

const running = new Set();
process.on('exit', () => {
  for (const c of running) {
    try { c.proc.kill('SIGKILL'); } catch { /* gone */ }
  }
});

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

// A Caddy process with its own config and XDG directories. The directories
// survive restart(): the cursor floor kept there is what makes cursors
// increase across restarts.
export class Caddy {
  constructor(text, { name = 'caddy', ports = [] } = {}) {
    this.text = text;
    this.ports = ports;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `rpl-browser-${name}-`));
    this.config = path.join(this.dir, 'Caddyfile');
    fs.writeFileSync(this.config, text);
    this.logFile = path.join(this.dir, 'caddy.log');
    this.proc = null;
    this.tail = '';
  }

  env() {
    return {
      ...process.env,
      HOME: this.dir,
      XDG_CONFIG_HOME: path.join(this.dir, 'config'),
      XDG_DATA_HOME: path.join(this.dir, 'data'),
    };
  }

  // `caddy adapt`: null when the Caddyfile adapts, else Caddy's message.
  adaptError() {
    const r = spawnSync(caddyBin(), ['adapt', '--config', this.config, '--adapter', 'caddyfile'], {
      env: this.env(), encoding: 'utf8', timeout: 30_000,
    });
    return r.status === 0 ? null : (r.stderr || r.stdout || `exit ${r.status}`).trim();
  }

  async start(timeoutMs = 15_000) {
    if (this.proc) throw new Error('caddy already running');
    const log = fs.openSync(this.logFile, 'a');
    const proc = spawn(caddyBin(), ['run', '--config', this.config, '--adapter', 'caddyfile'], {
      env: this.env(), stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    running.add(this);
    const keep = (chunk) => {
      fs.writeSync(log, chunk);
      this.tail = (this.tail + chunk.toString()).slice(-8000);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => {
      running.delete(this);
      fs.closeSync(log);
      resolve({ code, signal });
    }));
    let dead = null;
    this.exited.then((r) => { dead = r; });
    const deadline = Date.now() + timeoutMs;
    for (const port of this.ports) {
      for (;;) {
        if (dead) throw new Error(`caddy exited (${JSON.stringify(dead)}) before port ${port} answered:\n${this.tail}`);
        if (await portOpen(port)) break;
        if (Date.now() > deadline) {
          await this.stop();
          throw new Error(`caddy: port ${port} did not answer within ${timeoutMs} ms:\n${this.tail}`);
        }
        await sleep(50);
      }
    }
  }

  // SIGINT, as Ctrl-C: Caddy answers every parked poll and exits.
  async stop(timeoutMs = 10_000) {
    const proc = this.proc;
    if (!proc) return null;
    this.proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return this.exited;
    proc.kill('SIGINT');
    const t0 = Date.now();
    let timer;
    const r = await Promise.race([
      this.exited,
      new Promise((resolve) => { timer = setTimeout(() => resolve(null), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (r === null) {
      proc.kill('SIGKILL');
      await this.exited;
      throw new Error(`caddy did not exit within ${timeoutMs} ms of SIGINT`);
    }
    this.stopMs = Date.now() - t0;
    return r;
  }

  cleanup() {
    if (!process.env.KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// Publishes like the PHP client: one connection, the request, a half-close
// (the PHP client shuts down its write side), then the reply read to EOF.
export function publish(port, ids, data, { timeout = 5000 } = {}) {
  const body = Buffer.from(typeof data === 'string' ? data : JSON.stringify(data), 'utf8');
  const list = Array.isArray(ids) ? ids.join(',') : String(ids);
  const head = 'POST / HTTP/1.1\r\n'
    + 'Host: 127.0.0.1\r\n'
    + `Content-Length: ${body.length}\r\n`
    + `X-Realplexor: identifier=${list}\r\n`
    + '\r\n';
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    sock.setTimeout(timeout, () => sock.destroy(new Error(`publish to ${list}: no EOF within ${timeout} ms`)));
    sock.once('connect', () => {
      sock.write(Buffer.concat([Buffer.from(head, 'latin1'), body]));
      sock.end();
    });
    sock.on('data', (c) => chunks.push(c));
    sock.once('error', reject);
    sock.once('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/\d\.\d (\d{3})/.exec(raw);
      const sep = raw.indexOf('\r\n\r\n');
      resolve({ status: m ? Number(m[1]) : 0, raw, body: sep >= 0 ? raw.slice(sep + 4) : '' });
    });
  });
}

// publish(), insisting on 200.
export async function publishOk(port, ids, data) {
  const r = await publish(port, ids, data);
  if (r.status !== 200) throw new Error(`publish to ${ids} answered ${r.status}:\n${r.raw.slice(0, 500)}`);
  return r;
}

// serverAndBrowser registers the enclosing describe block's hooks: before
// it, a Caddy running text (a log name and the ports it must open) and a
// browser; after it, both stopped. Their handles are env.caddy and
// env.browser once the hooks ran.
export function serverAndBrowser(text, { name, ports }) {
  const env = { caddy: undefined, browser: undefined };
  before(async () => {
    env.caddy = new Caddy(text, { name, ports });
    await env.caddy.start();
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.caddy?.stop();
    env.caddy?.cleanup();
  });
  return env;
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 30_000 });
}

function isWaitRequest(req) {
  if (req.method() === 'POST') return /^identifier=/.test(req.postData() || '');
  let u;
  try { u = new URL(req.url()); } catch { return false; }
  const id = u.searchParams.get('identifier');
  return req.method() === 'GET' && id != null && id !== 'SCRIPT' && id !== 'IFRAME';
}

// A fresh context (own cookies and cache) and page, with everything the
// page said on its console and every long poll it made recorded. A poll
// is "parked" once its response headers are in: the server sends them
// the moment the poll is registered in the hub.
export async function openPage(browser, { viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const log = [];
  const polls = [];
  const requests = [];
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => log.push(`requestfailed: ${r.method()} ${r.url().slice(0, 200)} ${r.failure()?.errorText}`));
  page.on('request', (r) => requests.push({ method: r.method(), url: r.url(), body: r.postData() }));
  page.on('response', (resp) => {
    const req = resp.request();
    if (!isWaitRequest(req)) return;
    const h = resp.headers();
    polls.push({
      method: req.method(), url: req.url(), body: req.postData(), status: resp.status(),
      cursor: h['x-realplexor-cursor'], acao: h['access-control-allow-origin'], at: Date.now(),
    });
  });
  return {
    context, page, log, polls, requests,
    // Waits until `n` polls (in all) have parked.
    async parked(n = 1, timeout = WAIT_MS) {
      const deadline = Date.now() + timeout;
      while (polls.filter((p) => p.status === 200).length < n) {
        if (Date.now() > deadline) {
          throw new Error(`no parked poll #${n} within ${timeout} ms; polls: ${JSON.stringify(polls)}\n${log.join('\n')}`);
        }
        await sleep(20);
      }
      return polls[polls.length - 1];
    },
    // Waits for a parked poll (index >= from) that satisfies pred.
    async waitPoll(pred, { from = 0, timeout = WAIT_MS } = {}) {
      const deadline = Date.now() + timeout;
      for (;;) {
        const hit = polls.slice(from).find((p) => p.status === 200 && pred(p));
        if (hit) return hit;
        if (Date.now() > deadline) {
          throw new Error(`no matching parked poll within ${timeout} ms; polls: ${JSON.stringify(polls.slice(from))}`);
        }
        await sleep(20);
      }
    },
    async close() { await context.close(); },
  };
}

// Waits until `window.received` (or the array `expr` evaluates to) has
// at least `n` entries; returns it.
export async function waitReceived(page, n, { timeout = WAIT_MS, expr = 'window.received' } = {}) {
  await page.waitForFunction(([e, k]) => {
    const a = (0, eval)(e);
    return Array.isArray(a) && a.length >= k;
  }, [expr, n], { timeout, polling: 20 });
  return page.evaluate((e) => (0, eval)(e), expr);
}

// Runs body(ctx) on a fresh page; on failure the page's console and polls
// are appended to the error, which is all one has after the fact.
export async function withPage(browser, body, opts) {
  const ctx = await openPage(browser, opts);
  try {
    return await body(ctx);
  } catch (e) {
    const extra = `\n--- page console (${ctx.log.length}) ---\n${ctx.log.slice(-40).join('\n')}`
      + `\n--- long polls (${ctx.polls.length}) ---\n${ctx.polls.slice(-10).map((p) => `${p.method} ${p.url.slice(0, 160)} ${p.status} cursor=${p.cursor}`).join('\n')}`;
    if (e && typeof e === 'object' && typeof e.message === 'string') e.message += extra;
    throw e;
  } finally {
    await ctx.close();
  }
}

// Starts the server of a test file, or returns the reason it cannot run
// yet when `caddy adapt` refuses one of the named pending features (a
// directive or sub-directive the server team has not landed). Anything
// else that stops Caddy is an ordinary failure.
export async function startOrPending(caddy, pendingPatterns = []) {
  const err = caddy.adaptError();
  if (err) {
    const hit = pendingPatterns.find((re) => re.test(err));
    if (hit) return `PENDING server side: caddy adapt refuses the config (${err.split('\n').pop()})`;
    throw new Error('caddy adapt failed:\n' + err);
  }
  await caddy.start();
  return null;
}
