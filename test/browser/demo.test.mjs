// The sandbox demo end to end (realplexor_demo, page js/demo.html): the
// bottom "browser" posts through POST /demo/send, the top one shows the
// message in its channel box.
//
// DOM contract used: .channel[data-channel="<Name>"] .message .text,
// #send-channel, #send-text, #send-button, #send-status,
// document.body.dataset.ready === "1".
//
// Screenshots (1280x800) of the initial state and of the state after
// sending to two channels go to the temp dir on every run, and to
// docs/demo-channels.png and docs/demo-send.png when those are missing or
// UPDATE_DOCS_SCREENSHOTS=1 (the message times differ on every run, so
// rewriting them always would dirty the tree).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  Caddy, caddyfile, launchBrowser, portBlock, REPO, startOrPending, withPage, WAIT_MS,
} from './harness.mjs';

const ports = portBlock(5);
const DEMO = `http://127.0.0.1:${ports.site}/demo/`;
const VIEWPORT = { width: 1280, height: 800 };

const config = caddyfile({
  ports,
  siteBefore: `
handle /demo* {
	realplexor_demo
}`,
});

function pngSize(file) {
  const b = fs.readFileSync(file);
  assert.equal(b.toString('latin1', 1, 4), 'PNG');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

describe('demo page end to end', () => {
  let caddy;
  let browser;
  let pending = null;

  before(async () => {
    caddy = new Caddy(config, { name: 'demo', ports: [ports.site, ports.publish] });
    pending = await startOrPending(caddy, [/realplexor_demo/]);
    if (!pending) browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await caddy?.stop();
    caddy?.cleanup();
  });

  const sentTo = new Set();

  async function send(page, channel, text) {
    await page.fill('#send-channel', channel);
    await page.fill('#send-text', text);
    // The page posts to its own path (/demo/); realplexor_demo takes a
    // POST on any path it handles, /demo/send included.
    const replied = page.waitForResponse((r) => new URL(r.url()).pathname.startsWith('/demo') && r.request().method() === 'POST');
    await page.click('#send-button');
    const resp = await replied;
    assert.equal(resp.status(), 200, `POST ${resp.url()}: ${await resp.text()}`);
    sentTo.add(new URL(resp.url()).pathname);
    await page.waitForFunction(() => document.querySelector('#send-status').getAttribute('data-state') === 'ok', null, { timeout: WAIT_MS });
    assert.match(await page.textContent('#send-status'), new RegExp(`Sent to ${channel}`));
    const sel = `.channel[data-channel="${channel}"] .message .text`;
    await page.waitForFunction(([s, t]) => Array.from(document.querySelectorAll(s)).some((e) => e.textContent === t),
      [sel, text], { timeout: WAIT_MS });
  }

  it('12. typing into the bottom form shows the message in the top panel; screenshots', async (t) => {
    if (pending) return t.skip(pending);
    await withPage(browser, async ({ page, parked }) => {
      await page.goto(DEMO);
      await page.waitForFunction(() => document.body.dataset.ready === '1', null, { timeout: WAIT_MS });
      const channels = await page.$$eval('.channel[data-channel]', (els) => els.map((e) => e.getAttribute('data-channel')));
      assert.equal(channels.length, 3, `three channels: ${channels}`);
      assert.ok(channels.includes('Alpha'));
      // "ready" is set when the client starts, not when its poll is
      // parked: wait for that, or a very quick send could go unseen.
      const poll = await parked(1);
      assert.match(poll.url, /identifier=demo_Alpha,demo_Beta,demo_RuTvit&/);
      await page.evaluate(() => document.fonts && document.fonts.ready);

      const out = fs.mkdtempSync(path.join(caddy.dir, 'shots-'));
      const shot1 = path.join(out, 'demo-channels.png');
      await page.screenshot({ path: shot1 });

      const other = channels.find((c) => c !== 'Alpha');
      await page.fill('#send-author', 'Alice');
      await send(page, 'Alpha', 'Hello from the bottom browser!');
      // (No emoji here: the machine has no emoji font, the picture would
      // show a box. delivery.test.mjs checks emoji byte for byte.)
      await page.fill('#send-author', 'Борис');
      await send(page, other, 'Привет из нижнего браузера!');
      await page.fill('#send-author', 'Alice');
      await send(page, 'Alpha', 'A second message: newest first.');

      // Only where they were sent.
      const texts = await page.$$eval('.channel', (els) => Object.fromEntries(els.map((e) => [
        e.getAttribute('data-channel'), Array.from(e.querySelectorAll('.message .text')).map((x) => x.textContent)])));
      assert.deepEqual(texts.Alpha, ['A second message: newest first.', 'Hello from the bottom browser!']);
      assert.deepEqual(texts[other], ['Привет из нижнего браузера!']);
      for (const c of channels.filter((x) => x !== 'Alpha' && x !== other)) assert.deepEqual(texts[c], []);
      // Let the "new message" highlight settle before the picture.
      await page.waitForFunction(() => !document.querySelector('.message.new'), null, { timeout: WAIT_MS }).catch(() => {});
      const shot2 = path.join(out, 'demo-send.png');
      await page.screenshot({ path: shot2 });

      for (const f of [shot1, shot2]) assert.deepEqual(pngSize(f), VIEWPORT);
      t.diagnostic(`the form posted to ${[...sentTo].join(', ')}`);
      const docs = path.join(REPO, 'docs');
      for (const f of [shot1, shot2]) {
        const dst = path.join(docs, path.basename(f));
        if (process.env.UPDATE_DOCS_SCREENSHOTS === '1' || !fs.existsSync(dst)) {
          fs.mkdirSync(docs, { recursive: true });
          fs.copyFileSync(f, dst);
          t.diagnostic(`wrote ${path.relative(REPO, dst)}`);
        }
      }
    }, { viewport: VIEWPORT });
  });

  it('12. POST /demo/send: refuses what the form would not send, publishes the rest', async (t) => {
    if (pending) return t.skip(pending);
    await withPage(browser, async ({ page, parked }) => {
      await page.goto(DEMO + '?ids=Gamma');
      await page.waitForFunction(() => document.body.dataset.ready === '1', null, { timeout: WAIT_MS });
      assert.deepEqual(await page.$$eval('.channel[data-channel]', (els) => els.map((e) => e.getAttribute('data-channel'))), ['Gamma']);
      // Client-side check first: a bad channel name never leaves the page.
      await page.fill('#send-channel', 'no spaces!');
      await page.fill('#send-text', 'x');
      await page.click('#send-button');
      await page.waitForFunction(() => document.querySelector('#send-status').getAttribute('data-state') === 'error', null, { timeout: WAIT_MS });
      const post = (body) => page.evaluate(async (b) => {
        const resp = await fetch('/demo/send', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b) });
        return { status: resp.status, body: await resp.text() };
      }, body);
      // The server on its own: a foreign namespace cannot be reached.
      const r = await post({ channel: 'x,alpha', text: 'escape the namespace' });
      assert.equal(r.status, 400, JSON.stringify(r));
      // POST /demo/send publishes into the demo namespace like the form.
      await parked(1);
      const ok = await post({ channel: 'Gamma', author: 'curl', text: 'via /demo/send' });
      assert.deepEqual(ok, { status: 200, body: '{"ok":true}' });
      await page.waitForFunction(() => Array.from(document.querySelectorAll('.channel[data-channel="Gamma"] .message .text'))
        .some((e) => e.textContent === 'via /demo/send'), null, { timeout: WAIT_MS });
    }, { viewport: VIEWPORT });
  });
});
