// p1ib Wi-Fi settings page: lists the networks NetworkManager sees, joins one
// ("Save & connect"), and tells how it went. Talks only to /api/v1/wifi/* and
// /api/v1/session of the daemon that served it. The password typed here goes to
// the daemon once and is never read back.
// build.rs bundles it after common.js ($, el, session, api), in one function
// scope, as /wifi/wifi.js.

const show = (id, on) => $(id).classList.toggle('hidden', !on);

// ------------------------------------------------------------- API access
/** Whether the admin must log in (on the settings page) before joining a network. */
const loginNeeded = () => !!session.password_set && !session.authenticated;

/** `api` for this page: the answer's body, or an Error with its status and fields. */
async function call(method, path, body) {
  const r = await api(method, path, body);
  if (!r.ok) {
    const err = new Error((r.body && r.body.message) || ('HTTP ' + r.status));
    err.status = r.status;
    err.fields = (r.body && r.body.fields) || [];
    throw err;
  }
  return r.body;
}

// ----------------------------------------------------------------- status
const MODES = {
  'unknown': ['not managed', ''], 'disconnected': ['not connected', 'bad'],
  'connecting': ['connecting', 'warn'], 'ethernet': ['Ethernet', 'ok'],
  'wifi': ['Wi-Fi', 'ok'], 'access-point': ['access point', 'warn'],
};

function renderStatus(s) {
  const [text, kind] = MODES[s.mode] || [s.mode, ''];
  const mode = $('st-mode');
  mode.textContent = text;
  mode.className = 'pill ' + kind;
  $('st-ssid').textContent = s.mode === 'access-point'
    ? (s.ssid || 'p1ib') + ' (p1ib\'s own access point' + (s.ap_address ? ', http://' + s.ap_address + '/' : '') + ')'
    : (s.ssid || '–');
  $('st-signal').textContent = s.signal ? s.signal + ' %' + (s.rssi ? ' (' + s.rssi + ' dBm)' : '') : '–';
  $('st-addresses').textContent = (s.addresses && s.addresses.length) ? s.addresses.join(', ') : '–';
  $('st-ethernet').textContent = !s.has_ethernet ? 'none' : (s.ethernet_up ? 'connected' : 'no cable');
  show('ap-banner', s.mode === 'access-point');
  const problem = !s.managed
    ? 'Network management is off (network.manage = false): p1ib leaves the network settings alone.'
    : (s.problem || '');
  $('st-problem').textContent = problem;
  show('st-problem', !!problem);
}

async function refreshStatus() {
  try {
    const s = await call('GET', '/api/v1/wifi/status');
    renderStatus(s);
    return s;
  } catch (_) { return null; }
}

// --------------------------------------------------------------- networks
let networks = [];
const SECURITY = { 'open': 'open', 'wep': 'WEP', 'wpa-psk': 'WPA', 'sae': 'WPA3', 'enterprise': 'enterprise', 'owe': 'open (encrypted)' };

function bars(signal) {
  const n = signal >= 75 ? 4 : signal >= 50 ? 3 : signal >= 25 ? 2 : 1;
  return el('span', { class: 'bars', 'aria-hidden': 'true' },
    ...[1, 2, 3, 4].map((i) => el('i', { class: i <= n ? 'on' : '' })));
}

function renderNetworks(list, cached) {
  networks = list;
  const ul = $('networks');
  ul.replaceChildren();
  if (!list.length) ul.append(el('li', { class: 'muted', text: 'No networks found. Scan again, or enter a hidden network\'s name below.' }));
  for (const n of list) {
    const secured = n.security !== 'open' && n.security !== 'owe';
    const b = el('button', {
      type: 'button', class: 'net', 'data-ssid': n.ssid,
      'aria-label': n.ssid + ', ' + n.signal + ' %' + (secured ? ', secured' : ', open'),
      onclick: () => choose(n),
    },
    bars(n.signal),
    el('span', { class: 'ssid', text: n.ssid }),
    el('span', { class: 'sec', text: (SECURITY[n.security] || n.security) }),
    el('span', { class: 'pct', text: n.signal + ' %' }));
    ul.append(el('li', {}, b));
  }
  const note = $('scan-note');
  note.textContent = cached ? 'p1ib cannot scan while it is the access point: this is the list from just before it started.' : '';
  show('scan-note', cached);
  markChosen();
}

function markChosen() {
  for (const b of document.querySelectorAll('.net')) b.classList.toggle('chosen', b.dataset.ssid === $('ssid').value);
}

function choose(n) {
  $('ssid').value = n.ssid;
  $('hidden').checked = false;
  const needs = n.security !== 'open' && n.security !== 'owe';
  $('password-help').textContent = needs ? 'This network needs its password.' : 'This network is open: no password.';
  markChosen();
  $('password').focus();
}

async function scan(fresh) {
  const btn = $('scan');
  btn.disabled = true;
  btn.textContent = 'Scanning…';
  try {
    const r = fresh ? await call('POST', '/api/v1/wifi/scan') : await call('GET', '/api/v1/wifi/networks');
    renderNetworks(r.networks || [], !!r.cached);
  } catch (e) {
    $('networks').replaceChildren(el('li', { class: 'muted', text: 'Could not list the networks: ' + e.message }));
  } finally {
    btn.disabled = false;
    btn.textContent = 'Scan';
  }
}

// -------------------------------------------------------------- the form
let staticIp = false;
function setStatic(on) {
  staticIp = on;
  $('ipv4-dhcp').classList.toggle('on', !on);
  $('ipv4-static').classList.toggle('on', on);
  $('ipv4-dhcp').setAttribute('aria-checked', String(!on));
  $('ipv4-static').setAttribute('aria-checked', String(on));
  show('static-fields', on);
}

function banner(text, kind) {
  const b = $('wifi-banner');
  b.textContent = text;
  b.className = 'banner ' + (kind || '');
  show('wifi-banner', !!text);
}

function clearErrors() {
  for (const e of document.querySelectorAll('.field .error')) e.textContent = '';
  for (const f of document.querySelectorAll('.field.invalid')) f.classList.remove('invalid');
}

function fieldError(key, message) {
  const id = { ssid: 'ssid', password: 'password', address: 'address', netmask: 'netmask', gateway: 'gateway', dns: 'dns' }[key];
  if (!id) return false;
  $('e-' + id).textContent = message;
  $('f-' + id).classList.add('invalid');
  return true;
}

function request() {
  const body = { ssid: $('ssid').value, password: $('password').value, hidden: $('hidden').checked };
  body.ipv4 = staticIp
    ? { method: 'static', address: $('address').value.trim(), netmask: $('netmask').value.trim(),
        gateway: $('gateway').value.trim(), dns: $('dns').value.split(',').map((s) => s.trim()).filter(Boolean) }
    : { method: 'dhcp' };
  return body;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Follows attempt `id` until it is decided. The page may lose the daemon for a
// while (the access point goes down while p1ib joins the network): keep asking.
async function follow(id, ssid) {
  let lost = false;
  for (;;) {
    await sleep(1000);
    let s = null;
    try { s = await call('GET', '/api/v1/wifi/status'); } catch (_) { s = null; }
    if (!s) {
      if (!lost) {
        lost = true;
        banner('p1ib is joining "' + ssid + '" and this device lost its connection to p1ib. ' +
          'If it works, rejoin your home Wi-Fi and open http://p1ib.local/ (or the address your router gave p1ib). ' +
          'If the "p1ib" access point shows up again, join it and this page tells what went wrong.', 'warn');
      }
      continue;
    }
    renderStatus(s);
    const a = s.attempt;
    if (!a || a.id !== id || a.state === 'connecting') continue;
    if (a.state === 'connected') {
      const ip = (s.addresses || []).map((x) => x.split('/')[0]).find(Boolean);
      banner('Connected to "' + a.ssid + '".' + (ip ? ' p1ib is now at http://' + ip + '/ and http://p1ib.local/.' : ''), 'ok');
      $('password').value = '';
    } else {
      banner((a.error || 'The connection failed.') + ' The previous setup is kept: check the password and try again.', 'bad');
    }
    return;
  }
}

async function submit(ev) {
  ev.preventDefault();
  clearErrors();
  if (loginNeeded()) {
    banner('Log in on the settings page first: the admin password protects the network settings.', 'bad');
    return;
  }
  const body = request();
  if (!body.ssid) { fieldError('ssid', 'Choose a network above or type its name.'); return; }
  const btn = $('connect');
  btn.disabled = true;
  banner('Connecting to "' + body.ssid + '"… this can take up to a minute.', '');
  try {
    const r = await call('POST', '/api/v1/wifi/connect', body);
    await follow(r.attempt, body.ssid);
  } catch (e) {
    let shown = false;
    for (const f of e.fields || []) shown = fieldError(f.key, f.message) || shown;
    banner(shown ? 'Please correct the marked fields.' : e.message, 'bad');
  } finally {
    btn.disabled = false;
  }
}

function togglePassword() {
  const p = $('password');
  const showIt = p.type === 'password';
  p.type = showIt ? 'text' : 'password';
  const b = $('toggle-password');
  b.setAttribute('aria-pressed', String(showIt));
  b.setAttribute('aria-label', showIt ? 'Hide password' : 'Show password');
  b.title = b.getAttribute('aria-label');
}

// ------------------------------------------------------------------ start
document.addEventListener('DOMContentLoaded', async () => {
  $('wifi-form').addEventListener('submit', submit);
  $('scan').addEventListener('click', () => scan(true));
  $('toggle-password').addEventListener('click', togglePassword);
  $('ipv4-dhcp').addEventListener('click', () => setStatic(false));
  $('ipv4-static').addEventListener('click', () => setStatic(true));
  $('ssid').addEventListener('input', markChosen);
  // Served without the web UI's sessions (tests): no token needed.
  await loadSession().catch(() => {});
  if (loginNeeded()) banner('Log in on the settings page first: the admin password protects the network settings.', 'warn');
  const s = await refreshStatus();
  await scan(!(s && s.mode === 'access-point'));
  setInterval(refreshStatus, 10000);
});
