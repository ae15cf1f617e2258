// The firmware page (#/firmware): the installed version, the releases the
// updater knows with their notes, "Check for updates" and "Install". Part of
// the dashboard bundle (build.rs): uses common.js's api and session, and
// app.js's toast and pill.

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
    const apt = s.install_kind === 'apt';
    if (!fw.enabled) { banner.className = 'banner warn'; banner.textContent = 'Update checks are off (update.channel = "off").'; }
    else if (apt) { banner.className = 'banner'; banner.textContent = 'p1ib comes from the p1ib apt repository: apt updates it with the rest of the system (sudo apt update && sudo apt upgrade). This page lists the releases and installs none.'; }
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
        disabled: installed || apt || !r.installable || busy || !session.can_change,
        title: apt ? 'apt updates p1ib: sudo apt update && sudo apt upgrade' : !r.installable ? 'No signed build of this release for this device' : (!session.can_change ? 'Log in on the settings page first' : ''),
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
