// The client with its DEFAULT options (as the README example and the demo
// page construct it: no waitTimeout) on a server whose wait_timeout is
// shorter than the client's assumed 300 s. Quiet channels end every poll
// with an empty reply; those are ordinary timeouts, not bounces, and must
// not push the client into its bounce back-off (R-JS-16/17), or messages
// arrive seconds late.
//
// wait_timeout 1s here only to make 12 quiet timeouts take 12 s; the same
// happens with any wait_timeout under 150 s (half the assumed 300), for
// example 55 s behind a proxy with a 60 s idle timeout, after 11 quiet
// polls.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  caddyfile, portBlock, publishOk, serverAndBrowser, sleep, waitReceived, withPage,
} from './harness.mjs';

const ports = portBlock(6);
const PAGE = `http://site.test:${ports.site}/pages/client.html`;

describe('default client options, short server wait_timeout', () => {
  const env = serverAndBrowser(caddyfile({ ports, waitTimeout: '1s' }), { name: 'timeouts', ports: [ports.site, ports.publish] });

  it('quiet timeouts do not delay delivery (no bounce back-off after 12 empty replies)', async () => {
    await withPage(env.browser, async ({ page, parked, polls }) => {
      await page.goto(PAGE);
      // options: {} -> no waitTimeout given, the client's default applies.
      await page.evaluate(() => {
        const rpl = new Dklab_Realplexor(location.origin + '/', '');
        rpl.subscribe('quiet', window.record);
        rpl.execute();
        window.rpl = rpl;
      });
      const first = await parked(1);
      await sleep(12_500 - (Date.now() - first.at));
      const sent = Date.now();
      await publishOk(ports.publish, 'quiet', { late: false });
      let delay;
      try {
        await waitReceived(page, 1, { timeout: 10_000 });
        delay = Date.now() - sent;
      } catch {
        delay = Infinity;
      }
      const at = polls.filter((p) => p.status === 200).map((p) => p.at - first.at);
      const gaps = at.slice(1).map((t, i) => t - at[i]);
      assert.ok(delay < 2000,
        `delivered ${delay} ms after publishing; a poll parked every ~1 s would take < 1 s. `
        + `Polls parked at +${at.join(', +')} ms (gaps ${gaps.join(', ')} ms)`);
    });
  });
});
