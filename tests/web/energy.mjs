// The Energy view in Debian's Chromium against a p1ib serving the known history
// of tests/web/energy.rs (Europe/Stockholm; the figures below follow from the data
// described there, which the Rust side checks against the API first). The
// browser runs in the same time zone, as it would next to the Pi. Exits non-zero
// on the first failed check; screenshots go to ARTIFACTS.
process.env.TZ = 'Europe/Stockholm';
process.env.LANG = 'en_US.UTF-8';

import { join } from 'node:path';
import { BASE, OUT, open } from '../support/chromium.mjs';

const { ctx, check, until, watch, done } = await open({ width: 1280, height: 900 });

/** Waits until the view shows `period` starting on local date `from` (YYYY-MM-DD). */
async function shows(page, period, from, what) {
  return until(async () => page.evaluate(([p, f]) => {
    const s = window.p1ib && window.p1ib.energy.shown();
    return !!s && s.period === p && document.querySelector('#energy-label').dataset.from === f &&
      document.querySelector('#view-energy').dataset.loading === 'false';
  }, [period, from]), what);
}
const text = async (page, sel) => (await page.textContent(sel)).trim();
const shown = (page) => page.evaluate(() => window.p1ib.energy.shown());

async function totals(page, imp, exp, net, what) {
  const got = [await text(page, '#energy-import'), await text(page, '#energy-export'), await text(page, '#energy-net')];
  const want = [imp, exp, net].map((v) => v + ' kWh');
  check(JSON.stringify(got) === JSON.stringify(want), what + ': totals ' + JSON.stringify(got) + ', expected ' + JSON.stringify(want));
}

try {
  const page = ctx.pages()[0] || await ctx.newPage();
  watch(page);
  await page.goto(BASE + '/#/energy?period=day&date=2025-10-27');
  check(await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone) === 'Europe/Stockholm',
    'the browser runs in Europe/Stockholm, as the history does');

  // ------------------------------------------------------------------ a day
  await shows(page, 'day', '2025-10-27', 'the day view shows 27 October 2025');
  check(await page.isVisible('#view-energy') && !(await page.isVisible('#view-dashboard')), 'the Energy view replaces the dashboard');
  let s = await shown(page);
  check(s.bars === 24, 'a normal day has 24 hourly bars (' + s.bars + ')');
  check(await page.locator('#energy-table tbody tr').count() === 24, 'the table lists 24 hours');
  check(s.import.every((v) => v !== null) && Math.abs(s.import[0] - 0.5) < 1e-9 && Math.abs(s.import[7] - 1.5) < 1e-9 && Math.abs(s.import[12] - 0.3) < 1e-9,
    'each bar is its hour\'s energy (0.5 kWh at night, 1.5 in the morning, 0.3 at noon): ' + JSON.stringify(s.import));
  check(s.export.filter((v) => v > 0).length === 6 && Math.abs(s.export[12] - 2.7) < 1e-9, 'export in the six midday hours, 2.7 kWh each');
  await totals(page, '20.80', '16.20', '4.60', '27 October 2025');
  check(/Monday, October 27, 2025/.test(await text(page, '#energy-label')), 'the period is named: ' + await text(page, '#energy-label'));
  const ago = await text(page, '#energy-ago');
  check(/A year before/.test(ago) && /import 21\.30 kWh/.test(ago) && /export 8\.10 kWh/.test(ago) && /net 13\.20 kWh/.test(ago),
    'the same day a year before (27 October 2024, 25 hours) with its totals: ' + ago);
  check(s.yearBefore, 'the bars have the year before as a second series');
  check(!(await page.isVisible('#energy-gap-note')), 'no gap note on a day without gaps');
  check(s.estimated.every((e) => !e), 'no bar of a day without gaps is marked');
  await until(async () => (await shown(page)).powerPoints >= 1440, 'the power graph has a point a minute');
  check(await page.isVisible('#energy-power'), 'power per minute is shown for a day');
  check(/Import/.test(await text(page, '#energy-bars')) && /Export a year before/.test(await text(page, '#energy-bars')), 'the bars\' legend names the series');
  await page.screenshot({ path: join(OUT, 'energy-day.png'), fullPage: true });

  // --------------------------------------------------- previous: clocks back
  await page.click('#energy-prev');
  await shows(page, 'day', '2025-10-26', '"previous" goes to 26 October 2025');
  check(/2025-10-26/.test(await page.evaluate(() => location.hash)), 'the address says which day is shown');
  s = await shown(page);
  check(s.bars === 25, 'the day the clocks went back has 25 hourly bars (' + s.bars + ')');
  const labels = await page.locator('#energy-table tbody tr td:first-child').allTextContents();
  check(labels.length === 25 && new Set(labels).size === 25, 'its 25 hours have 25 different labels: ' + JSON.stringify(labels));
  check(labels.filter((l) => /GMT|CES?T/.test(l)).length === 2, 'the hour that happened twice is named by its offset, both times');
  check(/25 hours/.test(await text(page, '#energy-label')), 'the period says it has 25 hours');
  await totals(page, '21.30', '15.60', '5.70', '26 October 2025');
  await page.screenshot({ path: join(OUT, 'energy-dst.png'), fullPage: true });

  // ------------------------------------------------------------ next, next
  await page.click('#energy-next');
  await shows(page, 'day', '2025-10-27', '"next" goes back to 27 October');
  await totals(page, '20.80', '16.20', '4.60', 'back on 27 October 2025');
  await page.click('#energy-next');
  await shows(page, 'day', '2025-10-28', '"next" goes on to 28 October');
  await totals(page, '20.80', '16.80', '4.00', '28 October 2025');
  check((await shown(page)).bars === 24, 'a normal day again has 24 bars');

  // -------------------------------------------------------------------- a gap
  await page.evaluate(() => { location.hash = '#/energy?period=day&date=2025-10-22'; });
  await shows(page, 'day', '2025-10-22', 'the day with a gap is shown');
  s = await shown(page);
  const marked = s.estimated.map((e, i) => (e ? i : -1)).filter((i) => i >= 0);
  check(JSON.stringify(marked) === '[7,8,9,10]', 'the hours the gap (07:59 to 11:00) touches are marked: ' + JSON.stringify(marked));
  const note = await text(page, '#energy-gap-note');
  check(await page.isVisible('#energy-gap-note') && /Includes 3 h without readings; energy spread over the gap/.test(note),
    'a note says how long the day went without readings: ' + note);
  check(Math.abs(s.import[8] - s.import[9]) < 1e-9 && Math.abs(s.import[8] - 1.1) < 0.01,
    'the gap\'s energy is spread evenly over it (' + s.import[8] + ' kWh an hour)');
  await totals(page, '20.80', '13.20', '7.60', '22 October 2025, energy across the gap included');
  check(await page.locator('#energy-table tr.estimated').count() === 4, 'the table marks the 4 hours too');
  await until(async () => { const p = await shown(page); return p.powerPoints > 1200 && p.powerPoints < 1440; },
    'the power graph has no minutes in the gap');
  await page.click('.energy-table summary');
  await page.screenshot({ path: join(OUT, 'energy-gap.png'), fullPage: true });

  // ------------------------------------------------------------------ a week
  await page.click('#energy-week');
  await shows(page, 'week', '2025-10-20', 'the week switch shows the week of 22 October (Monday 20th)');
  s = await shown(page);
  check(s.bars === 7, 'a week has 7 daily bars (' + s.bars + ')');
  check(JSON.stringify(s.estimated) === '[false,false,true,false,false,false,false]', 'the day with the gap is marked: ' + JSON.stringify(s.estimated));
  await totals(page, '146.10', '96.60', '49.50', 'the week of 20 October 2025');
  check(await page.isVisible('#energy-gap-note'), 'the gap note is shown for the week');
  await until(async () => (await shown(page)).powerPoints > 7000, 'power per minute is shown for a week');
  await page.screenshot({ path: join(OUT, 'energy-week.png'), fullPage: true });

  // ----------------------------------------------------------------- a month
  await page.click('#energy-month');
  await shows(page, 'month', '2025-10-01', 'the month switch shows October 2025');
  s = await shown(page);
  check(s.bars === 31, 'October has 31 daily bars (' + s.bars + ')');
  await totals(page, '645.30', '297.60', '347.70', 'October 2025');
  check(/import 645\.30 kWh/.test(await text(page, '#energy-ago')) && /export 148\.80 kWh/.test(await text(page, '#energy-ago')),
    'October 2024 for comparison: ' + await text(page, '#energy-ago'));
  check(!(await page.isVisible('#energy-power-card')), 'no per-minute power for a month');
  await page.screenshot({ path: join(OUT, 'energy-month.png'), fullPage: true });

  // ------------------------------------------------------------------ a year
  await page.click('#energy-year');
  await shows(page, 'year', '2025-01-01', 'the year switch shows 2025');
  s = await shown(page);
  check(s.bars === 12, 'a year has 12 monthly bars (' + s.bars + ')');
  check(s.import.filter((v) => v !== null).length === 2, 'of which October and November have energy');
  await totals(page, '686.90', '299.40', '387.50', '2025');
  check(/export 149\.70 kWh/.test(await text(page, '#energy-ago')), '2024 for comparison: ' + await text(page, '#energy-ago'));
  await page.screenshot({ path: join(OUT, 'energy-year.png'), fullPage: true });
  await page.click('#energy-prev');
  await shows(page, 'year', '2024-01-01', '"previous" goes to 2024');
  await totals(page, '686.90', '149.70', '537.20', '2024');
  check(/No readings from a year before: the history starts October 1, 2024/.test(await text(page, '#energy-ago')),
    'before the history starts there is no year before, and the view says so: ' + await text(page, '#energy-ago'));
  check(!(await shown(page)).yearBefore, 'and draws none');
  await page.click('#energy-next');
  await shows(page, 'year', '2025-01-01', '"next" goes back to 2025');
  await page.click('#energy-next');
  await shows(page, 'year', '2026-01-01', '"next" goes on to this year');
  check(await page.isDisabled('#energy-next'), 'there is no next period after this one');
  await totals(page, '0.00', '0.00', '0.00', 'a year with no readings');

  // ---------------------------------------------------- the dashboard is kept
  await page.click('#menu-button');
  await page.click('#menu a[data-view="dashboard"]');
  await until(async () => page.isVisible('#chart-power'), 'the dashboard and its graphs are back');
  check(await page.locator('#menu a[data-view="energy"]').count() === 1, 'the menu has the Energy view');

  // ------------------------------------------------------------------ phone
  const phone = await ctx.newPage();
  watch(phone);
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(BASE + '/#/energy?period=month&date=2025-10-22');
  await shows(phone, 'month', '2025-10-01', 'the month view works on a phone-sized screen');
  check((await shown(phone)).bars === 31, 'with its 31 bars');
  const wide = await phone.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 391, 'no sideways scrolling on a phone (' + wide + ' px)');
  await phone.screenshot({ path: join(OUT, 'energy-phone.png'), fullPage: true });
  await phone.evaluate(() => { location.hash = '#/energy?period=day&date=2025-10-26'; });
  await shows(phone, 'day', '2025-10-26', 'the day the clocks went back on a phone');
  await phone.click('.energy-table summary');
  const wideDay = await phone.evaluate(() => document.documentElement.scrollWidth);
  check(wideDay <= 391, 'a day with its table open does not scroll sideways on a phone (' + wideDay + ' px)');
  await phone.screenshot({ path: join(OUT, 'energy-phone-day.png'), fullPage: true });
} catch (e) {
  check(false, 'unexpected: ' + (e && e.stack || e));
} finally {
  await done();
}
