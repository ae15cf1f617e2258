// p1ib web UI: the Energy view (#/energy). Bars of import, export and net per
// hour (a day), per day (a week, a month) and per month (a year) from
// /api/v1/energy, the period's totals and the same period a year before, and
// power per minute (a day, a week) from /api/v1/history. Periods are the
// browser's local days, weeks (Monday first), months and years; a day the clocks
// change on has 23 or 25 hourly bars. Intervals the meter was not heard in carry
// the energy its registers counted across the gap: their bars are hatched and a
// note says how long. Talks only to the daemon that served it; no state of its
// own beyond what is on screen and the address (#/energy?period=day&date=...).

const energyPage = (function () {
  const PERIODS = ['day', 'week', 'month', 'year'];
  const STEP = { day: '1h', week: '1d', month: '1d', year: '1mo' };
  const HOUR = 3600e3;
  let period = 'day';
  let focus = null; // the day asked for (a local midnight); kept when the period changes
  let anchor = null; // the first day of the period shown
  let seq = 0; // the newest load: answers to older ones are dropped
  let bars = null;
  let power = null;
  let shown = null; // what is on screen (for the tests, and for resizing)
  const css = (v) => getComputedStyle(document.documentElement).getPropertyValue(v).trim();

  // ------------------------------------------------------------ periods
  const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const addDays = (d, n) => new Date(d.getFullYear(), d.getMonth(), d.getDate() + n);

  /** The period holding local midnight `d`: [from, to) as Dates. */
  function bounds(p, d) {
    const y = d.getFullYear(), m = d.getMonth();
    if (p === 'day') return [d, addDays(d, 1)];
    if (p === 'week') { const monday = addDays(d, -((d.getDay() + 6) % 7)); return [monday, addDays(monday, 7)]; }
    if (p === 'month') return [new Date(y, m, 1), new Date(y, m + 1, 1)];
    return [new Date(y, 0, 1), new Date(y + 1, 0, 1)];
  }
  /** `n` periods on from `d`. */
  function shift(p, d, n) {
    if (p === 'day') return addDays(d, n);
    if (p === 'week') return addDays(d, 7 * n);
    if (p === 'month') return new Date(d.getFullYear(), d.getMonth() + n, 1);
    return new Date(d.getFullYear() + n, 0, 1);
  }
  /** The same period a year before: the same weekdays for a week, the same date otherwise (28 February for the 29th). */
  function yearBefore(p, d) {
    if (p === 'week') return addDays(d, -364);
    const t = new Date(d.getFullYear() - 1, d.getMonth(), d.getDate());
    return t.getMonth() === d.getMonth() ? t : new Date(d.getFullYear() - 1, d.getMonth() + 1, 0);
  }
  /** Each bar's start (ms): the hours, days or months of the period. */
  function slots(p, from, to) {
    const out = [];
    if (p === 'day') for (let t = from.getTime(); t < to.getTime(); t += HOUR) out.push(t);
    else if (p === 'year') for (let m = 0; m < 12; m++) out.push(new Date(from.getFullYear(), m, 1).getTime());
    else for (let d = from; d < to; d = addDays(d, 1)) out.push(d.getTime());
    return out;
  }
  const iso = (d) => d.toISOString().replace('.000Z', 'Z');
  const dateText = (d) => d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
  function parseDate(s) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || '');
    return m ? new Date(+m[1], +m[2] - 1, +m[3]) : null;
  }

  /** The period in words; a day the clocks change on says so, unless `short`. */
  function periodLabel(p, from, to, short) {
    const last = addDays(to, -1);
    if (p === 'day') {
      const hours = Math.round((to - from) / HOUR);
      return from.toLocaleDateString([], { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }) +
        (hours === 24 || short ? '' : ' (' + hours + ' hours: the clocks ' + (hours > 24 ? 'went back' : 'went forward') + ')');
    }
    if (p === 'week') {
      return from.toLocaleDateString([], { day: 'numeric', month: 'short' }) + ' – ' +
        last.toLocaleDateString([], { day: 'numeric', month: 'short', year: 'numeric' });
    }
    if (p === 'month') return from.toLocaleDateString([], { month: 'long', year: 'numeric' });
    return String(from.getFullYear());
  }
  /** Each bar's label; an hour that happens twice gets its offset's name. */
  function slotLabels(p, starts) {
    const f = p === 'day' ? { hour: '2-digit', minute: '2-digit' }
      : p === 'year' ? { month: 'long' } : { weekday: 'short', day: 'numeric', month: 'short' };
    const labels = starts.map((t) => new Date(t).toLocaleString([], f));
    if (p !== 'day') return labels;
    return labels.map((l, i) => (labels.indexOf(l) === labels.lastIndexOf(l) ? l
      : new Date(starts[i]).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', timeZoneName: 'short' })));
  }

  /** A bar's label on the axis: short. */
  function tickLabel(p, t) {
    const d = new Date(t);
    if (p === 'day') return d.toLocaleTimeString([], { hour: 'numeric' });
    if (p === 'week') return d.toLocaleDateString([], { weekday: 'short', day: 'numeric' });
    if (p === 'month') return String(d.getDate());
    return d.toLocaleDateString([], { month: 'short' });
  }

  // --------------------------------------------------------------- data
  async function getJSON(url) {
    const r = await fetch(url, { cache: 'no-store' });
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    // Errors are {"error": code, "message": words}.
    if (!r.ok) throw new Error((body && (body.message || body.error)) || 'the daemon answered ' + r.status);
    return body;
  }
  const energyUrl = (p, from, to) => '/api/v1/energy?step=' + STEP[p] + '&from=' + encodeURIComponent(iso(from)) + '&to=' + encodeURIComponent(iso(to));
  const powerUrl = (from, to) => '/api/v1/history?step=1m&fields=net_w&from=' + encodeURIComponent(iso(from)) + '&to=' + encodeURIComponent(iso(to));

  /** The answer's rows summed into the bars (a row belongs to the last bar starting at or before it). */
  function fold(starts, rows) {
    const n = starts.length;
    const col = () => new Array(n).fill(null);
    const out = { imp: col(), exp: col(), net: col(), gap: new Array(n).fill(0), cost: col(), costMissing: new Array(n).fill(false) };
    const add = (a, i, v) => { if (v !== null && v !== undefined) a[i] = (a[i] || 0) + v; };
    for (const r of rows || []) {
      let i = n - 1;
      while (i > 0 && starts[i] > r.start_ms) i--;
      if (r.start_ms < starts[0]) continue;
      add(out.imp, i, r.import_kwh);
      add(out.exp, i, r.export_kwh);
      add(out.net, i, r.net_kwh);
      out.gap[i] += r.gap_ms || 0;
      if (r.cost === null) out.costMissing[i] = true; else add(out.cost, i, r.cost);
    }
    return out;
  }

  // ------------------------------------------------------------- charts
  /** A hatched fill of `color`: bars whose energy is spread over a gap. */
  function hatch(color) {
    const c = document.createElement('canvas');
    const s = Math.round(8 * (window.devicePixelRatio || 1));
    c.width = c.height = s;
    const g = c.getContext('2d');
    g.globalAlpha = 0.35;
    g.fillStyle = color;
    g.fillRect(0, 0, s, s);
    g.globalAlpha = 1;
    g.strokeStyle = color;
    g.lineWidth = s / 4;
    g.beginPath();
    g.moveTo(-s, 2 * s); g.lineTo(2 * s, -s);
    g.moveTo(-s, s); g.lineTo(s, -s);
    g.moveTo(0, 2 * s); g.lineTo(2 * s, 0);
    g.stroke();
    return g.createPattern(c, 'repeat');
  }
  const width = (id) => Math.max(240, $(id).clientWidth || 300);
  const axis = () => ({ stroke: css('--muted'), grid: { stroke: css('--line') }, ticks: { stroke: css('--line') } });
  const kwh = (v) => (v === null || v === undefined ? '–' : fmtNum(Math.abs(v), 2) + ' kWh');

  function buildBars(s) {
    if (bars) bars.destroy();
    const colors = { imp: css('--import'), exp: css('--export'), net: css('--net') };
    const patterns = { imp: hatch(colors.imp), exp: hatch(colors.exp), net: hatch(colors.net) };
    // Hatched: a bar whose time was at least 1 % without readings (a month with a
    // three-hour gap is not drawn as estimated; the note and the table still say so).
    const hatched = s.starts.map((t, i) => s.cur.gap[i] >= 0.01 * ((i + 1 < s.starts.length ? s.starts[i + 1] : s.to) - t));
    const fill = (key) => ({ unit: 3, values: (u) => u.data[0].map((_, i) => (hatched[i] ? patterns[key] : colors[key])) });
    const barSeries = (label, key, size) => ({
      label, width: 0, fill: colors[key], stroke: colors[key],
      paths: uPlot.paths.bars({ size: [size, 64], align: 0, disp: { fill: fill(key) } }),
      points: { show: false }, value: (u, v) => kwh(v),
    });
    const ago = (label, color, dash) => ({
      label, stroke: color, width: 1.5, dash, spanGaps: false, points: { show: true, size: 4, fill: color },
      value: (u, v) => kwh(v),
    });
    // Each bar stands over its interval's middle, labelled with the hour, day or
    // month (as many labels as fit): uPlot's own time ticks would fall between them.
    const mids = s.starts.map((t, i) => (t + (i + 1 < s.starts.length ? s.starts[i + 1] : s.to)) / 2000);
    const names = slotLabels(s.period, s.starts);
    const ticks = new Map(mids.map((m, i) => [m, tickLabel(s.period, s.starts[i])]));
    const room = { day: 34, week: 60, month: 26, year: 38 }[s.period];
    const splits = (u) => {
      const every = Math.max(1, Math.ceil(mids.length * room / Math.max(1, u.bbox.width / (window.devicePixelRatio || 1))));
      return mids.filter((_, i) => i % every === 0);
    };
    const series = [{ label: { day: 'Hour', year: 'Month' }[s.period] || 'Day', value: (u, v, si, i) => (i === null || i === undefined ? '–' : names[i]) },
      barSeries('Import', 'imp', 0.8), barSeries('Export', 'exp', 0.8), barSeries('Net', 'net', 0.3)];
    const data = [mids, s.cur.imp, s.cur.exp.map((v) => (v === null ? null : -v)), s.cur.net];
    if (s.prev) {
      series.push(ago('Import a year before', css('--import-ago'), [4, 3]), ago('Export a year before', css('--export-ago'), [4, 3]));
      data.push(s.prev.imp, s.prev.exp.map((v) => (v === null ? null : -v)));
    }
    const opts = {
      width: width('energy-bars'), height: 240,
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      legend: { show: true, live: true },
      scales: { x: { time: false, range: () => [s.from / 1000, s.to / 1000] } },
      axes: [Object.assign(axis(), { splits, values: (u, vs) => vs.map((v) => ticks.get(v) || '') }),
        Object.assign(axis(), { size: 56, label: 'kWh', labelSize: 18 })],
      series,
    };
    bars = new uPlot(opts, data, $('energy-bars'));
  }

  function buildPower(s) {
    if (power) { power.destroy(); power = null; }
    $('energy-power-card').hidden = !s.power;
    if (!s.power) return;
    const t = [], mean = [], lo = [], hi = [];
    let last = null;
    for (const r of s.power.rows || []) {
      const net = r.stats && r.stats.net_w;
      if (!net) continue;
      // A missing minute breaks the line instead of bridging a gap.
      if (last !== null && r.t_ms - last > 120e3) { t.push((last + 60e3) / 1000); mean.push(null); lo.push(null); hi.push(null); }
      t.push(r.t_ms / 1000); mean.push(net[0]); lo.push(net[1]); hi.push(net[2]);
      last = r.t_ms;
    }
    const gaps = (s.power.gaps || []).map((g) => [g.from_ms / 1000, g.to_ms / 1000]);
    const gapFill = hatch(css('--muted'));
    const band = css('--net-band');
    const w = (v) => (v === null || v === undefined ? '–' : fmtPower(v));
    const opts = {
      width: width('energy-power'), height: 220,
      cursor: { drag: { x: false, y: false } },
      legend: { show: true, live: true },
      scales: { x: { time: true, range: () => [s.from / 1000, s.to / 1000] } },
      axes: [axis(), Object.assign(axis(), { size: 76, values: (u, vs) => vs.map((v) => fmtPower(v)) })],
      series: [{}, { label: 'Net (mean of a minute)', stroke: css('--net'), width: 1.25, spanGaps: false, value: (u, v) => w(v) },
        { label: 'Lowest', stroke: band, width: 0, spanGaps: false, points: { show: false }, value: (u, v) => w(v) },
        { label: 'Highest', stroke: band, width: 0, spanGaps: false, points: { show: false }, value: (u, v) => w(v) }],
      bands: [{ series: [3, 2], fill: band }],
      hooks: {
        // Gaps: hatched across the plot, under the lines.
        drawClear: [(u) => {
          const ctx = u.ctx;
          const { top, height } = u.bbox;
          ctx.save();
          ctx.fillStyle = gapFill;
          for (const [a, b] of gaps) {
            const x0 = Math.max(u.bbox.left, u.valToPos(a, 'x', true));
            const x1 = Math.min(u.bbox.left + u.bbox.width, u.valToPos(b, 'x', true));
            if (x1 > x0) ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
          }
          ctx.restore();
        }],
      },
    };
    power = new uPlot(opts, [t, mean, lo, hi], $('energy-power'));
  }

  // --------------------------------------------------------------- view
  function fmtSpan(ms) {
    if (ms < HOUR) return Math.max(1, Math.round(ms / 60e3)) + ' min';
    return (ms / HOUR).toFixed(1).replace(/\.0$/, '') + ' h';
  }

  function showTotals(s) {
    const t = s.answer.total;
    setText('energy-import', kwh(t.import_kwh));
    setText('energy-export', kwh(t.export_kwh));
    setText('energy-net', (t.net_kwh < 0 ? '−' : '') + kwh(t.net_kwh));
    $('energy-gas-box').classList.toggle('hidden', t.gas_m3 === null || t.gas_m3 === undefined);
    setText('energy-gas', t.gas_m3 === null || t.gas_m3 === undefined ? '–' : fmtNum(t.gas_m3, 2) + ' m³');
    const currency = s.answer.currency;
    $('energy-cost-box').classList.toggle('hidden', !currency);
    if (currency) setText('energy-cost', t.cost === null || t.cost === undefined ? 'unknown (no prices for all of it)' : fmtNum(t.cost, 2) + ' ' + currency);
    const ago = $('energy-ago');
    if (s.prev) {
      const p = s.prevAnswer.total;
      const delta = t.net_kwh - p.net_kwh;
      ago.replaceChildren(el('b', { text: 'A year before' }), ' (' + periodLabel(s.period, s.prevFrom, s.prevTo, true) + '): ',
        el('span', { class: 'imp', text: 'import ' + kwh(p.import_kwh) }), ' · ',
        el('span', { class: 'exp', text: 'export ' + kwh(p.export_kwh) }), ' · ',
        'net ' + (p.net_kwh < 0 ? '−' : '') + kwh(p.net_kwh),
        el('span', { class: 'muted', text: Math.abs(delta) < 0.005 ? ' (the same net now)'
          : ' (net now ' + kwh(delta) + (delta > 0 ? ' higher)' : ' lower)') }));
    } else {
      const starts = s.answer.history_starts;
      ago.replaceChildren(el('span', { class: 'muted', text: starts
        ? 'No readings from a year before: the history starts ' + new Date(Date.parse(starts)).toLocaleDateString([], { day: 'numeric', month: 'long', year: 'numeric' }) + '.'
        : 'No readings yet.' }));
    }
    const gapMs = s.cur.gap.reduce((a, b) => a + b, 0);
    const note = $('energy-gap-note');
    note.hidden = gapMs === 0;
    if (gapMs > 0) {
      const list = (s.answer.gaps || []).slice(0, 3).map((g) => new Date(g.from_ms).toLocaleString([], { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }) +
        ' – ' + new Date(g.to_ms).toLocaleString([], { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }));
      note.textContent = 'Includes ' + fmtSpan(gapMs) + ' without readings; energy spread over the gap (what the meter counted across it, shared out evenly: hatched bars, ≈ in the table)' +
        (list.length ? ': ' + list.join(', ') + ((s.answer.gaps || []).length > 3 ? ', …' : '') : '') + '.';
    }
  }

  function showTable(s) {
    const labels = slotLabels(s.period, s.starts);
    const head = el('tr', {}, el('th', { text: s.period === 'day' ? 'Hour' : s.period === 'year' ? 'Month' : 'Day' }),
      el('th', { text: 'Import' }), el('th', { text: 'Export' }), el('th', { text: 'Net' }),
      s.prev ? el('th', { text: 'Net a year before' }) : null,
      s.answer.currency ? el('th', { text: 'Cost (' + s.answer.currency + ')' }) : null);
    const rows = s.starts.map((t, i) => el('tr', { class: s.cur.gap[i] > 0 ? 'estimated' : null, 'data-start': new Date(t).toISOString(),
      title: s.cur.gap[i] > 0 ? fmtSpan(s.cur.gap[i]) + ' without readings: energy spread over the gap' : null },
      el('td', { text: labels[i] + (s.cur.gap[i] > 0 ? ' ≈' : '') }),
      el('td', { class: 'v', text: kwh(s.cur.imp[i]) }), el('td', { class: 'v', text: kwh(s.cur.exp[i]) }),
      el('td', { class: 'v', text: s.cur.net[i] === null ? '–' : (s.cur.net[i] < 0 ? '−' : '') + kwh(s.cur.net[i]) }),
      s.prev ? el('td', { class: 'v', text: s.prev.net[i] === null ? '–' : (s.prev.net[i] < 0 ? '−' : '') + kwh(s.prev.net[i]) }) : null,
      s.answer.currency ? el('td', { class: 'v cost', text: s.cur.costMissing[i] || s.cur.cost[i] === null ? 'no price' : fmtNum(s.cur.cost[i], 2) }) : null));
    $('energy-table').replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows));
  }

  function showProblem(text, kind) {
    const b = $('energy-problem');
    b.hidden = !text;
    b.className = 'banner ' + (kind || 'warn');
    b.textContent = text || '';
  }

  /** The history's state from /api/v1/status, in words when it is not recording. */
  function statusChanged(st) {
    const h = st && st.history;
    const words = !st ? null
      : !h ? 'This p1ib keeps no history, so there is no energy to show.'
        : h.state === 'ok' ? (h.message || null)
          : h.state === 'off' ? 'The history is off (history.enabled = false in the settings): no energy is recorded.'
            : h.state === 'starting' ? 'The history is starting…'
              : h.state === 'failing' ? 'Writing the history fails' + (h.message ? ': ' + h.message : '') + '. Live data goes on; the latest minutes may be missing here.'
                : 'The history is not available' + (h.message ? ': ' + h.message : '') + '.';
    const s = $('energy-status');
    s.hidden = !words;
    s.className = 'banner ' + (h && h.state === 'ok' ? 'info' : 'bad');
    s.dataset.state = h ? h.state : 'none';
    s.textContent = words || '';
  }

  function setControls() {
    for (const b of document.querySelectorAll('#energy-period button')) b.classList.toggle('on', b.dataset.period === period);
    const [from, to] = bounds(period, anchor);
    $('energy-next').disabled = to.getTime() > Date.now();
    const label = $('energy-label');
    label.textContent = periodLabel(period, from, to);
    label.dataset.from = dateText(from);
  }

  async function load() {
    const my = ++seq;
    const [from, to] = bounds(period, anchor);
    setControls();
    $('view-energy').dataset.loading = 'true';
    let answer;
    try {
      answer = await getJSON(energyUrl(period, from, to));
    } catch (e) {
      if (my !== seq) return;
      // Nothing of the last period stays under this one's name.
      shown = null;
      for (const id of ['energy-import', 'energy-export', 'energy-net']) setText(id, '–');
      for (const id of ['energy-ago', 'energy-table']) $(id).replaceChildren();
      $('energy-gap-note').hidden = true;
      if (bars) { bars.destroy(); bars = null; }
      buildPower({});
      showProblem('The energy could not be read: ' + e.message);
      $('view-energy').dataset.loading = 'false';
      return;
    }
    const [prevFrom, prevTo] = bounds(period, yearBefore(period, from));
    const starts = answer.history_starts ? Date.parse(answer.history_starts) : null;
    const [prevAnswer, powerAnswer] = await Promise.all([
      starts !== null && starts < prevTo.getTime() ? getJSON(energyUrl(period, prevFrom, prevTo)).catch(() => null) : null,
      period === 'day' || period === 'week' ? getJSON(powerUrl(from, to)).catch(() => null) : null,
    ]);
    if (my !== seq) return;
    showProblem(null);
    const s = { period, from: from.getTime(), to: to.getTime(), starts: slots(period, from, to), answer, prevAnswer, prevFrom, prevTo, power: powerAnswer };
    s.cur = fold(s.starts, answer.rows);
    // The year before, bar for bar: its n-th hour, day or month under this one's.
    if (prevAnswer) s.prev = fold(slots(period, prevFrom, prevTo), prevAnswer.rows);
    if (s.prev) for (const k of ['imp', 'exp', 'net']) s.prev[k] = s.starts.map((_, i) => (i < s.prev[k].length ? s.prev[k][i] : null));
    shown = s;
    showTotals(s);
    showTable(s);
    buildBars(s);
    buildPower(s);
    $('view-energy').dataset.loading = 'false';
  }

  function go(p, d) {
    location.hash = '#/energy?period=' + p + '&date=' + dateText(d);
  }

  /** Shows the period in the address (or today's day). */
  function open() {
    const q = new URLSearchParams(location.hash.split('?')[1] || '');
    period = PERIODS.includes(q.get('period')) ? q.get('period') : 'day';
    focus = parseDate(q.get('date')) || midnight(new Date());
    anchor = bounds(period, focus)[0];
    load();
    if (!open.once) {
      open.once = true;
      fetch('/api/v1/status', { cache: 'no-store' }).then((r) => r.json()).then(statusChanged).catch(() => {});
    }
  }

  function start() {
    for (const b of document.querySelectorAll('#energy-period button')) b.addEventListener('click', () => go(b.dataset.period, focus));
    $('energy-prev').addEventListener('click', () => go(period, shift(period, anchor, -1)));
    $('energy-next').addEventListener('click', () => go(period, shift(period, anchor, 1)));
    $('energy-today').addEventListener('click', () => go(period, midnight(new Date())));
  }

  function resize() {
    if (bars) bars.setSize({ width: width('energy-bars'), height: 240 });
    if (power) power.setSize({ width: width('energy-power'), height: 220 });
  }

  return {
    start, open, resize, statusChanged,
    /** What is on screen: the period, its bars and their values (for the browser tests). */
    shown: () => shown && {
      period: shown.period, from: new Date(shown.from).toISOString(), to: new Date(shown.to).toISOString(),
      bars: bars ? bars.data[0].length : 0, import: shown.cur.imp, export: shown.cur.exp, net: shown.cur.net,
      estimated: shown.cur.gap.map((g) => g > 0), yearBefore: !!shown.prev, powerPoints: power ? power.data[0].length : 0,
    },
  };
})();
