// Drives Debian's Chromium through playwright-core against a p1ib web server at
// BASE_URL (started by tests/web/browser.rs). Exits non-zero on the first
// failed check; writes screenshots to ARTIFACTS.
import { join } from 'node:path';
import { BASE, OUT, open } from '../support/chromium.mjs';

const { ctx, check, until, watch, done } = await open({ width: 1280, height: 900 });

try {
  const page = ctx.pages()[0] || await ctx.newPage();
  watch(page);
  await page.goto(BASE + '/');

  // ------------------------------------------------------------ dashboard
  await until(async () => (await page.textContent('#net-power')) !== '–', 'dashboard shows the power');
  await until(async () => (await page.evaluate(() => window.p1ib && window.p1ib.charts.points())) > 100,
    'graphs are pre-filled from the history');
  const p0 = await page.textContent('#net-power');
  const n0 = await page.evaluate(() => window.p1ib.charts.points());
  await until(async () => (await page.textContent('#net-power')) !== p0, 'the power number changes as telegrams arrive');
  await until(async () => (await page.evaluate(() => window.p1ib.charts.points())) >= n0 + 2, 'the graphs grow as telegrams arrive');
  check((await page.textContent('#live-text')) === 'live', 'the live indicator is on');
  check(/Landis\+Gyr/.test(await page.textContent('#meter-model')), 'the meter model is shown');
  check(/\d+\.\d V/.test(await page.textContent('#p2-voltage')), 'per-phase voltage is shown');
  check(/connected/.test(await page.textContent('#st-link')), 'the status block shows the meter connection');
  check(/disconnected the broker refused the connection: not authorised/.test(await page.textContent('#st-mqtt')),
    'the status block shows the MQTT state and why it is down');
  check(/update available/.test(await page.textContent('#st-update')), 'the status block says an update is available');
  await until(async () => /waiting.*the history is not recording/.test(await page.textContent('#st-export')),
    'the status block shows the export and why it waits');
  await until(async () => /waiting.*no finished hour in the history yet/.test(await page.textContent('#st-ha')),
    'the status block shows the Home Assistant statistics and why they wait');
  check(await page.locator('#values tr[data-obis="1-0:1.8.0"]').count() === 1, 'the energy registers are listed');
  await page.screenshot({ path: join(OUT, 'dashboard.png'), fullPage: true });

  await page.click('#span-day');
  await until(async () => await page.evaluate(() => document.querySelector('#span-day').classList.contains('on')), 'the graphs switch to 24 h');
  await page.click('#span-hour');

  // ----------------------------------------------------------------- menu
  await page.click('#menu-button');
  check(await page.isVisible('#menu'), 'the hamburger menu opens');
  check(await page.isVisible('#firmware-badge'), 'the firmware menu item has the red badge');
  await page.screenshot({ path: join(OUT, 'menu.png') });
  await page.click('#menu a[data-view="settings"]');

  // ------------------------------------------------------------- settings
  const fuse = page.locator('[id="f-meter-fuse_amps"]');
  await until(async () => await fuse.isVisible(), 'the settings page lists the settings');
  check(/No admin password is set/.test(await page.textContent('#admin-card')), 'the page says no password is set');
  check(await fuse.isDisabled(), 'before a password is set, settings cannot be changed');
  const refused = await page.evaluate(async () => {
    const s = await (await fetch('/api/v1/session')).json();
    const r = await fetch('/api/v1/config', { method: 'PUT', headers: { 'X-CSRF-Token': s.csrf, 'Content-Type': 'application/json' },
      body: JSON.stringify({ 'meter.fuse_amps': 25 }) });
    return r.status;
  });
  check(refused === 403, 'the API refuses a change before a password is set (' + refused + ')');

  // admin password
  await page.fill('[id="pw-new"]', 'correct horse');
  await page.fill('[id="pw-confirm"]', 'correct horse');
  await page.click('#password-form button[type=submit]');
  await until(async () => /Log out/.test(await page.textContent('#admin-card')), 'setting the admin password logs this browser in');
  await until(async () => await fuse.isEnabled(), 'once logged in, settings can be changed');

  await fuse.fill('5000');
  const fuseErr = page.locator('[id="err-meter.fuse_amps"]');
  await until(async () => /meter\.fuse_amps = "5000" is not allowed: expected the main fuse in amperes, 1 to 1000/.test(await fuseErr.textContent()),
    'an invalid value shows the config validation\'s message while typing');
  await page.click('#save');
  await until(async () => /Nothing was changed/.test(await page.textContent('#settings-banner')), 'saving an invalid value changes nothing and says so');
  await fuse.scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(OUT, 'settings-invalid.png') });
  await fuse.fill('25');
  await until(async () => (await fuseErr.textContent()) === '', 'the error goes when the value is fixed');
  await page.click('#save');
  await until(async () => /Saved and applied/.test(await page.textContent('#settings-banner')), 'saving a valid value is confirmed');
  await page.reload();
  await until(async () => (await page.locator('[id="f-meter-fuse_amps"]').inputValue()) === '25', 'the saved setting round-trips after a reload');
  const status = await page.evaluate(async () => (await fetch('/api/v1/status')).json());
  check(status.fuse_amps === 25, 'the saved setting is in force without a restart');
  // Home Assistant statistics: "Test connection" tries the form's values, saving nothing
  await page.fill('[id="f-homeassistant-url"]', 'http://127.0.0.1:9');
  await page.fill('[id="f-homeassistant-token"]', 'a-long-lived-token');
  await page.click('#ha-test');
  await until(async () => /failed cannot reach Home Assistant at http:\/\/127\.0\.0\.1:9/.test(await page.textContent('#ha-test-result')),
    'Test connection says the address does not answer');
  const saved = await page.evaluate(async () => (await fetch('/api/v1/config')).json());
  check(saved.values['homeassistant.url'] === '', 'Test connection saved nothing');
  // The capacity tariff's preset: its source and date beside the choice, and a
  // warning while its price is unchecked (or missing) and no price is set.
  const preset = page.locator('[id="f-tariff-preset"]');
  const info = page.locator('#preset-info');
  const warning = page.locator('#preset-warning');
  await preset.selectOption('tekniska-verken');
  await until(async () => await info.isVisible(), 'the chosen preset is described');
  check(/checked 20\d\d-\d\d-\d\d/.test(await info.textContent()), 'with the date it was checked: ' + await info.textContent());
  check(/^https:\/\/www\.tekniskaverken\.se\//.test(await info.locator('a').getAttribute('href')), 'and a link to its source');
  check(await warning.isVisible() && /no price/.test(await warning.textContent()), 'a preset without a price warns: ' + await warning.textContent());
  await page.fill('[id="f-tariff-price_kw"]', '90');
  await until(async () => !(await warning.isVisible()), 'the warning goes once a price is set');
  await page.fill('[id="f-tariff-price_kw"]', '');
  await preset.selectOption('ellevio');
  await until(async () => /not checked/.test(await warning.textContent()) && await warning.isVisible(), 'an unchecked price warns');
  await preset.selectOption('sollentuna-energi');
  await until(async () => /seom\.se/.test(await info.textContent()), 'the source follows the choice');
  check(!(await warning.isVisible()), 'a checked price does not warn');
  await preset.selectOption('tekniska-verken');
  await page.locator('[id="field-tariff.preset"]').screenshot({ path: join(OUT, 'settings-tariff.png') });
  await preset.selectOption('none');
  check(!(await info.isVisible()), 'no preset, no description');
  await page.screenshot({ path: join(OUT, 'settings.png'), fullPage: true });

  // ------------------------------------------------------------- firmware
  await page.goto(BASE + '/#/firmware');
  const rec = page.locator('article[data-version="1.2.0"]');
  await until(async () => await rec.isVisible(), 'the firmware page lists releases from the release server');
  check(/recommended/.test(await rec.textContent()), 'the recommended release is marked');
  check(/Kaifa MA304 support/.test(await rec.textContent()), 'release notes are shown');
  check(await page.locator('article[data-version="1.3.0-beta.1"]').count() === 1, 'pre-releases are listed');
  check(/installed/.test(await page.locator('article[data-version="0.1.0"]').textContent()), 'the installed release is marked');
  check(await rec.locator('button').isEnabled(), 'the recommended release can be installed');
  check(/0\.1\.0/.test(await page.textContent('#fw-status')), 'the installed version is shown');
  await page.screenshot({ path: join(OUT, 'firmware.png'), fullPage: true });

  // ---------------------------------------------------------------- phone
  const phone = await ctx.newPage();
  watch(phone);
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(BASE + '/');
  await until(async () => (await phone.textContent('#net-power')) !== '–', 'the dashboard works on a phone-sized screen');
  await phone.waitForTimeout(500);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth);
  check(overflow <= 391, 'no sideways scrolling on a phone (' + overflow + ' px)');
  await phone.screenshot({ path: join(OUT, 'phone.png'), fullPage: true });
} catch (e) {
  check(false, 'unexpected: ' + (e && e.stack || e));
} finally {
  await done();
}
