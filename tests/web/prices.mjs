// The price card and the Energy view's cost in Debian's Chromium (started by
// tests/web/prices.rs, whose comment gives the figures). Exits non-zero on the
// first failed check; screenshots go to ARTIFACTS.
process.env.TZ = 'Europe/Stockholm';
process.env.LANG = 'en_US.UTF-8';

import { join } from 'node:path';
import { BASE, OUT, open } from '../support/chromium.mjs';

const { ctx, check, until, watch, done } = await open({ width: 1280, height: 900 });
const text = async (page, sel) => (await page.textContent(sel)).trim();

async function shows(page, from, what) {
  return until(async () => page.evaluate((f) => {
    const s = window.p1ib && window.p1ib.energy.shown();
    return !!s && document.querySelector('#energy-label').dataset.from === f &&
      document.querySelector('#view-energy').dataset.loading === 'false';
  }, from), what);
}

try {
  const page = ctx.pages()[0] || await ctx.newPage();
  watch(page);
  await page.goto(BASE + '/');
  const card = page.locator('#price-card');
  await until(async () => await card.isVisible(), 'the dashboard shows the price card');
  check(/^[\d.,]+ SEK\/kWh$/.test(await text(page, '#price-now')), 'the price now: ' + await text(page, '#price-now'));
  check(/spot/.test(await text(page, '#price-spot')), 'with its spot price: ' + await text(page, '#price-spot'));
  check(await page.locator('#price-next tr').count() > 0, 'and the next hours');
  check(/elprisetjustnu SE3/.test(await text(page, '#price-source')), 'and where they come from');
  await card.screenshot({ path: join(OUT, 'price-card.png') });

  await page.goto(BASE + '/#/energy?period=day&date=2025-10-27');
  await shows(page, '2025-10-27', 'the day view shows 27 October 2025');
  check(await page.isVisible('#energy-cost-box'), 'the cost total is shown');
  check(await text(page, '#energy-cost') === '31.20 SEK', 'the day cost 31.20 SEK: ' + await text(page, '#energy-cost'));
  const head = await text(page, '#energy-table thead');
  check(/Cost \(SEK\)/.test(head), 'the table has a cost column: ' + head);
  const first = await page.locator('#energy-table tbody tr').first().locator('td.cost').textContent();
  check(first.trim() === '0.75', 'midnight to 01:00: 0.5 kWh at 1.50 SEK = 0.75 (' + first + ')');
  await page.screenshot({ path: join(OUT, 'energy-cost.png'), fullPage: true });

  await page.click('#energy-next');
  await shows(page, '2025-10-28', 'the next day');
  check(/unknown/.test(await text(page, '#energy-cost')), 'a day without prices has no cost, not 0: ' + await text(page, '#energy-cost'));
  const cell = await page.locator('#energy-table tbody tr').first().locator('td.cost').textContent();
  check(cell.trim() === 'no price', 'its hours say "no price": ' + cell);
} catch (e) {
  check(false, 'unexpected: ' + (e && e.stack || e));
} finally {
  await done();
}
