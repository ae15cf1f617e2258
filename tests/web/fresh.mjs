// Right after a start, without internet (started by tests/web/browser.rs): the
// graphs have a few points and must still span the selected window ending now;
// the firmware page must say in plain words that the release server cannot be
// reached and keep the technical detail behind a disclosure.
import { join } from 'node:path';
import { BASE, OUT, open } from '../support/chromium.mjs';

const { ctx, check, until, watch, done } = await open({ width: 1280, height: 900 });

/** Each graph's x scale as [min, max] in seconds, with the page's clock. */
const xScales = (page) => page.evaluate(() => ({ scales: window.p1ib.charts.xScales(), now: Date.now() / 1000 }));
const spans = (x, seconds) => x.scales.length === 4 && x.scales.every(([min, max]) =>
  Math.abs(max - min - seconds) < 1 && Math.abs(max - x.now) < 60);

try {
  const page = ctx.pages()[0] || await ctx.newPage();
  watch(page);
  await page.goto(BASE + '/');

  // ------------------------------------------------------------ dashboard
  await until(async () => (await page.evaluate(() => window.p1ib && window.p1ib.charts.points())) >= 1,
    'the graphs have their first point');
  let x = await xScales(page);
  check(spans(x, 3600), 'with one point the graphs span the last hour ' + JSON.stringify(x));
  await until(async () => (await page.evaluate(() => window.p1ib.charts.points())) >= 3, 'the graphs grow as telegrams arrive');
  x = await xScales(page);
  check(spans(x, 3600), 'with a few points the graphs still span the last hour ' + JSON.stringify(x));
  await page.screenshot({ path: join(OUT, 'fresh-dashboard.png'), fullPage: true });

  await page.click('#span-day');
  await until(async () => spans(await xScales(page), 86400), 'switched to 24 h, the graphs span the last day');
  await page.click('#span-hour');
  await until(async () => spans(await xScales(page), 3600), 'and back to the last hour');

  // ------------------------------------------------------------- firmware
  // (checking for updates needs the admin: set the password first)
  const set = await page.evaluate(async () => {
    const s = await (await fetch('/api/v1/session')).json();
    const r = await fetch('/api/v1/password', { method: 'POST',
      headers: { 'X-CSRF-Token': s.csrf, 'Content-Type': 'application/json' },
      body: JSON.stringify({ new: 'correct horse' }) });
    return r.status;
  });
  check(set === 200, 'the admin password is set (' + set + ')');
  await page.goto(BASE + '/#/firmware');
  await page.reload();
  const banner = page.locator('#fw-banner');
  const plain = 'Cannot reach the release server (no internet connection?)';
  await until(async () => (await banner.isVisible()) && (await banner.innerText()).startsWith(plain),
    'the firmware page says plainly that the release server cannot be reached');
  const details = banner.locator('details');
  check(await details.count() === 1, 'the technical detail is behind a disclosure');
  check(!(await banner.innerText()).includes('error sending request'), 'the detail is folded away');
  await details.locator('summary').click();
  check(/127\.0\.0\.1:9/.test(await details.innerText()), 'the detail names the address asked');
  await page.screenshot({ path: join(OUT, 'firmware-offline.png'), fullPage: true });

  await page.click('#fw-check');
  await until(async () => (await page.textContent('#toast')) === plain, 'checking again says so too, not "Release list updated"');
} catch (e) {
  check(false, 'unexpected: ' + (e && e.stack || e));
} finally {
  await done();
}
