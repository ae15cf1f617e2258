// p1ib web UI: the dashboard (live values and uPlot graphs fed by
// /api/v1/events, the status block), the menu, and the hash routes that show the
// energy view (energy.js), the settings page (settings.js) and the firmware page
// (firmware.js). build.rs puts uPlot, then common.js, this file, energy.js,
// settings.js and firmware.js into /assets/app.js, the last five in one function
// scope; the helpers below (pill, toast, ...) serve all the pages. Talks only to
// the daemon that served it.

// ---------------------------------------------------------------- helpers
const setText = (id, text) => { const e = $(id); if (e && e.textContent !== text) e.textContent = text; };

function fmtPower(w) {
  if (w === null || w === undefined || Number.isNaN(w)) return '–';
  const a = Math.abs(w);
  if (a >= 10000) return (w / 1000).toFixed(1) + ' kW';
  if (a >= 1000) return (w / 1000).toFixed(2) + ' kW';
  return Math.round(w) + ' W';
}
function fmtNum(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  return v.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function fmtDuration(s) {
  if (s === null || s === undefined) return '–';
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return d + ' d ' + h + ' h';
  if (h) return h + ' h ' + m + ' min';
  if (m) return m + ' min ' + (s % 60) + ' s';
  return s + ' s';
}
function fmtAge(ms) {
  if (ms === null || ms === undefined) return 'never';
  if (ms < 1500) return 'just now';
  return fmtDuration(ms / 1000) + ' ago';
}
function pill(text, kind) { return el('span', { class: 'pill ' + (kind || ''), text }); }

let toastTimer = 0;
function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 3500);
}

// ---------------------------------------------------------------- routing
const VIEWS = ['dashboard', 'energy', 'settings', 'firmware'];
function route() {
  const name = (location.hash.replace(/^#\/?/, '') || 'dashboard').split('?')[0];
  const view = VIEWS.includes(name) ? name : 'dashboard';
  for (const v of VIEWS) $('view-' + v).hidden = v !== view;
  for (const a of document.querySelectorAll('#menu a')) a.classList.toggle('current', a.dataset.view === view);
  closeMenu();
  if (view === 'dashboard') charts.resize();
  if (view === 'energy') energyPage.open();
  if (view === 'settings') settingsPage.open();
  if (view === 'firmware') firmwarePage.open();
  document.title = 'p1ib – ' + view.charAt(0).toUpperCase() + view.slice(1);
}
function openMenu() { $('menu').hidden = false; $('scrim').hidden = false; $('menu-button').setAttribute('aria-expanded', 'true'); }
function closeMenu() { $('menu').hidden = true; $('scrim').hidden = true; $('menu-button').setAttribute('aria-expanded', 'false'); }

// ----------------------------------------------------------------- charts
const charts = (function () {
  const defs = [
    { id: 'chart-power', series: [['Import', '--import', 'import_w'], ['Export', '--export', 'export_w'], ['Net', '--net', 'net_w']] },
    { id: 'chart-phase', series: [['L1', '--l1', 'phase_net_w', 0], ['L2', '--l2', 'phase_net_w', 1], ['L3', '--l3', 'phase_net_w', 2]] },
    { id: 'chart-voltage', series: [['L1', '--l1', 'voltage_v', 0], ['L2', '--l2', 'voltage_v', 1], ['L3', '--l3', 'voltage_v', 2]] },
    { id: 'chart-current', series: [['L1', '--l1', 'current_a', 0], ['L2', '--l2', 'current_a', 1], ['L3', '--l3', 'current_a', 2]] },
  ];
  let span = 'hour';
  let data = null; // columns: t (s) then one per series of every chart
  const plots = [];
  const css = (v) => getComputedStyle(document.documentElement).getPropertyValue(v).trim();
  const width = (d) => Math.max(240, $(d.id).clientWidth || 300);

  // The x axis always shows the selected window ending now, however few points
  // there are: uPlot would fit it to the data (seconds wide, or for a lone point
  // years). The newest point counts as now if the daemon's clock is ahead.
  const windowSeconds = () => (span === 'hour' ? 3600 : 86400);
  function xRange() {
    const last = data && data.t.length ? data.t[data.t.length - 1] : 0;
    const now = Math.max(Date.now() / 1000, last);
    return [now - windowSeconds(), now];
  }

  function emptyData() { return { t: [], cols: defs.map((d) => d.series.map(() => [])) }; }
  function pick(obj, s) { const v = s[3] === undefined ? obj[s[2]] : obj[s[2]][s[3]]; return v === null || v === undefined ? null : v; }

  function build() {
    plots.splice(0).forEach((p) => p.destroy());
    defs.forEach((d, i) => {
      const opts = {
        width: width(d), height: 200,
        cursor: { drag: { x: false, y: false } },
        legend: { show: true, live: true },
        scales: { x: { time: true, range: xRange } },
        axes: [{ stroke: css('--muted'), grid: { stroke: css('--line') }, ticks: { stroke: css('--line') } },
               { stroke: css('--muted'), grid: { stroke: css('--line') }, ticks: { stroke: css('--line') }, size: 56 }],
        series: [{}].concat(d.series.map((s) => ({ label: s[0], stroke: css(s[1]), width: 1.5, spanGaps: false,
          value: (u, v) => v === null || v === undefined ? '–' : (Math.abs(v) >= 100 ? Math.round(v) : v.toFixed(1)) }))),
      };
      const p = new uPlot(opts, [data.t].concat(data.cols[i]), $(d.id));
      plots.push(p);
    });
  }

  function redraw() { plots.forEach((p, i) => p.setData([data.t].concat(data.cols[i]))); }

  async function load(newSpan) {
    span = newSpan || span;
    $('span-hour').classList.toggle('on', span === 'hour');
    $('span-day').classList.toggle('on', span === 'day');
    const r = await fetch('/api/v1/history?span=' + span, { cache: 'no-store' });
    const h = r.ok ? await r.json() : null;
    data = emptyData();
    if (h) {
      data.t = h.t.map((ms) => ms / 1000);
      defs.forEach((d, i) => d.series.forEach((s, j) => { data.cols[i][j] = pick(h, s).map((v) => v === null ? null : v); }));
    }
    if (!plots.length) build(); else redraw();
  }

  function push(sample) {
    if (!data || !sample) return;
    const t = sample.t / 1000;
    const last = data.t.length ? data.t[data.t.length - 1] : 0;
    if (t <= last) return;
    data.t.push(t);
    defs.forEach((d, i) => d.series.forEach((s, j) => data.cols[i][j].push(pick(sample, s))));
    while (data.t.length && data.t[0] < t - windowSeconds()) {
      data.t.shift();
      data.cols.forEach((c) => c.forEach((col) => col.shift()));
    }
    redraw();
  }

  function resize() { plots.forEach((p, i) => p.setSize({ width: width(defs[i]), height: 200 })); }

  return { load, push, resize, points: () => (data ? data.t.length : 0),
    xScales: () => plots.map((p) => [p.scales.x.min, p.scales.x.max]) };
})();

// -------------------------------------------------------------- dashboard
let lastStatus = null;
let lastReadingAt = null; // ms, local clock, when the newest reading arrived
let fuseAmps = 0;

function showReading(r) {
  lastReadingAt = Date.now();
  const d = r.derived;
  const val = (obis) => { const v = r.values.find((x) => x.obis === obis); return v ? v.base : null; };
  const net = d.net_power_w;
  setText('net-power', fmtPower(net));
  $('net-power').classList.toggle('exporting', net !== null && net < 0);
  setText('import-power', fmtPower(val('1-0:1.7.0')));
  setText('export-power', fmtPower(val('1-0:2.7.0')));
  setText('meter-model', [r.meter, r.ident].filter(Boolean).join(' · ') || '–');
  setText('meter-clock', r.clock ? formatClock(r.clock) : '–');
  const volts = ['1-0:32.7.0', '1-0:52.7.0', '1-0:72.7.0'];
  for (let i = 0; i < 3; i++) {
    setText('p' + (i + 1) + '-power', fmtPower(d.net_power_phase_w[i]));
    const u = val(volts[i]);
    setText('p' + (i + 1) + '-voltage', u === null ? '– V' : fmtNum(u, 1) + ' V');
    const a = d.current_a[i];
    setText('p' + (i + 1) + '-current', a === null ? '– A' : fmtNum(a, 1) + ' A');
    const bar = $('p' + (i + 1) + '-bar');
    bar.parentElement.classList.toggle('hidden', !(fuseAmps > 0));
    bar.parentElement.title = fuseAmps > 0 ? 'Current as a share of the ' + fuseAmps + ' A main fuse' : '';
    const frac = fuseAmps > 0 && a !== null ? a / fuseAmps : 0;
    bar.style.width = Math.min(100, Math.max(0, frac * 100)).toFixed(1) + '%';
    bar.classList.toggle('high', frac >= 0.8 && frac < 1);
    bar.classList.toggle('over', frac >= 1);
  }
  const rows = r.values.map((v) => el('tr', { 'data-obis': v.obis },
    el('td', {}, v.name, el('div', { class: 'o', text: v.obis })),
    el('td', { class: 'v', text: fmtNum(v.value, v.unit === 'V' || v.unit === 'A' ? 1 : (Math.abs(v.value) >= 1000 ? 1 : 3)) + ' ' + v.unit })));
  const texts = r.texts.filter((t) => t.obis !== '0-0:1.0.0').map((t) => el('tr', { 'data-obis': t.obis },
    el('td', {}, t.name, el('div', { class: 'o', text: t.obis })), el('td', { class: 'v', text: t.text })));
  $('values').replaceChildren(el('tbody', {}, ...rows, ...texts));
  charts.push(r.sample);
  setText('last-age', 'just now');
}

function formatClock(c) {
  // DSMR: YYMMDDhhmmssX; COSEM: ISO text.
  const m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)([SW])?$/.exec(c);
  if (m) return '20' + m[1] + '-' + m[2] + '-' + m[3] + ' ' + m[4] + ':' + m[5] + ':' + m[6];
  return c.replace('T', ' ').replace(/\.\d+/, '').replace(/([+-]\d\d:\d\d|Z)$/, '');
}

function showStatus(s) {
  lastStatus = s;
  fuseAmps = s.fuse_amps || 0;
  setText('device-name', s.name || '');
  const link = s.link;
  const linkEl = $('st-link');
  if (!link) linkEl.replaceChildren(pill('starting', 'info'));
  else {
    const kind = link.state === 'up' ? 'ok' : link.state === 'down' ? 'bad' : 'warn';
    linkEl.replaceChildren(pill(link.state === 'up' ? 'connected' : link.state, kind), ' ', link.source + (link.detail ? ' · ' + link.detail : ''));
  }
  setText('st-protocol', s.protocol ? s.protocol.toUpperCase() + (s.meter ? ' · ' + s.meter : '') : '–');
  setText('st-ok', String(s.counters.ok));
  const c = s.counters;
  const errs = $('st-errors');
  const detail = [['crc', c.crc], ['decrypt', c.decrypt], ['truncated', c.truncated], ['garbage', c.garbage], ['malformed', c.malformed]]
    .filter((x) => x[1] > 0).map((x) => x[1] + ' ' + x[0]).join(', ');
  errs.replaceChildren(pill(String(c.failed), c.failed ? 'warn' : 'ok'), detail ? ' ' + detail : '');
  setText('st-interval', c.last_ok_interval_ms === null ? '–' : (c.last_ok_interval_ms / 1000).toFixed(1) + ' s');
  const n = s.network;
  $('menu-wifi').hidden = !n;
  if (!n) setText('st-network', 'not managed by p1ib');
  else if (n.mode === 'wifi') setText('st-network', 'Wi-Fi ' + (n.ssid || '') + (n.signal != null ? ' (' + n.signal + ' %, ' + n.rssi + ' dBm)' : '') + (n.addresses.length ? ', ' + n.addresses.join(', ') : ''));
  else if (n.mode === 'ethernet') setText('st-network', 'Ethernet' + (n.addresses.length ? ', ' + n.addresses.join(', ') : ''));
  else if (n.mode === 'access-point') $('st-network').replaceChildren(pill('access point "p1ib"', 'bad'), ' ', el('a', { href: '/wifi' }, 'set up Wi-Fi'));
  else setText('st-network', n.mode);
  const mq = s.mqtt_state;
  $('st-mqtt').replaceChildren(pill(mq, mq === 'connected' ? 'ok' : mq === 'disabled' ? '' : 'bad'), s.mqtt_reason ? ' ' + s.mqtt_reason : '');
  showExport(s.export);
  showHomeAssistant(s.homeassistant);
  const up = $('st-update');
  if (!s.update) up.replaceChildren(pill('updates off'), ' ', 'v' + s.version);
  else if (s.update.available) up.replaceChildren(el('a', { href: '#/firmware' }, pill('update available', 'bad')), ' v' + s.version + ' → v' + (s.update.recommended || s.update.latest));
  else up.replaceChildren(pill('up to date', 'ok'), ' v' + s.version);
  setText('st-uptime', fmtDuration(s.uptime_s));
  const problem = $('settings-problem');
  problem.hidden = !s.settings_problem;
  problem.textContent = s.settings_problem ? s.settings_problem.message : '';
  // The history when it cannot write, is unavailable, or set a damaged file aside.
  const h = s.history;
  const hp = $('history-problem');
  const hMessage = h && (h.state === 'failing' || h.state === 'unavailable' || (h.state === 'ok' && h.message))
    ? 'History: ' + (h.message || h.state) : '';
  hp.hidden = !hMessage;
  hp.textContent = hMessage;
  $('drawer-foot').textContent = 'p1ib v' + s.version;
  const avail = !!(s.update && s.update.available);
  $('firmware-badge').classList.toggle('hidden', !avail);
  $('menu-badge').classList.toggle('hidden', !avail);
  if (s.last_telegram_age_ms !== null && s.last_telegram_age_ms !== undefined) lastReadingAt = Date.now() - s.last_telegram_age_ms;
  firmwarePage.statusChanged(s);
  energyPage.statusChanged(s);
}

// The export to a time-series database: its state, what it sent, what waits.
function showExport(e) {
  const on = !!e && e.state !== 'off';
  $('st-export-t').hidden = !on;
  $('st-export').hidden = !on;
  if (!on) return;
  const kind = e.state === 'ok' ? 'ok' : e.state === 'failing' ? 'bad' : 'warn';
  const parts = [e.sent + ' sent'];
  if (e.backlog > 0) parts.push(e.backlog + ' waiting' + (e.backlog_oldest ? ', the oldest from ' + fmtDuration((Date.now() - e.backlog_oldest) / 1000) + ' ago' : ''));
  if (e.dropped > 0) parts.push(e.dropped + ' dropped');
  if (e.last_success) parts.push('last sent ' + fmtAge(Date.now() - e.last_success));
  $('st-export').replaceChildren(pill(e.state, kind), ' ' + parts.join(' · '), e.message ? el('div', { class: 'o', text: e.message }) : '');
}

// The hourly energy in Home Assistant's statistics: connected, hours behind, last written.
function showHomeAssistant(h) {
  const on = !!h && h.state !== 'off';
  $('st-ha-t').hidden = !on;
  $('st-ha').hidden = !on;
  if (!on) return;
  const kind = h.state === 'ok' ? 'ok' : (h.state === 'failing' || h.state === 'refused') ? 'bad' : 'warn';
  const parts = [];
  if (h.hours_behind !== null && h.hours_behind !== undefined) parts.push(h.hours_behind === 0 ? 'up to date' : h.hours_behind + ' h behind');
  if (h.last_written) parts.push('newest hour ' + new Date(h.last_written).toLocaleString());
  if (h.ha_version) parts.push('Home Assistant ' + h.ha_version);
  $('st-ha').replaceChildren(pill(h.state, kind), ' ' + parts.join(' · '), h.message ? el('div', { class: 'o', text: h.message }) : '');
}

function tick() {
  setText('last-age', lastReadingAt === null ? 'never' : fmtAge(Date.now() - lastReadingAt));
}

function connect() {
  const es = new EventSource('/api/v1/events');
  const live = (on, text) => { $('live').classList.toggle('on', on); setText('live-text', text); };
  es.addEventListener('open', () => live(true, 'live'));
  es.addEventListener('error', () => live(false, 'reconnecting'));
  es.addEventListener('reading', (e) => showReading(JSON.parse(e.data)));
  es.addEventListener('status', (e) => showStatus(JSON.parse(e.data)));
  window.p1ibEvents = es;
}

// ------------------------------------------------------------------ start
async function start() {
  $('menu-button').addEventListener('click', () => ($('menu').hidden ? openMenu() : closeMenu()));
  $('scrim').addEventListener('click', closeMenu);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeMenu(); });
  $('span-hour').addEventListener('click', () => charts.load('hour'));
  $('span-day').addEventListener('click', () => charts.load('day'));
  $('settings-form').addEventListener('submit', settingsPage.save);
  $('restart').addEventListener('click', settingsPage.restart);
  $('fw-check').addEventListener('click', firmwarePage.check);
  energyPage.start();
  window.addEventListener('hashchange', route);
  let resizeTimer = 0;
  window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => { charts.resize(); energyPage.resize(); }, 150); });
  await loadSession().catch(() => {});
  route();
  await charts.load('hour');
  const st = await fetch('/api/v1/status', { cache: 'no-store' }).then((r) => r.json()).catch(() => null);
  if (st) showStatus(st);
  const cfg = await fetch('/api/v1/reading', { cache: 'no-store' }).then((r) => (r.ok ? r.json() : null)).catch(() => null);
  if (cfg) showReading(cfg);
  connect();
  setInterval(tick, 1000);
  window.p1ib = { charts, energy: energyPage, ready: true };
}

document.addEventListener('DOMContentLoaded', start);

// ------------------------------------------------------------------ prices
// The price card: the price now and the next hours from /api/v1/prices, once a
// minute; hidden while no prices are set up.
const priceCard = (function () {
  const time = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  async function load() {
    const p = await fetch('/api/v1/prices', { cache: 'no-store' }).then((r) => (r.ok ? r.json() : null)).catch(() => null);
    const on = !!p && (p.provider !== 'none' || (p.now && p.now.price !== null));
    $('price-card').hidden = !on;
    if (!on) return;
    const unit = ' ' + p.currency + '/kWh';
    setText('price-source', p.provider === 'none' ? 'fixed price' : p.provider + ' ' + p.area);
    setText('price-now', p.now && p.now.price !== null ? fmtNum(p.now.price, 3) + unit : 'no price yet');
    setText('price-spot', p.now && p.now.spot !== null && p.now.spot !== undefined ? 'spot ' + fmtNum(p.now.spot, 3) : '');
    const rows = (p.next || []).slice(0, 12).map((s) => el('tr', {}, el('td', { text: time(s.start_ms) + '–' + time(s.end_ms) }),
      el('td', { class: 'v', text: s.price === null ? '–' : fmtNum(s.price, 3) + unit })));
    $('price-next').replaceChildren(el('tbody', {}, ...rows));
    const st = p.status || {};
    setText('price-status', st.state && st.state !== 'ok' && st.state !== 'off' ? st.state + (st.detail ? ': ' + st.detail : '') : '');
  }
  function start() { load(); setInterval(load, 60e3); }
  return { start, load };
})();
document.addEventListener('DOMContentLoaded', () => priceCard.start());
