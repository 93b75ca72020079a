// 200 messages published back to back to one channel reach one browser
// client complete and in order.
//
// The contract behind it: the server keeps the last max_data_for_id
// messages per channel (30 by default, the original's MAX_DATA_FOR_ID), and
// the client continues each poll from the cursor of the last message of the
// previous batch (or, before any message, from the X-Realplexor-Cursor of
// its first poll). So nothing is lost as long as the client comes back
// before more than max_data_for_id messages have piled up behind it. With
// the default 30 that holds only as long as the browser keeps pace with a
// tight publish loop; this file sets max_data_for_id 500 so that the test
// checks the cursor chain itself (no gaps, no duplicates, no reordering
// across batches), not the browser's speed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  caddyfile, portBlock, publishOk, serverAndBrowser, waitReceived, withPage,
} from './harness.mjs';

const ports = portBlock(1);
const PAGE = `http://site.test:${ports.site}/pages/client.html`;
const COUNT = 200;

describe('burst', () => {
  const env = serverAndBrowser(caddyfile({ ports, hubOptions: ['max_data_for_id 500'] }), { name: 'burst', ports: [ports.site, ports.publish] });

  it(`8. ${COUNT} messages published in quick succession arrive complete and in order`, async () => {
    await withPage(env.browser, async ({ page, parked, polls }) => {
      await page.goto(PAGE);
      await page.evaluate(() => window.start({ ids: ['burst'] }));
      await parked(1);
      // Warm-up: proves the first poll is parked and gives the client a
      // message cursor to continue from.
      await publishOk(ports.publish, 'burst', { seq: 0 });
      await waitReceived(page, 1);

      const t0 = Date.now();
      for (let seq = 1; seq <= COUNT; seq++) {
        await publishOk(ports.publish, 'burst', { seq });
      }
      const publishMs = Date.now() - t0;
      const got = await waitReceived(page, COUNT + 1);
      const deliverMs = Date.now() - t0;

      const seqs = got.map((r) => r.data.seq);
      assert.deepEqual(seqs, Array.from({ length: COUNT + 1 }, (_, i) => i), 'exactly 0..200, in order');
      const cursors = got.map((r) => r.cursor);
      assert.equal(new Set(cursors).size, cursors.length, 'every message has its own cursor');
      for (let i = 1; i < cursors.length; i++) {
        const [a, b] = [cursors[i - 1], cursors[i]].map((c) => BigInt(c.replace('.', '')));
        assert.ok(a < b, `cursor ${i} increases`);
      }
      const batches = polls.filter((p) => p.status === 200).length;
      console.log(`# burst: ${COUNT} publishes in ${publishMs} ms, all delivered after ${deliverMs} ms over ${batches} polls`);
    });
  });
});
