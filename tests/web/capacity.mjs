// The dashboard's capacity card (started by tests/web/capacity.rs): shown with a
// tariff set, with the projection, the month's mean and the estimated charge in
// the tariff's currency, marked as an estimate since Ellevio's price in the
// preset is not checked, or "no price" and why for a preset without one; the
// warning colour when the interval would set a new peak. With no tariff (the
// API answers 503) the card stays hidden.
import { join } from 'node:path';
import { BASE, OUT, open } from '../support/chromium.mjs';

const { ctx, check, until, watch, done } = await open({ width: 1280, height: 900 });

try {
  const page = ctx.pages()[0] || await ctx.newPage();
  watch(page);
  await page.goto(BASE + '/');
  const api = await page.request.get(BASE + '/api/v1/capacity');
  if (api.status() === 503) {
    await until(async () => (await page.evaluate(() => window.p1ib && window.p1ib.ready)), 'the dashboard starts');
    await page.waitForTimeout(1500);
    check(!(await page.locator('#capacity-card').isVisible()), 'no tariff: the capacity card is hidden');
  } else {
    const c = await api.json();
    const card = page.locator('#capacity-card');
    await until(async () => await card.isVisible(), 'the capacity card is shown');
    check((await page.locator('#cap-tariff').textContent()).startsWith(c.tariff.preset), 'it names the preset: ' + c.tariff.preset);
    await until(async () => /kW/.test(await page.locator('#cap-projected').textContent()), 'the interval\'s projection is shown');
    const charge = (await page.locator('#cap-charge').textContent()).trim();
    const note = page.locator('#cap-price-note');
    if (c.charge === null) {
      // A preset without a price (tekniska-verken): no charge, and why.
      check(charge === 'no price', 'no price, no charge: ' + charge);
      check(await note.isVisible() && /^No charge/.test(await note.textContent()), 'the note says why: ' + await note.textContent());
    } else {
      // Ellevio's price in the preset is not checked: the charge is marked, and says why.
      check(c.price_checked === false, 'the API says the price is not checked');
      check(/SEK \*$/.test(charge), 'the charge is in SEK, marked: ' + charge);
      check(await note.isVisible() && /not checked/.test(await note.textContent()), 'a note says the price is not checked: ' + await note.textContent());
    }
    check(/kW/.test(await page.locator('#cap-mean').textContent()), 'the month\'s mean is shown');
    // The demo meter's first interval after the start is the month's only one: a new peak.
    const state = await card.getAttribute('data-state');
    check(['new_peak', 'near', 'ok', 'not_counted'].includes(state), 'the card carries the state: ' + state);
    if (state === 'new_peak') {
      const colour = await page.locator('#cap-projected').evaluate((e) => getComputedStyle(e).color);
      check(colour === 'rgb(224, 49, 49)', 'a new peak is in the warning colour: ' + colour);
    }
    await card.screenshot({ path: join(OUT, c.charge === null ? 'capacity-no-price.png' : 'capacity.png') });
  }
} catch (e) {
  check(false, 'unexpected: ' + (e && e.stack || e));
} finally {
  await done();
}
