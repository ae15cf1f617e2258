// Right after a start, without internet (started by tests/web/browser.rs): the
// firmware page must say in plain words that the release server cannot be
// reached and keep the technical detail behind a disclosure.
import { join } from 'node:path';
import { BASE, OUT, open } from '../support/chromium.mjs';

const { ctx, check, until, watch, done } = await open({ width: 1280, height: 900 });

try {
  const page = ctx.pages()[0] || await ctx.newPage();
  watch(page);
  await page.goto(BASE + '/');

  // ------------------------------------------------------------- firmware
  await page.goto(BASE + '/#/firmware');
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
