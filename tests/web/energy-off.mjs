// The Energy view of a p1ib whose history could not be opened (started by
// tests/web/energy.rs): the view says so, and why, instead of showing empty bars.
// Exits non-zero on the first failed check; a screenshot goes to ARTIFACTS.
import { join } from 'node:path';
import { BASE, OUT, open } from '../support/chromium.mjs';

const { ctx, check, until, watch, done } = await open({ width: 1280, height: 900 });

try {
  const page = ctx.pages()[0] || await ctx.newPage();
  watch(page);
  await page.goto(BASE + '/#/energy');
  const status = page.locator('#energy-status');
  await until(async () => await status.isVisible(), 'the Energy view shows the history\'s state');
  const said = (await status.textContent()).trim();
  check(await status.getAttribute('data-state') === 'unavailable', 'the state is "unavailable"');
  check(/The history is not available: the state directory \/var\/lib\/p1ib is read-only/.test(said), 'and says why: ' + said);
  const problem = page.locator('#energy-problem');
  await until(async () => await problem.isVisible(), 'the failed energy query is reported');
  check(/history is not available/.test(await problem.textContent()), 'with the API\'s message: ' + (await problem.textContent()));
  await page.screenshot({ path: join(OUT, 'energy-unavailable.png'), fullPage: true });
} catch (e) {
  check(false, 'unexpected: ' + (e && e.stack || e));
} finally {
  await done();
}
