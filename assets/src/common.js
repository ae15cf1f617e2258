// What every p1ib page shares: DOM helpers, the browser's session and `api()`.
// build.rs puts this file first in both bundles (the dashboard's /assets/app.js
// and the Wi-Fi page's /wifi/wifi.js), in one function scope with the page's own
// files: no modules, no bundler; its names are the page's names. Talks only to
// the daemon that served the page.

const $ = (id) => document.getElementById(id);
const el = (tag, attrs, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
};

// ------------------------------------------------------------- API access
let session = { csrf: '', password_set: false, authenticated: false, can_change: false };

/** Reads this browser's session: its CSRF token and whether it is logged in. */
async function loadSession() {
  const r = await fetch('/api/v1/session', { cache: 'no-store' });
  if (r.ok) session = await r.json();
  return session;
}

/**
 * Sends JSON; resolves to {ok, status, body}. A change refused as "forbidden"
 * (an expired session or CSRF token) gets a fresh session and one more try; any
 * other refusal is the caller's to show.
 */
async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = session.csrf;
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let r = await fetch(path, opts);
  if (r.status === 403 && method !== 'GET' && (await r.clone().json().catch(() => ({}))).error === 'forbidden') {
    // An expired session: get a new one and try once more.
    await loadSession();
    opts.headers['X-CSRF-Token'] = session.csrf;
    r = await fetch(path, opts);
  }
  let data = null;
  try { data = await r.json(); } catch (_) { data = null; }
  return { ok: r.ok, status: r.status, body: data };
}
