// The settings page (#/settings): the admin password, login and logout, and the
// settings form built from GET /api/v1/config, checked live by the daemon's own
// rules (POST /api/v1/config/check) and saved with PUT /api/v1/config. Part of
// the dashboard bundle (build.rs): uses common.js's api and session, and
// app.js's toast and pill.

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
          if (f.key.startsWith('tariff.')) presetInfo();
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
      if (fields.some((f) => f.key === 'homeassistant.url')) items.push(haTest());
      out.push(el('fieldset', {}, el('legend', { text: name }), el('div', { class: 'fields' }, ...items)));
    }
    $('settings-fields').replaceChildren(...out);
    presetInfo();
    $('save').disabled = !session.can_change || !view.can_save;
    $('restart').disabled = !session.can_change;
    const banner = $('settings-banner');
    if (!view.can_save) showBanner('p1ib runs without a settings file, so changes cannot be saved here.', 'warn');
    else if (!session.can_change) showBanner('Log in to change settings.', '');
    else banner.classList.add('hidden');
  }

  // Beside the capacity tariff's choice: the chosen preset's source (a link) and
  // the date it was checked, and a warning while its price is not checked (or it
  // has none) and the form sets no price of its own.
  function presetInfo() {
    const box = $('field-tariff.preset');
    if (!box || !view.presets) return;
    const value = (k) => String(k in dirty ? dirty[k] : (view.values[k] ?? '')).trim();
    const p = view.presets.find((x) => x.id === value('tariff.preset').toLowerCase());
    let info = $('preset-info');
    let warning = $('preset-warning');
    if (!info) {
      info = el('div', { class: 'help', id: 'preset-info' });
      warning = el('div', { class: 'banner warn', id: 'preset-warning' });
      box.querySelector('.help') ? box.querySelector('.help').after(info, warning) : box.append(info, warning);
    }
    info.hidden = !p;
    warning.hidden = true;
    if (!p) return;
    const price = p.price_checked ? 'price checked' : p.has_price ? 'price not checked' : 'no price';
    const site = p.source.replace(/^https?:\/\/(www\.)?/, '').split('/')[0];
    info.replaceChildren(p.name + ': read from ', el('a', { href: p.source, target: '_blank', rel: 'noopener', text: site }),
      ', checked ' + p.checked + ' (' + price + ').',
      el('details', {}, el('summary', { text: 'What was checked' }), el('span', { text: p.note })));
    if (p.price_checked || value(p.price_key) !== '') return;
    warning.hidden = false;
    warning.textContent = p.has_price
      ? 'The ' + p.name + ' preset\'s price is not checked against the operator\'s own prices: the charge is an estimate until you set ' + p.price_key + ' from your bill.'
      : 'The ' + p.name + ' preset has no price: no charge is computed until you set ' + p.price_key + ' from your bill.';
  }

  // "Test connection" of the Home Assistant group: the form's values over the saved ones.
  function haTest() {
    const result = el('span', { class: 'help', id: 'ha-test-result' });
    const button = el('button', { type: 'button', class: 'small', id: 'ha-test', text: 'Test connection', disabled: !session.can_change,
      onclick: async () => {
        const form = {};
        for (const k of Object.keys(dirty)) if (k.startsWith('homeassistant.')) form[k] = dirty[k];
        result.textContent = 'Connecting…';
        button.disabled = true;
        const r = await api('POST', '/api/v1/homeassistant/test', form);
        button.disabled = false;
        const b = r.body || {};
        result.replaceChildren(pill(r.ok && b.ok ? 'ok' : 'failed', r.ok && b.ok ? 'ok' : 'bad'), ' ' + (b.message || (b.fields ? b.fields.map((f) => f.key + ': ' + f.message).join('; ') : 'no answer')));
      } });
    return el('div', { class: 'field' }, button, ' ', result);
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
