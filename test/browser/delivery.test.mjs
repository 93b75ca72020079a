// The browser client (js/dklab_realplexor.js, served at ?identifier=SCRIPT)
// in real Chromium against a real Caddy: delivery, several channels, one
// message to several ids, unsubscribe, setCursor replay, unicode and large
// payloads, and the POST form of long id lists.
//
// Tests share one Caddy (one hub), so each uses its own client namespace
// (ids on the wire are <ns><id>); the callbacks still see the bare ids.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  caddyfile, portBlock, publishOk, serverAndBrowser, sleep, waitReceived, withPage,
} from './harness.mjs';

const ports = portBlock(0);
const PAGE = `http://site.test:${ports.site}/pages/client.html`;

describe('client delivery (fetch long poll, same origin)', () => {
  const env = serverAndBrowser(caddyfile({ ports }), { name: 'delivery', ports: [ports.site, ports.publish] });

  async function load(page) {
    await page.goto(PAGE);
    assert.equal(await page.evaluate(() => window.scriptLoaded), true, 'client script served at /?identifier=SCRIPT');
  }

  it('1. delivers a published message: data, id and a string cursor', async () => {
    await withPage(env.browser, async ({ page, parked }) => {
      await load(page);
      await page.evaluate(() => window.start({ ids: ['alpha'] }));
      await parked(1);
      await publishOk(ports.publish, 'alpha', { n: 1 });
      const got = await waitReceived(page, 1);
      assert.equal(got.length, 1);
      assert.deepEqual(got[0].data, { n: 1 });
      assert.equal(got[0].id, 'alpha');
      assert.equal(got[0].cursorType, 'string');
      assert.match(got[0].cursor, /^\d+\.\d{14}$/, 'generated cursor, 14 decimals (R-CUR-3)');
    });
  });

  it('2. one client, two channels', async () => {
    await withPage(env.browser, async ({ page, parked }) => {
      await load(page);
      await page.evaluate(() => window.start({ namespace: 't2_', ids: ['x', 'y'] }));
      const poll = await parked(1);
      assert.match(poll.url, /identifier=t2_x,t2_y&ncrnd=\d+$/, 'one GET carries both ids');
      await publishOk(ports.publish, 't2_y', { to: 'y' });
      await waitReceived(page, 1);
      await publishOk(ports.publish, 't2_x', { to: 'x' });
      const got = await waitReceived(page, 2);
      assert.deepEqual(got.map((r) => [r.id, r.data.to]), [['y', 'y'], ['x', 'x']]);
      assert.ok(BigInt(got[1].cursor.replace('.', '')) > BigInt(got[0].cursor.replace('.', '')), 'cursors increase');
    });
  });

  it('3. one message published to a,b calls back for both ids', async () => {
    await withPage(env.browser, async ({ page, parked }) => {
      await load(page);
      await page.evaluate(() => window.start({ namespace: 't3_', ids: ['a', 'b'] }));
      await parked(1);
      await publishOk(ports.publish, 't3_a,t3_b', { both: true });
      const got = await waitReceived(page, 2);
      await sleep(300);
      const all = await page.evaluate(() => window.received);
      assert.equal(all.length, 2, 'exactly one callback per id');
      assert.deepEqual(all.map((r) => r.id).sort(), ['a', 'b']);
      assert.deepEqual(got.map((r) => r.data), [{ both: true }, { both: true }]);
      assert.equal(got[0].cursor, got[1].cursor, 'one message, one cursor for both ids');
    });
  });

  it('4. unsubscribe(id, null): no more callbacks for a, b continues', async () => {
    await withPage(env.browser, async ({ page, parked, waitPoll }) => {
      await load(page);
      await page.evaluate(() => window.start({ namespace: 't4_', ids: ['a', 'b'] }));
      await parked(1);
      await publishOk(ports.publish, 't4_a', { n: 1 });
      await waitReceived(page, 1);

      await page.evaluate(() => window.rpl.unsubscribe('a', null));
      // The current poll still listens to a: this message reaches the
      // client, which must not call anything for it (R-JS-7: at once,
      // without a reconnect).
      await publishOk(ports.publish, 't4_a', { n: 2 });
      await publishOk(ports.publish, 't4_b', { n: 3 });
      await waitReceived(page, 2);
      // A poll built after the unsubscribe asks for b only (R-JS-7).
      await waitPoll((p) => /identifier=[0-9.]+:t4_b&ncrnd=/.test(p.url));
      await publishOk(ports.publish, 't4_a', { n: 4 });
      await publishOk(ports.publish, 't4_b', { n: 5 });
      await waitReceived(page, 3);
      await sleep(300);
      const all = await page.evaluate(() => window.received);
      assert.deepEqual(all.map((r) => [r.id, r.data.n]), [['a', 1], ['b', 3], ['b', 5]]);
    });
  });

  it('4b. unsubscribe(id, fn) removes only that callback', async () => {
    await withPage(env.browser, async ({ page, parked }) => {
      await load(page);
      await page.evaluate(() => {
        window.second = [];
        window.secondCb = (data) => window.second.push(data);
        window.start({ namespace: 't4b_', ids: ['a'] });
        window.rpl.subscribe('a', window.secondCb);
        window.rpl.subscribe('a', window.secondCb); // duplicate: ignored (R-JS-6)
      });
      await parked(1);
      await publishOk(ports.publish, 't4b_a', { n: 1 });
      await waitReceived(page, 1);
      await waitReceived(page, 1, { expr: 'window.second' });
      await page.evaluate(() => window.rpl.unsubscribe('a', window.secondCb));
      await publishOk(ports.publish, 't4b_a', { n: 2 });
      await waitReceived(page, 2);
      await sleep(300);
      assert.deepEqual(await page.evaluate(() => window.second), [{ n: 1 }], 'the removed callback saw only the first message, once');
      assert.deepEqual((await page.evaluate(() => window.received)).map((r) => r.data.n), [1, 2]);
    });
  });

  it('5. setCursor replay: cursor 15 gets exactly the messages at 20 and 30, in order', async () => {
    for (const c of [10, 20, 30]) await publishOk(ports.publish, `${c}:t5_c`, { c });
    await withPage(env.browser, async ({ page, parked }) => {
      await load(page);
      await page.evaluate(() => window.start({ namespace: 't5_', ids: ['c'], cursors: { c: 15 } }));
      const got = await waitReceived(page, 2);
      await sleep(300);
      const all = await page.evaluate(() => window.received);
      assert.deepEqual(all.map((r) => [r.id, r.data.c, r.cursor]), [['c', 20, '20'], ['c', 30, '30']],
        'publisher cursors echoed verbatim, as strings (R-CUR-5)');
      assert.equal(got.length, 2);
      // The client continues from 30: the next poll asks for 30:t5_c.
      const poll = await parked(1);
      assert.match(poll.url, /identifier=(15|30):t5_c&/);
      const last = await parked(2);
      assert.match(last.url, /identifier=30:t5_c&/, 'the next poll continues from the last cursor');
    });
  });

  it('9. unicode and a 100,000-character payload arrive intact', async () => {
    const unicode = 'Привет, 世界 🎉';
    const big = Array.from({ length: 100_000 }, (_, i) => String.fromCharCode(97 + ((i * 7 + (i >> 10)) % 26))).join('');
    await withPage(env.browser, async ({ page, parked }) => {
      await load(page);
      await page.evaluate(() => window.start({ namespace: 't9_', ids: ['u'] }));
      await parked(1);
      await publishOk(ports.publish, 't9_u', { text: unicode });
      // Escaped form too: the body is relayed verbatim and parsed by the client.
      await publishOk(ports.publish, 't9_u', '{"esc":"\\u041f\\u0440\\u0438\\u0432\\u0435\\u0442 \\ud83c\\udf89"}');
      await waitReceived(page, 2);
      const r = await publishOk(ports.publish, 't9_u', { big });
      assert.equal(r.status, 200);
      const got = await waitReceived(page, 3);
      assert.equal(got[0].data.text, unicode);
      assert.equal(got[1].data.esc, 'Привет 🎉');
      const echoed = await page.evaluate(() => window.received[2].data.big);
      assert.equal(echoed.length, 100_000);
      assert.ok(echoed === big, 'the 100,000-character string is byte-identical');
    });
  });

  const WIDE = Array.from({ length: 100 }, (_, i) => `wide_subscription_channel_${String(i + 1).padStart(3, '0')}_x`);

  it('10. 100 ids of ~32 chars use the POST form; a message to the 73rd arrives', async () => {
    assert.ok(WIDE.every((id) => id.length >= 30 && id.length <= 34));
    await withPage(env.browser, async ({ page, parked, requests }) => {
      await load(page);
      await page.evaluate((list) => window.start({ namespace: 't10_', ids: list }), WIDE);
      const poll = await parked(1);
      const posts = requests.filter((r) => r.method === 'POST' && new URL(r.url).pathname === '/');
      assert.ok(posts.length >= 1, 'a POST to / happened');
      assert.equal(poll.method, 'POST');
      assert.equal(posts[0].body, `identifier=${WIDE.map((id) => 't10_' + id).join(',')}\n`, 'body is the list and a LF (R-JS-13)');
      await publishOk(ports.publish, 't10_' + WIDE[72], { which: 73 });
      const got = await waitReceived(page, 1);
      assert.equal(got[0].id, 'wide_subscription_channel_073_x');
      assert.deepEqual(got[0].data, { which: 73 });
    });
  });

  // The same subscription must survive its first delivery. The server's
  // wait_maxlen (5 KiB, the original's WAIT_MAXLEN) caps a POSTed list; the
  // client adopts the X-Realplexor-Cursor of the first poll for every fresh
  // id, which adds a 25-digit cursor to each of the 100 items (3.2 KB ->
  // 5.8 KB), and the follow-up poll is refused with 413.
  it('10b. the 100-id POST subscription keeps receiving after its first delivery', async () => {
    await withPage(env.browser, async ({ page, parked, polls }) => {
      await load(page);
      await page.evaluate((list) => window.start({ namespace: 't10b_', ids: list }), WIDE);
      await parked(1);
      await publishOk(ports.publish, 't10b_' + WIDE[72], { which: 73 });
      await waitReceived(page, 1);
      await publishOk(ports.publish, 't10b_' + WIDE[4], { which: 5 });
      try {
        const got = await waitReceived(page, 2);
        assert.deepEqual(got.map((r) => r.id), [WIDE[72], WIDE[4]]);
      } catch (e) {
        const after = polls.slice(1).map((p) => `${p.method} ${p.status} body ${(p.body || '').length} bytes`);
        throw new Error(`second message never arrived; polls after the first delivery: ${JSON.stringify(after.slice(0, 5))}`
          + ` (${after.length} in all). ${e.message.split('\n')[0]}`);
      }
    });
  });
});
