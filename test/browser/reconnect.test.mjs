// The client across the ends of polls: server wait_timeout (3 s here), a
// message published while the client is between two polls, and a restart
// of the whole server.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  caddyfile, portBlock, publishOk, serverAndBrowser, sleep, waitReceived, withPage,
} from './harness.mjs';

const ports = portBlock(2);
const PAGE = `http://site.test:${ports.site}/pages/client.html`;

describe('reconnects', () => {
  const env = serverAndBrowser(caddyfile({ ports }), { name: 'reconnect', ports: [ports.site, ports.publish] });

  it('6. stays subscribed past two wait_timeouts (3 s) and receives a message at ~7 s', async () => {
    await withPage(env.browser, async ({ page, parked, polls }) => {
      await page.goto(PAGE);
      await page.evaluate(() => window.start({ ids: ['alpha'] }));
      const first = await parked(1);
      const t0 = Date.now();
      await sleep(7000 - (Date.now() - first.at));
      const before = polls.filter((p) => p.status === 200);
      assert.ok(before.length >= 3, `polls reconnected after each timeout (parked ${before.length})`);
      await publishOk(ports.publish, 'alpha', { at: '7s' });
      const got = await waitReceived(page, 1);
      assert.deepEqual(got[0].data, { at: '7s' });
      assert.equal(got[0].id, 'alpha');
      assert.ok(Date.now() - t0 < 8500, 'delivered promptly');
      // The first poll had no cursor; the server reported where it listened
      // from, and the reconnects continue from there (README: X-Realplexor-Cursor).
      assert.match(first.url, /identifier=alpha&/);
      assert.match(first.cursor, /^\d+\.\d{14}$/);
      assert.ok(before[1].url.includes(`identifier=${first.cursor}:alpha&`),
        `second poll continues from the reported cursor: ${before[1].url}`);
    });
  });

  it('6b. a message published while the client is between two polls is not lost', async () => {
    await withPage(env.browser, async ({ page, parked }) => {
      let held;
      const gap = new Promise((resolve) => { held = resolve; });
      let n = 0;
      // Holds the client's second poll (its reconnect after the first
      // timeout) for 800 ms and publishes meanwhile: the original lost such
      // messages (R-JS-21); this client must not.
      await page.route(/\/\?identifier=[^&]*gap/, async (route) => {
        if (++n === 2) {
          held();
          await sleep(800);
        }
        await route.continue();
      });
      await page.goto(PAGE);
      await page.evaluate(() => window.start({ ids: ['gap'] }));
      await parked(1);
      await gap;
      await publishOk(ports.publish, 'gap', { in: 'gap' });
      const got = await waitReceived(page, 1);
      assert.deepEqual(got[0].data, { in: 'gap' });
    });
  });

  it('7. server restart: the client reconnects with back-off and receives what is published after', async () => {
    await withPage(env.browser, async ({ page, parked, polls, log }) => {
      await page.goto(PAGE);
      await page.evaluate(() => window.start({ ids: ['restart'] }));
      await parked(1);
      const parkedBefore = polls.filter((p) => p.status === 200).length;
      await env.caddy.stop();
      assert.ok(env.caddy.stopMs < 3000, `Caddy exits promptly with a poll parked (${env.caddy.stopMs} ms)`);
      await sleep(1000);
      await env.caddy.start();
      const restarted = Date.now();
      // Published right away, most likely before the client is back: the
      // client's poll carries a cursor, so the message waits in the queue.
      await publishOk(ports.publish, 'restart', { after: 'restart' });
      const got = await waitReceived(page, 1, { timeout: 15_000 });
      const ms = Date.now() - restarted;
      assert.deepEqual(got[0].data, { after: 'restart' });
      const refused = log.filter((l) => /^requestfailed: .*ERR_CONNECTION_REFUSED/.test(l)).length;
      console.log(`# restart: Caddy stopped in ${env.caddy.stopMs} ms with a poll parked; delivered ${ms} ms after the restart; ${refused} refused connection attempts while down`);
      // And the client is healthy afterwards.
      await parked(parkedBefore + 1, 15_000);
      const n = polls.filter((p) => p.status === 200).length;
      await parked(n);
      await publishOk(ports.publish, 'restart', { again: true });
      const again = await waitReceived(page, 2);
      assert.deepEqual(again[1].data, { again: true });
    });
  });
});
