// Drives Debian's Chromium through playwright-core against the Wi-Fi page at
// BASE_URL (served by tests/network/browser.rs over the NetworkManager mock).
// Exits non-zero on the first failed check; writes screenshots to ARTIFACTS.
import { join } from 'node:path';
import { BASE, OUT, open } from '../support/chromium.mjs';

const { ctx, check, done, watch } = await open({ width: 420, height: 1100 });

try {
  const page = ctx.pages()[0] || await ctx.newPage();
  watch(page);
  await page.goto(BASE + '/wifi');

  await page.waitForSelector('.net[data-ssid="HomeNet"]', { timeout: 10000 });
  const ssids = await page.$$eval('.net', (bs) => bs.map((b) => b.dataset.ssid));
  check(JSON.stringify(ssids) === JSON.stringify(['HomeNet', 'CafeOpen']), 'lists the mocked networks, strongest first: ' + ssids);
  const homeText = await page.textContent('.net[data-ssid="HomeNet"]');
  check(homeText.includes('82 %') && homeText.includes('WPA'), 'shows signal and security: ' + homeText);
  await page.waitForFunction(() => document.getElementById('st-mode').textContent !== '–');
  check((await page.textContent('#st-mode')) === 'not connected', 'shows the connection state');

  await page.click('.net[data-ssid="HomeNet"]');
  check((await page.inputValue('#ssid')) === 'HomeNet', 'choosing a network fills in its name');
  check(await page.$eval('.net[data-ssid="HomeNet"]', (b) => b.classList.contains('chosen')), 'marks the chosen network');

  await page.fill('#password', 'correct horse battery');
  check((await page.getAttribute('#password', 'type')) === 'password', 'the password is hidden at first');
  await page.click('#toggle-password');
  check((await page.getAttribute('#password', 'type')) === 'text', 'the eye shows the password');
  await page.click('#toggle-password');
  check((await page.getAttribute('#password', 'type')) === 'password', 'and hides it again');

  await page.click('#ipv4-static');
  check(await page.isVisible('#address'), 'static fields appear');
  await page.fill('#address', '192.168.1.77');
  await page.fill('#netmask', '255.255.255.0');
  await page.fill('#gateway', '192.168.1.1');
  await page.fill('#dns', '192.168.1.1');
  await page.screenshot({ path: join(OUT, 'wifi-form.png'), fullPage: true });

  await page.click('#connect');
  await page.waitForSelector('#wifi-banner.ok', { timeout: 15000 });
  const said = await page.textContent('#wifi-banner');
  check(said.includes('Connected to "HomeNet"'), 'says it connected: ' + said);
  check((await page.inputValue('#password')) === '', 'the password field is cleared');
  await page.waitForFunction(() => document.getElementById('st-mode').textContent === 'Wi-Fi');
  check((await page.textContent('#st-ssid')) === 'HomeNet', 'the status shows the new network');
  await page.screenshot({ path: join(OUT, 'wifi-connected.png'), fullPage: true });

  // A bad password is refused on the page, next to the field.
  await page.click('.net[data-ssid="HomeNet"]');
  await page.fill('#password', 'short');
  await page.click('#ipv4-dhcp');
  await page.click('#connect');
  await page.waitForSelector('#f-password.invalid', { timeout: 5000 });
  check((await page.textContent('#e-password')).includes('8 to 63'), 'explains what a password must be');
  await page.screenshot({ path: join(OUT, 'wifi-invalid.png'), fullPage: true });
} catch (e) {
  check(false, 'browser test threw: ' + (e && e.stack || e));
} finally {
  await done();
}
