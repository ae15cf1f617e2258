// p1ib web UI: dashboard (live values and uPlot graphs fed by /api/v1/events),
// settings and firmware pages. Talks only to the daemon that served it.
(function () {
  'use strict';

  // ---------------------------------------------------------------- helpers
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

  // ------------------------------------------------------------- API access
  let session = { csrf: '', password_set: false, authenticated: false, can_change: false };

  async function loadSession() {
    const r = await fetch('/api/v1/session', { cache: 'no-store' });
    if (r.ok) session = await r.json();
    return session;
  }

  /** Sends JSON; resolves to {ok, status, body}. */
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

  // ------------------------------------------------------------------ names
  const NAMES = {
    '1-0:1.8.0': 'Active energy import', '1-0:2.8.0': 'Active energy export',
    '1-0:1.8.1': 'Energy import, tariff 1', '1-0:1.8.2': 'Energy import, tariff 2',
    '1-0:2.8.1': 'Energy export, tariff 1', '1-0:2.8.2': 'Energy export, tariff 2',
    '1-0:3.8.0': 'Reactive energy import', '1-0:4.8.0': 'Reactive energy export',
    '1-0:1.7.0': 'Active power import', '1-0:2.7.0': 'Active power export',
    '1-0:3.7.0': 'Reactive power import', '1-0:4.7.0': 'Reactive power export',
    '1-0:21.7.0': 'Power import L1', '1-0:41.7.0': 'Power import L2', '1-0:61.7.0': 'Power import L3',
    '1-0:22.7.0': 'Power export L1', '1-0:42.7.0': 'Power export L2', '1-0:62.7.0': 'Power export L3',
    '1-0:23.7.0': 'Reactive import L1', '1-0:43.7.0': 'Reactive import L2', '1-0:63.7.0': 'Reactive import L3',
    '1-0:24.7.0': 'Reactive export L1', '1-0:44.7.0': 'Reactive export L2', '1-0:64.7.0': 'Reactive export L3',
    '1-0:32.7.0': 'Voltage L1', '1-0:52.7.0': 'Voltage L2', '1-0:72.7.0': 'Voltage L3',
    '1-0:31.7.0': 'Current L1', '1-0:51.7.0': 'Current L2', '1-0:71.7.0': 'Current L3',
    '1-0:14.7.0': 'Frequency', '0-0:96.7.21': 'Power failures', '0-0:96.7.9': 'Long power failures',
    '1-0:32.32.0': 'Voltage sags L1', '1-0:52.32.0': 'Voltage sags L2', '1-0:72.32.0': 'Voltage sags L3',
    '1-0:32.36.0': 'Voltage swells L1', '1-0:52.36.0': 'Voltage swells L2', '1-0:72.36.0': 'Voltage swells L3',
    '0-0:96.14.0': 'Tariff', '0-0:1.0.0': 'Meter clock',
  };
  const nameOf = (obis) => NAMES[obis] || (/^0-\d+:24\.2\.[13]$/.test(obis) ? 'Gas / sub-meter' : obis);

  // ---------------------------------------------------------------- routing
  const VIEWS = ['dashboard', 'settings', 'firmware'];
  function route() {
    const name = (location.hash.replace(/^#\/?/, '') || 'dashboard').split('?')[0];
    const view = VIEWS.includes(name) ? name : 'dashboard';
    for (const v of VIEWS) $('view-' + v).hidden = v !== view;
    for (const a of document.querySelectorAll('#menu a')) a.classList.toggle('current', a.dataset.view === view);
    closeMenu();
    if (view === 'dashboard') charts.resize();
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
      el('td', {}, nameOf(v.obis), el('div', { class: 'o', text: v.obis })),
      el('td', { class: 'v', text: fmtNum(v.value, v.unit === 'V' || v.unit === 'A' ? 1 : (Math.abs(v.value) >= 1000 ? 1 : 3)) + ' ' + v.unit })));
    const texts = r.texts.filter((t) => t.obis !== '0-0:1.0.0').map((t) => el('tr', { 'data-obis': t.obis },
      el('td', {}, nameOf(t.obis), el('div', { class: 'o', text: t.obis })), el('td', { class: 'v', text: t.text })));
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
    const up = $('st-update');
    if (!s.update) up.replaceChildren(pill('updates off'), ' ', 'v' + s.version);
    else if (s.update.available) up.replaceChildren(el('a', { href: '#/firmware' }, pill('update available', 'bad')), ' v' + s.version + ' → v' + (s.update.recommended || s.update.latest));
    else up.replaceChildren(pill('up to date', 'ok'), ' v' + s.version);
    setText('st-uptime', fmtDuration(s.uptime_s));
    const problem = $('settings-problem');
    problem.hidden = !s.settings_problem;
    problem.textContent = s.settings_problem ? s.settings_problem.message : '';
    $('drawer-foot').textContent = 'p1ib v' + s.version;
    const avail = !!(s.update && s.update.available);
    $('firmware-badge').classList.toggle('hidden', !avail);
    $('menu-badge').classList.toggle('hidden', !avail);
    if (s.last_telegram_age_ms !== null && s.last_telegram_age_ms !== undefined) lastReadingAt = Date.now() - s.last_telegram_age_ms;
    firmwarePage.statusChanged(s);
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

  // --------------------------------------------------------------- settings
  const settingsPage = (function () {
    let view = null;   // GET /api/v1/config
    let dirty = {};    // key -> value to send
    let checkTimer = 0;
    let checkSeq = 0;

    function fieldId(key) { return 'f-' + key.replace('.', '-'); }

    function renderAdmin() {
      const card = $('admin-card');
      const errorSlot = (name) => el('div', { class: 'error', id: 'err-' + name });
      const pw = (name, label, auto) => el('div', { class: 'field', id: 'field-' + name },
        el('label', { for: 'pw-' + name, text: label }),
        el('input', { type: 'password', id: 'pw-' + name, name, autocomplete: auto }), errorSlot(name));
      if (!session.password_set) {
        card.replaceChildren(
          el('h2', { text: 'Admin password' }),
          el('div', { class: 'banner warn', text: 'No admin password is set. Set one to change settings, restart p1ib or install firmware: until then, nothing else can be changed here.' }),
          el('form', { class: 'inline-form', id: 'password-form', onsubmit: setPassword },
            pw('new', 'New password', 'new-password'), pw('confirm', 'Repeat password', 'new-password'),
            el('button', { type: 'submit', class: 'primary', text: 'Set password' })));
      } else if (!session.authenticated) {
        card.replaceChildren(
          el('h2', { text: 'Log in' }),
          el('p', { class: 'muted', text: 'Changing settings, restarting and installing firmware need the admin password.' }),
          el('form', { class: 'inline-form', id: 'login-form', onsubmit: login },
            pw('password', 'Admin password', 'current-password'),
            el('button', { type: 'submit', class: 'primary', text: 'Log in' })));
      } else {
        card.replaceChildren(
          el('div', { class: 'card-head' }, el('h2', { text: 'Admin' }),
            el('button', { type: 'button', class: 'small', text: 'Log out', onclick: logout })),
          el('details', {}, el('summary', { text: 'Change the admin password' }),
            el('form', { class: 'inline-form', id: 'password-form', onsubmit: setPassword },
              pw('current', 'Current password', 'current-password'), pw('new', 'New password', 'new-password'),
              pw('confirm', 'Repeat password', 'new-password'),
              el('button', { type: 'submit', class: 'primary', text: 'Change password' }))));
      }
    }

    function showFormErrors(fields) {
      for (const f of fields || []) {
        const slot = $('err-' + f.key);
        if (slot) slot.textContent = f.message;
        const field = $('field-' + f.key);
        if (field) field.classList.add('invalid');
      }
    }
    function clearFormErrors(form) {
      form.querySelectorAll('.error').forEach((e) => { e.textContent = ''; });
      form.querySelectorAll('.invalid').forEach((e) => e.classList.remove('invalid'));
    }

    async function setPassword(ev) {
      ev.preventDefault();
      const form = ev.target;
      clearFormErrors(form);
      const val = (n) => (form.querySelector('[name=' + n + ']') || {}).value || '';
      if (val('new').length < 8) return showFormErrors([{ key: 'new', message: 'a password of 8 to 256 characters' }]);
      if (val('new') !== val('confirm')) return showFormErrors([{ key: 'confirm', message: 'the two passwords differ' }]);
      const r = await api('POST', '/api/v1/password', { current: val('current'), new: val('new') });
      if (r.ok) { session = r.body; toast('Admin password saved'); await open(); return; }
      if (r.body && r.body.fields) showFormErrors(r.body.fields); else toast(r.body ? r.body.message : 'Failed');
    }

    async function login(ev) {
      ev.preventDefault();
      const form = ev.target;
      clearFormErrors(form);
      const r = await api('POST', '/api/v1/login', { password: form.querySelector('[name=password]').value });
      if (r.ok) { session = r.body; toast('Logged in'); await open(); return; }
      if (r.body && r.body.fields) showFormErrors(r.body.fields);
      else showFormErrors([{ key: 'password', message: r.body ? r.body.message : 'Failed' }]);
    }

    async function logout() {
      await api('POST', '/api/v1/logout');
      await loadSession();
      await open();
    }

    function input(f, value, locked) {
      const id = fieldId(f.key);
      const common = { id, name: f.key, disabled: locked || !session.can_change };
      const k = f.kind;
      if (k === 'bool') return el('input', Object.assign({ type: 'checkbox', checked: !!value }, common));
      if (k === 'secret') {
        return el('input', Object.assign({ type: 'password', autocomplete: 'off',
          placeholder: view.secrets[f.key] ? 'set – leave empty to keep' : 'not set' }, common));
      }
      if (k.choice) {
        return el('select', common, ...k.choice.map((o) => el('option', { value: o, selected: String(value) === o, text: o })));
      }
      if (k.integer) {
        return el('input', Object.assign({ type: 'number', step: '1', inputmode: 'numeric', value: value === null ? '' : String(value) }, common));
      }
      if (k === 'number') return el('input', Object.assign({ type: 'number', step: 'any', inputmode: 'decimal', value: value === null ? '' : String(value) }, common));
      const attrs = Object.assign({ type: 'text', value: value === null ? '' : String(value), spellcheck: 'false', autocapitalize: 'off' }, common);
      if (k.suggest) attrs.list = id + '-list';
      const inp = el('input', attrs);
      if (!k.suggest) return inp;
      return [inp, el('datalist', { id: id + '-list' }, ...k.suggest.map((o) => el('option', { value: o })))];
    }

    function valueOf(f, inp) {
      if (f.kind === 'bool') return inp.checked;
      return inp.value;
    }

    function renderFields() {
      const groups = new Map();
      for (const f of view.fields) {
        if (!groups.has(f.group)) groups.set(f.group, []);
        groups.get(f.group).push(f);
      }
      const out = [];
      for (const [name, fields] of groups) {
        const items = fields.map((f) => {
          const locked = view.locked.includes(f.key);
          const value = view.values[f.key];
          const control = input(f, value, locked);
          const controls = Array.isArray(control) ? control : [control];
          const main = controls[0];
          const onChange = () => {
            dirty[f.key] = valueOf(f, main);
            if (f.kind === 'secret' && main.value === '') delete dirty[f.key];
            scheduleCheck();
          };
          main.addEventListener('input', onChange);
          main.addEventListener('change', onChange);
          const parts = [];
          if (f.kind === 'bool') {
            parts.push(el('div', { class: 'field check', id: 'field-' + f.key }, main,
              el('label', { for: fieldId(f.key), text: f.label })));
            const wrap = parts[0];
            if (f.help) wrap.append(el('span', { class: 'help', text: '– ' + f.help }));
            wrap.append(el('div', { class: 'error', id: 'err-' + f.key }));
            if (locked) wrap.append(el('div', { class: 'locked', text: 'Set on the command line or in the environment.' }));
            return wrap;
          }
          const label = el('label', { for: fieldId(f.key), text: f.label });
          const box = el('div', { class: 'field', id: 'field-' + f.key }, label);
          if (f.kind === 'secret') {
            label.append(' ', pill(view.secrets[f.key] ? 'set' : 'not set', view.secrets[f.key] ? 'ok' : ''));
            const clear = el('button', { type: 'button', class: 'small', text: 'Clear', disabled: !view.secrets[f.key] || locked || !session.can_change,
              onclick: () => { dirty[f.key] = ''; main.value = ''; main.placeholder = 'will be cleared on save'; scheduleCheck(); } });
            box.append(el('div', { class: 'secret-row' }, ...controls, clear));
          } else box.append(...controls);
          if (f.help) box.append(el('div', { class: 'help', text: f.help }));
          box.append(el('div', { class: 'error', id: 'err-' + f.key }));
          if (locked) box.append(el('div', { class: 'locked', text: 'Set on the command line or in the environment; change it there.' }));
          return box;
        });
        out.push(el('fieldset', {}, el('legend', { text: name }), el('div', { class: 'fields' }, ...items)));
      }
      $('settings-fields').replaceChildren(...out);
      $('save').disabled = !session.can_change || !view.can_save;
      $('restart').disabled = !session.can_change;
      const banner = $('settings-banner');
      if (!view.can_save) showBanner('p1ib runs without a settings file, so changes cannot be saved here.', 'warn');
      else if (!session.can_change) showBanner('Log in to change settings.', '');
      else banner.classList.add('hidden');
    }

    function showBanner(text, kind) {
      const b = $('settings-banner');
      b.className = 'banner ' + (kind || '');
      b.textContent = text;
    }

    function clearErrors() {
      for (const f of view.fields) {
        const slot = $('err-' + f.key);
        if (slot) slot.textContent = '';
        const box = $('field-' + f.key);
        if (box) box.classList.remove('invalid');
      }
    }

    function showErrors(fields) {
      clearErrors();
      let first = null;
      for (const f of fields) {
        const slot = $('err-' + f.key);
        if (slot) slot.textContent = f.message;
        const box = $('field-' + f.key);
        if (box) { box.classList.add('invalid'); first = first || box; }
      }
      return first;
    }

    // Live validation: the server checks with the daemon's own rules and words.
    function scheduleCheck() {
      clearTimeout(checkTimer);
      checkTimer = setTimeout(check, 350);
    }
    async function check() {
      const seq = ++checkSeq;
      if (!Object.keys(dirty).length) { clearErrors(); return true; }
      const r = await api('POST', '/api/v1/config/check', dirty);
      if (seq !== checkSeq) return r.ok;
      if (r.ok) { clearErrors(); return true; }
      if (r.body && r.body.fields) showErrors(r.body.fields);
      return false;
    }

    async function save(ev) {
      ev.preventDefault();
      clearTimeout(checkTimer);
      if (!Object.keys(dirty).length) { toast('Nothing to save'); return; }
      $('save').disabled = true;
      const r = await api('PUT', '/api/v1/config', dirty);
      $('save').disabled = false;
      if (r.ok) {
        view = r.body;
        dirty = {};
        renderFields();
        showBanner('Saved and applied.', '');
        toast('Settings saved and applied');
        return;
      }
      if (r.status === 422 && r.body && r.body.fields) {
        const first = showErrors(r.body.fields);
        const n = r.body.fields.length;
        showBanner('Nothing was changed: ' + n + (n === 1 ? ' field needs' : ' fields need') + ' attention (' + r.body.fields.map((f) => f.key).join(', ') + ').', 'bad');
        if (first) first.scrollIntoView({ block: 'center', behavior: 'smooth' });
      } else if (r.status === 401) {
        await loadSession(); await open();
        showBanner('Log in to change settings.', 'bad');
      } else showBanner(r.body ? r.body.message : 'Saving failed', 'bad');
    }

    async function restart() {
      if (!confirm('Restart p1ib now? The dashboard is back in a few seconds.')) return;
      const r = await api('POST', '/api/v1/restart');
      toast(r.ok ? 'Restarting…' : (r.body ? r.body.message : 'Restart failed'));
    }

    async function open() {
      await loadSession();
      renderAdmin();
      const r = await api('GET', '/api/v1/config');
      if (!r.ok) {
        $('settings-fields').replaceChildren(el('p', { class: 'muted', text: r.status === 401 ? 'Log in to see the settings.' : (r.body ? r.body.message : 'Cannot load the settings.') }));
        $('save').disabled = true;
        $('restart').disabled = !session.can_change;
        return;
      }
      view = r.body;
      dirty = {};
      renderFields();
    }

    return { open, save, restart };
  })();

  // --------------------------------------------------------------- firmware
  const firmwarePage = (function () {
    let fw = null;
    let visible = false;

    function fmtDate(s) { if (!s) return ''; const d = new Date(s); return isNaN(d) ? s : d.toLocaleDateString(); }

    function render() {
      if (!fw) return;
      const s = fw.status;
      const dl = $('fw-status');
      const row = (k, v) => [el('dt', { text: k }), el('dd', {}, v)];
      const items = [row('Installed', 'v' + s.installed)];
      if (fw.enabled) {
        items.push(row('Channel', s.channel));
        items.push(row('Recommended', s.recommended ? 'v' + s.recommended : '–'));
        items.push(row('Last check', s.last_check_unix ? new Date(s.last_check_unix * 1000).toLocaleString() : 'not yet'));
        const act = s.activity || { state: 'idle' };
        if (act.state !== 'idle') items.push(row('Activity', pill(act.state.replace('_', ' ') + (act.version ? ' v' + act.version : ''), 'info')));
        if (s.last_upgrade) items.push(row('Last upgrade', (s.last_upgrade.ok ? '✓ ' : '✗ ') + 'v' + s.last_upgrade.version + ': ' + s.last_upgrade.message));
        if (s.update_available) items.push(row('Update', pill('a newer firmware is available', 'bad')));
      }
      dl.replaceChildren(...items.flat());
      const banner = $('fw-banner');
      if (!fw.enabled) { banner.className = 'banner warn'; banner.textContent = 'Update checks are off (update.channel = "off").'; }
      else if (s.last_error) {
        // A plain sentence; the technical chain (URL, causes) behind a disclosure for a bug report.
        banner.className = 'banner bad';
        banner.replaceChildren(el('span', { text: s.last_error }), s.last_error_detail
          ? el('details', {}, el('summary', { text: 'Details' }), el('pre', { text: s.last_error_detail })) : null);
      }
      else banner.className = 'banner hidden';
      $('fw-check').disabled = !fw.enabled || !session.can_change;

      const busy = s.activity && s.activity.state !== 'idle';
      const cards = (s.releases || []).map((r) => {
        const tags = [];
        if (r.version === s.recommended) tags.push(pill('recommended', 'ok'));
        if (r.version === s.latest && r.version !== s.recommended) tags.push(pill('latest', 'info'));
        if (r.prerelease) tags.push(pill('pre-release', 'warn'));
        if (r.version === s.installed) tags.push(pill('installed', ''));
        const installed = r.version === s.installed;
        const btn = el('button', { type: 'button', class: installed ? '' : 'primary', 'data-version': r.version,
          disabled: installed || !r.installable || busy || !session.can_change,
          title: !r.installable ? 'No signed build of this release for this device' : (!session.can_change ? 'Log in on the settings page first' : ''),
          text: installed ? 'Installed' : 'Install', onclick: () => install(r.version) });
        return el('article', { class: 'card release', 'data-version': r.version },
          el('div', { class: 'release-head' }, el('h2', { text: 'v' + r.version }), ...tags, el('span', { class: 'spacer' }),
            el('span', { class: 'muted', text: fmtDate(r.published_at) }), btn),
          r.name && r.name !== 'v' + r.version && r.name !== r.version ? el('div', { class: 'muted', text: r.name }) : null,
          el('pre', { class: 'notes', text: r.notes || 'No release notes.' }));
      });
      if (fw.enabled && !cards.length) cards.push(el('div', { class: 'card muted', text: 'No releases known yet. Press "Check for updates".' }));
      $('fw-releases').replaceChildren(...cards);
    }

    async function load() {
      const r = await api('GET', '/api/v1/firmware');
      if (r.ok) { fw = r.body; render(); }
    }

    async function check() {
      $('fw-check').disabled = true;
      const r = await api('POST', '/api/v1/firmware/check');
      if (r.ok) { fw = r.body; render(); toast(fw.status.last_error || 'Release list updated'); }
      else toast(r.body ? r.body.message : 'Check failed');
      $('fw-check').disabled = false;
    }

    async function install(version) {
      if (!confirm('Install p1ib v' + version + '? p1ib restarts when it is done.')) return;
      const r = await api('POST', '/api/v1/firmware/install', { version });
      if (r.ok) { fw = r.body; render(); toast('Installing v' + version + '…'); }
      else toast(r.body ? r.body.message : 'Install failed');
    }

    async function open() { visible = true; await loadSession(); await load(); }
    function statusChanged(s) {
      if (!visible || $('view-firmware').hidden || !fw || !s.update) return;
      if (JSON.stringify(s.update.activity) !== JSON.stringify(fw.status.activity) || s.update.available !== fw.status.update_available) load();
    }
    return { open, check, statusChanged };
  })();

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
    window.addEventListener('hashchange', route);
    let resizeTimer = 0;
    window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(charts.resize, 150); });
    await loadSession().catch(() => {});
    route();
    await charts.load('hour');
    const st = await fetch('/api/v1/status', { cache: 'no-store' }).then((r) => r.json()).catch(() => null);
    if (st) showStatus(st);
    const cfg = await fetch('/api/v1/reading', { cache: 'no-store' }).then((r) => (r.ok ? r.json() : null)).catch(() => null);
    if (cfg) showReading(cfg);
    connect();
    setInterval(tick, 1000);
    window.p1ib = { charts, ready: true };
  }

  document.addEventListener('DOMContentLoaded', start);
})();
