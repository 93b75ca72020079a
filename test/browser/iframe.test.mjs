// The loader page (js/dklab_realplexor.html, served at ?identifier=IFRAME)
// driven the way the ORIGINAL host-page client drives it (specification
// section 11, R-JS-3, R-JS-8, R-JS-9, R-JS-15, R-JS-22): a page on
// site.test joins document.domain with an iframe on rpl.site.test and calls
// Dklab_Realplexor_Loader.execute(map, exceptionWrapper, prefix) across the
// frames. Also the loader's postMessage bridge, for host pages on another
// site, where document.domain cannot work.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  caddyfile, portBlock, publishOk, serverAndBrowser, sleep, WAIT_MS, waitReceived, withPage,
} from './harness.mjs';

const ports = portBlock(3);
const HOST_PAGE = `http://site.test:${ports.site}/pages/host-iframe.html`;
const WAIT_ORIGIN = `http://rpl.site.test:${ports.site}`;

async function executing(page) {
  await page.waitForFunction(() => window.state !== 'starting', null, { timeout: WAIT_MS });
  const state = await page.evaluate(() => window.state);
  assert.equal(state, 'executing', `the host page reached the loader (document.domain: ${await page.evaluate(() => `${window.domainNow} ${window.domainError || ''}`)})`);
}

describe('iframe loader', () => {
  const env = serverAndBrowser(caddyfile({ ports }), { name: 'iframe', ports: [ports.site, ports.publish] });

describe('original host-to-iframe protocol (document.domain)', () => {

  for (const [label, query] of [
    ['HOST=location.host (with port), as the original client sends it (R-JS-3)', ''],
    ['HOST=site.test, without the port', '?host=site.test'],
  ]) {
    it(`11. document.domain path, ${label}: delivery across the sub-domain`, async () => {
      await withPage(env.browser, async ({ page, parked }) => {
        const iframeResp = page.waitForResponse((r) => r.url().includes('identifier=IFRAME'));
        await page.goto(HOST_PAGE + query);
        const resp = await iframeResp;
        assert.equal(resp.headers()['origin-agent-cluster'], '?0', 'the loader page opts out of origin-keyed agent clusters');
        assert.equal(await page.evaluate(() => window.domainNow), 'site.test');
        await executing(page);
        const poll = await parked(1);
        assert.equal(new URL(poll.url).origin, WAIT_ORIGIN, 'the loader polls its own origin (XHR same-origin)');
        assert.match(poll.url, /\/\?identifier=alpha&ncrnd=\d+$/);

        await publishOk(ports.publish, 'alpha', { n: 1 });
        const got = await waitReceived(page, 1);
        assert.deepEqual(got[0].data, { n: 1 });
        assert.equal(got[0].id, 'alpha');
        assert.equal(got[0].cursorType, 'string');
        assert.match(got[0].cursor, /^\d+\.\d{14}$/);
        // R-JS-8: the loader updates the host's own map object in place.
        assert.equal(await page.evaluate(() => window.rplMap.alpha.cursor), got[0].cursor);
        // R-JS-9: callbacks ran through the host's wrapper.
        assert.ok(await page.evaluate(() => window.wrapperCalls) >= 1, 'exceptionWrapper used');
      });
    });
  }

  it('11. prefix: ids go out as <prefix><id>, callbacks get the bare id (R-JS-15)', async () => {
    await withPage(env.browser, async ({ page, parked }) => {
      await page.goto(HOST_PAGE + '?prefix=ns_&ids=beta,gamma');
      await executing(page);
      const poll = await parked(1);
      assert.match(poll.url, /identifier=ns_beta,ns_gamma&/);
      await publishOk(ports.publish, 'ns_gamma', JSON.stringify('gamma!'));
      const got = await waitReceived(page, 1);
      assert.equal(got[0].id, 'gamma');
      assert.equal(got[0].data, 'gamma!');
    });
  });

  it('11. a throwing callback is reported (R-JS-15) and delivery goes on', async () => {
    await withPage(env.browser, async ({ page, parked, log }) => {
      await page.goto(HOST_PAGE);
      await executing(page);
      await parked(1);
      await publishOk(ports.publish, 'alpha', { throwInCallback: true });
      await page.waitForFunction(() => window.wrapperErrors.length >= 1, null, { timeout: WAIT_MS });
      await publishOk(ports.publish, 'alpha', { n: 2 });
      const got = await waitReceived(page, 1);
      assert.deepEqual(got[0].data, { n: 2 }, 'the next message is still delivered');
      // The console of the loader's frame does reach us:
      const loaderFrame = page.frames().find((f) => f.url().includes('identifier=IFRAME'));
      await loaderFrame.evaluate(() => console.error('probe from the loader frame'));
      await page.waitForTimeout(100);
      assert.ok(log.some((l) => l.includes('probe from the loader frame')), 'loader frame console captured');
      // The original's wrapper never throws: it returns the error as a
      // string, and the original loader logged that string as
      // "Error executing callback #0 for ID alpha: <error>" (R-JS-15). The
      // new loader says it reports callback errors even without js_debug.
      const calls = await page.evaluate(() => window.wrapperArgs.slice(0, 2));
      const reported = log.filter((l) => /Error executing callback #0 for ID alpha/.test(l));
      assert.ok(reported.length >= 1,
        `the loader reports the failed callback; the wrapper returned ${JSON.stringify(await page.evaluate(() => window.wrapperErrors))}`
        + ` and was called as wrapper(${calls.map((c) => c.join(', ')).join(') / wrapper(')}); console was:\n${log.join('\n')}`);
    });
  });
});

describe('postMessage bridge (host page on another site)', () => {
  const bridge = (pageHost, hostParam) => `http://${pageHost}:${ports.site}/pages/host-postmessage.html`
    + `?wait=${encodeURIComponent(WAIT_ORIGIN)}&host=${encodeURIComponent(hostParam)}`;

  it('11. a page on other.test gets deliveries through the bridge', async () => {
    await withPage(env.browser, async ({ page, parked }) => {
      await page.goto(bridge('other.test', `other.test:${ports.site}`) + '&ids=pm');
      await page.waitForFunction(() => window.state === 'executing', null, { timeout: WAIT_MS });
      const poll = await parked(1);
      assert.equal(new URL(poll.url).origin, WAIT_ORIGIN);
      await publishOk(ports.publish, 'pm', { via: 'postMessage' });
      const got = await waitReceived(page, 1);
      assert.deepEqual(got[0].data, { via: 'postMessage' });
      assert.equal(got[0].id, 'pm');
      assert.match(got[0].cursor, /^\d+\.\d{14}$/);
    });
  });

  it('11. the bridge ignores a page whose host is not HOST or a sub-domain of it', async () => {
    await withPage(env.browser, async ({ page, polls }) => {
      await page.goto(bridge('evil.test', `other.test:${ports.site}`) + '&ids=pm');
      await page.waitForFunction(() => window.state === 'executing', null, { timeout: WAIT_MS });
      await sleep(1000);
      await publishOk(ports.publish, 'pm', { leaked: true });
      await sleep(1000);
      assert.equal(polls.length, 0, 'no poll was started for the foreign page');
      assert.deepEqual(await page.evaluate(() => window.received), []);
    });
  });
});
});
