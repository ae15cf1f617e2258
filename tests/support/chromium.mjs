// What the browser test scripts (tests/<area>/browser.mjs) share: Debian's
// Chromium through playwright-core (PLAYWRIGHT, tests/node_modules/playwright-core
// as tests/package.json pins it, set by tests/support/browser.rs) with a
// throwaway profile, a watch on every request that leaves BASE_URL and on
// script errors, and `check`/`until` that record failures. `done()` adds the
// "nothing from outside, no script errors" checks, closes the browser, prints
// the summary and exits non-zero when anything failed.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BASE = process.env.BASE_URL;
export const OUT = process.env.ARTIFACTS;

export async function open(viewport) {
  const require = createRequire(import.meta.url);
  const { chromium } = require(process.env.PLAYWRIGHT);
  const failures = [];
  const check = (ok, what) => {
    console.log((ok ? 'ok   ' : 'FAIL ') + what);
    if (!ok) failures.push(what);
  };
  const until = async (fn, what, ms = 10000) => {
    const end = Date.now() + ms;
    for (;;) {
      try { if (await fn()) return true; } catch (_) { /* not yet */ }
      if (Date.now() > end) { check(false, what + ' (timed out)'); return false; }
      await new Promise((r) => setTimeout(r, 150));
    }
  };

  const profile = mkdtempSync(join(tmpdir(), 'p1ib-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport,
  });
  const outside = [];
  const errors = [];
  ctx.on('request', (r) => { if (!r.url().startsWith(BASE + '/')) outside.push(r.url()); });
  const watch = (page) => {
    page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
    page.on('console', (m) => {
      // Chromium logs every 4xx/404 answer (validation calls, files a test server
      // does not have); those are expected, other console errors are not.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push('console: ' + m.text());
    });
  };
  const done = async () => {
    check(outside.length === 0, 'the pages requested nothing outside the daemon ' + JSON.stringify(outside));
    check(errors.length === 0, 'no script errors ' + JSON.stringify(errors));
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
    console.log(failures.length ? failures.length + ' check(s) failed' : 'all browser checks passed');
    process.exit(failures.length ? 1 : 0);
  };
  return { ctx, check, until, watch, done };
}
