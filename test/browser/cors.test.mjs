// The fetch client on one origin polling a WAIT server on another:
// a page on http://site.test:<site> uses http://rpl.site.test:<cors>/, whose
// realplexor_wait lists the page's origin in cors_origins.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  Caddy, caddyfile, launchBrowser, portBlock, publishOk, sleep, startOrPending, waitReceived, withPage,
} from './harness.mjs';

const ports = portBlock(4);
const PAGE_ORIGIN = `http://site.test:${ports.site}`;
const PAGE = `${PAGE_ORIGIN}/pages/client.html`;
const WAIT_URL = `http://rpl.site.test:${ports.cors}/`;

const config = caddyfile({
  ports,
  extraSites: `
http://:${ports.cors} {
	realplexor_wait {
		cors_origins ${PAGE_ORIGIN}
	}
}
`,
});

describe('CORS: client on another origin than the WAIT server', () => {
  let caddy;
  let browser;
  let pending = null;

  before(async () => {
    caddy = new Caddy(config, { name: 'cors', ports: [ports.site, ports.publish, ports.cors] });
    pending = await startOrPending(caddy, [/cors_origins/]);
    if (!pending) browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await caddy?.stop();
    caddy?.cleanup();
  });

  it('delivers cross-origin; the cursor header is exposed', async (t) => {
    if (pending) return t.skip(pending);
    await withPage(browser, async ({ page, parked }) => {
      await page.goto(PAGE);
      await page.evaluate((url) => window.start({ url, ids: ['alpha'] }), WAIT_URL);
      const poll = await parked(1);
      assert.equal(new URL(poll.url).origin, new URL(WAIT_URL).origin);
      assert.equal(poll.acao, PAGE_ORIGIN, 'Access-Control-Allow-Origin echoes the page origin');
      await publishOk(ports.publish, 'alpha', { n: 1, cross: 'origin' });
      const got = await waitReceived(page, 1);
      assert.deepEqual(got[0].data, { n: 1, cross: 'origin' });
      assert.equal(got[0].id, 'alpha');
      assert.match(got[0].cursor, /^\d+\.\d{14}$/);

      // The page's own fetch() can read X-Realplexor-Cursor: exposed.
      const seen = await page.evaluate(async (url) => {
        const ctl = new AbortController();
        const r = await fetch(url + '?identifier=probe', { signal: ctl.signal });
        const v = r.headers.get('X-Realplexor-Cursor');
        ctl.abort();
        return v;
      }, WAIT_URL);
      assert.match(String(seen), /^\d+\.\d{14}$/, 'X-Realplexor-Cursor readable cross-origin');
    });
  });

  it('the client continues from the exposed cursor after a wait_timeout', async (t) => {
    if (pending) return t.skip(pending);
    await withPage(browser, async ({ page, parked }) => {
      await page.goto(PAGE);
      await page.evaluate((url) => window.start({ url, ids: ['beta'] }), WAIT_URL);
      const first = await parked(1);
      assert.match(String(first.cursor), /^\d+\.\d{14}$/);
      const second = await parked(2); // after the 3 s timeout
      assert.ok(second.url.includes(`identifier=${first.cursor}:beta&`), `second poll: ${second.url}`);
    });
  });

  it('POST form (long id list) cross-origin, without a preflight', async (t) => {
    if (pending) return t.skip(pending);
    // 100 ids of 18 chars: over the 1700-char GET limit, and still under
    // wait_maxlen once every id carries a cursor.
    const ids = Array.from({ length: 100 }, (_, i) => `cors_post_id_${String(i).padStart(5, '0')}`);
    await withPage(browser, async ({ page, parked, requests }) => {
      await page.goto(PAGE);
      await page.evaluate(([url, list]) => window.start({ url, ids: list }), [WAIT_URL, ids]);
      const poll = await parked(1);
      assert.equal(poll.method, 'POST');
      await publishOk(ports.publish, ids[42], { post: true });
      const got = await waitReceived(page, 1);
      assert.equal(got[0].id, ids[42]);
      assert.deepEqual(got[0].data, { post: true });
      assert.equal(requests.filter((r) => r.method === 'OPTIONS').length, 0, 'text/plain POST is a simple request');
    });
  });

  it('credentials: "include" works for a listed origin', async (t) => {
    if (pending) return t.skip(pending);
    await withPage(browser, async ({ page, parked }) => {
      await page.goto(PAGE);
      await page.evaluate((url) => window.start({ url, ids: ['cred'], options: { credentials: 'include' } }), WAIT_URL);
      await parked(1);
      await publishOk(ports.publish, 'cred', { cred: true });
      const got = await waitReceived(page, 1);
      assert.deepEqual(got[0].data, { cred: true });
    });
  });

  it('a page on an origin not listed gets nothing, and the client backs off', async (t) => {
    if (pending) return t.skip(pending);
    await withPage(browser, async ({ page, requests, log }) => {
      await page.goto(`http://other.test:${ports.site}/pages/client.html`);
      await page.evaluate((url) => window.start({ url, ids: ['alpha'] }), WAIT_URL);
      await sleep(1000);
      await publishOk(ports.publish, 'alpha', { leaked: true });
      await sleep(2000);
      assert.deepEqual(await page.evaluate(() => window.received), []);
      assert.ok(log.some((l) => /CORS policy/.test(l)), 'the browser blocked the reply');
      const tries = requests.filter((r) => r.url.startsWith(WAIT_URL)).length;
      assert.ok(tries >= 2 && tries <= 15, `retries with back-off, not a hot loop (${tries} requests in 3 s)`);
    });
  });
});
