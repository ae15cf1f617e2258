// The dashboard's capacity card: this interval's projected mean power against
// the month's peaks, in the warning colour before a new peak would be set, and
// the month's estimated capacity charge, marked when its price is a preset's
// unchecked one and replaced by why when there is no price. Reads
// /api/v1/capacity every 10 s; hidden while no tariff is set or the history is off.

const capacityCard = (() => {
  const kw = (v) => (v === null || v === undefined ? '–' : v.toFixed(2) + ' kW');
  const money = (v, cur) => v.toFixed(2) + ' ' + cur;
  let state = 'hidden';

  function show(c) {
    const card = $('capacity-card');
    card.hidden = false;
    const live = c.live;
    state = live ? live.state : 'none';
    card.dataset.state = state;
    $('cap-tariff').textContent = c.tariff.preset + ' · ' + c.tariff.peaks + ' × ' + c.tariff.interval +
      (c.tariff.distinct_days ? ', different days' : '');
    $('cap-projected').textContent = live ? kw(live.projected_kw) : '–';
    $('cap-threshold').textContent = live && live.threshold_kw !== null ? kw(live.threshold_kw) : '–';
    $('cap-live-note').textContent = !live ? 'No readings in this interval yet.'
      : live.state === 'not_counted' ? 'This hour does not count for the tariff.'
      : live.state === 'new_peak' ? (live.raise === null ? 'New peak.' : 'New peak: the charge would rise by ' + money(live.raise, c.currency) + '.')
      : live.state === 'near' ? 'Close to a new peak.' : 'Below the month\'s peaks.';
    $('cap-mean').textContent = kw(c.mean_kw);
    // No price: no charge, and why. A preset's unchecked price: the charge, marked.
    const priced = c.charge !== null && c.charge !== undefined;
    const price = !priced ? 'none' : c.price_checked === false ? 'unchecked' : 'ok';
    $('cap-charge').textContent = priced ? money(c.charge, c.currency) + (price === 'unchecked' ? ' *' : '') : 'no price';
    $('cap-charge').dataset.price = price;
    $('cap-price-note').hidden = price === 'ok';
    $('cap-price-note').textContent = price === 'ok' ? '' : (price === 'unchecked' ? '* ' : '') + (c.price_note || '');
    const list = $('cap-peaks');
    list.replaceChildren(...c.peaks.map((p) => el('li', { text: p.start.slice(0, 16).replace('T', ' ') + '  ' + kw(p.counted_kw) +
      (p.weight !== 1 ? ' (' + kw(p.kw) + ' × ' + p.weight + ')' : '') })));
    if (!c.peaks.length) list.replaceChildren(el('span', { class: 'muted', text: 'No peaks yet this month.' }));
    $('cap-unknown').hidden = !c.unknown;
    $('cap-unknown').textContent = c.unknown || '';
  }

  async function load() {
    const r = await fetch('/api/v1/capacity', { cache: 'no-store' }).catch(() => null);
    if (!r || !r.ok) {
      $('capacity-card').hidden = true;
      state = 'hidden';
      return;
    }
    show(await r.json());
  }

  function start() {
    load();
    setInterval(() => { if (!document.hidden) load(); }, 10000);
  }

  return { start, load, state: () => state };
})();

document.addEventListener('DOMContentLoaded', () => {
  capacityCard.start();
  window.p1ibCapacity = capacityCard;
});
