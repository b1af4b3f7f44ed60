// The dashboard page: plain browser JavaScript (no build step), drawing with uPlot. It polls the
// API every data-poll-ms for new runs, new points of the selected runs' curves and the registry.
(() => {
  'use strict';
  const POLL_MS = Number(document.body.dataset.pollMs) || 2000;
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
  const $ = (id) => document.getElementById(id);

  const state = {
    runs: [],
    selected: [], // run ids in selection order (their colours follow this order)
    sort: { key: 'id', dir: -1 },
    filter: '',
    focusId: null,
    metric: 'step:loss',
    series: new Map(), // run id → {step: [], value: []} for the current metric
    models: [],
    detailId: null,
    tableSig: '',
  };
  const charts = { curve: null, system: null, hp: null };

  async function api(path, opts) {
    const res = await fetch(path, opts);
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    return body;
  }

  function say(msg) {
    $('status').textContent = msg;
  }

  const fmtTime = (t) => (t ? new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 19) : '');
  const fmtNum = (v) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : v === null ? 'NaN' : '');
  const colorOf = (id) => COLORS[state.selected.indexOf(id) % COLORS.length];

  /** A run's value for a column or filter key: run field, metric (summary) or config (config.x or x). */
  function valueOf(run, key) {
    if (key.startsWith('config.')) return run.config[key.slice(7)];
    if (Object.prototype.hasOwnProperty.call(run, key) && key !== 'config' && key !== 'summary') return run[key];
    if (Object.prototype.hasOwnProperty.call(run.summary, key)) return run.summary[key];
    if (Object.prototype.hasOwnProperty.call(run.config, key)) return run.config[key];
    return undefined;
  }

  function configColumns(runs) {
    const keys = new Set();
    for (const r of runs) for (const k of Object.keys(r.config)) keys.add(k);
    // the settings that differ between runs say what each run tried
    return [...keys].filter((k) => new Set(runs.map((r) => JSON.stringify(r.config[k]))).size > 1).slice(0, 6);
  }

  function columns() {
    const cols = [
      { key: 'id', label: 'Run', num: true },
      { key: 'name', label: 'Name' },
      { key: 'status', label: 'Status' },
      { key: 'createdAt', label: 'Started', fmt: fmtTime },
      { key: 'dataset', label: 'Dataset' },
      { key: 'epoch', label: 'Epoch', num: true },
      { key: 'step', label: 'Step', num: true },
      { key: 'loss', label: 'Loss', num: true, fmt: fmtNum },
      { key: 'valLoss', label: 'Val loss', num: true, fmt: fmtNum },
      { key: 'valAccuracy', label: 'Val accuracy', num: true, fmt: fmtNum },
      { key: 'test.accuracy', label: 'Test accuracy', num: true, fmt: fmtNum },
    ];
    for (const k of configColumns(state.runs)) cols.push({ key: `config.${k}`, label: k, fmt: (v) => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v)) });
    return cols;
  }

  /** "lr=0.01 valAccuracy>0.9 adam": every term must hold. */
  function matches(run, filter) {
    for (const term of filter.trim().split(/\s+/).filter(Boolean)) {
      const m = /^([\w.\-/]+)(>=|<=|!=|=|>|<)(.+)$/.exec(term);
      if (!m) {
        const hay = `${run.id} ${run.name} ${run.status} ${run.dataset || ''}`.toLowerCase();
        if (!hay.includes(term.toLowerCase())) return false;
        continue;
      }
      const [, key, op, raw] = m;
      const v = valueOf(run, key);
      if (v === undefined) return false;
      const n = Number(raw);
      const both = typeof v === 'number' && Number.isFinite(n);
      const a = both ? v : String(v);
      const b = both ? n : raw;
      const ok = op === '=' ? a === b || String(v) === raw : op === '!=' ? !(a === b || String(v) === raw) : op === '>' ? a > b : op === '<' ? a < b : op === '>=' ? a >= b : a <= b;
      if (!ok) return false;
    }
    return true;
  }

  function visibleRuns() {
    const { key, dir } = state.sort;
    const rows = state.runs.filter((r) => matches(r, state.filter));
    return rows.sort((x, y) => {
      const a = valueOf(x, key), b = valueOf(y, key);
      if (a === b) return 0;
      if (a === undefined || a === null) return 1;
      if (b === undefined || b === null) return -1;
      return (a < b ? -1 : 1) * dir;
    });
  }

  function renderTable(force) {
    const cols = columns();
    const rows = visibleRuns();
    const sig = JSON.stringify([cols.map((c) => c.key), rows, state.selected, state.sort]);
    if (!force && sig === state.tableSig) return;
    state.tableSig = sig;
    const table = $('runs');
    const hadFocus = table.tBodies[0].contains(document.activeElement);
    const sortFocus = table.tHead.contains(document.activeElement) ? document.activeElement.dataset.sortKey : undefined;
    const head = document.createElement('tr');
    const sel = document.createElement('th');
    sel.scope = 'col';
    sel.textContent = 'Compare';
    head.append(sel);
    for (const c of cols) {
      const th = document.createElement('th');
      th.scope = 'col';
      if (c.num) th.className = 'num';
      th.setAttribute('aria-sort', state.sort.key === c.key ? (state.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = c.label + (state.sort.key === c.key ? (state.sort.dir > 0 ? ' ▲' : ' ▼') : '');
      b.title = `Sort by ${c.label}`;
      b.dataset.sortKey = c.key;
      b.addEventListener('click', () => {
        state.sort = { key: c.key, dir: state.sort.key === c.key ? -state.sort.dir : c.num ? -1 : 1 };
        renderTable(true);
      });
      th.append(b);
      head.append(th);
    }
    table.tHead.replaceChildren(head);
    // a sort chosen from the keyboard keeps the focus on its (rebuilt) button
    if (sortFocus !== undefined) [...head.querySelectorAll('button')].find((x) => x.dataset.sortKey === sortFocus)?.focus();
    const body = document.createElement('tbody');
    // one tab stop for the whole table (roving tabindex): Tab enters at the focused run, or the
    // first, and leaves the table; arrows move inside it
    const entry = rows.some((r) => r.id === state.focusId) ? state.focusId : rows[0]?.id;
    for (const r of rows) {
      const tr = document.createElement('tr');
      tr.tabIndex = r.id === entry ? 0 : -1;
      tr.dataset.id = String(r.id);
      tr.setAttribute('aria-selected', String(state.selected.includes(r.id)));
      if (state.selected.includes(r.id)) tr.classList.add('selected');
      const td = document.createElement('td');
      const cb = document.createElement('input');
      cb.type = 'checkbox';
      cb.checked = state.selected.includes(r.id);
      cb.setAttribute('aria-label', `Compare run ${r.id} (${r.name})`);
      cb.tabIndex = -1;
      cb.addEventListener('change', () => toggle(r.id));
      td.append(cb);
      if (cb.checked) {
        const sw = document.createElement('span');
        sw.className = 'swatch';
        sw.style.background = colorOf(r.id);
        td.append(sw);
      }
      tr.append(td);
      for (const c of cols) {
        const cell = document.createElement('td');
        const v = valueOf(r, c.key);
        cell.textContent = c.fmt ? c.fmt(v) : v === undefined || v === null ? '' : String(v);
        if (c.num) cell.className = 'num';
        if (c.key === 'status') cell.className = `status-${r.status}`;
        if (c.key === 'status' && r.resumable) cell.textContent += ' (resumable)';
        tr.append(cell);
      }
      tr.addEventListener('focus', () => {
        state.focusId = r.id;
        // a click focuses a row too: it becomes the table's tab stop
        for (const other of body.querySelectorAll('tr[tabindex="0"]')) if (other !== tr) other.tabIndex = -1;
        tr.tabIndex = 0;
      });
      body.append(tr);
    }
    table.tBodies[0].replaceWith(body);
    body.addEventListener('keydown', onRowKey);
    if (hadFocus && state.focusId !== null) body.querySelector(`tr[data-id="${state.focusId}"]`)?.focus();
  }

  function onRowKey(e) {
    const tr = e.target.closest('tr');
    if (!tr) return;
    let next = null;
    if (e.key === 'ArrowDown') next = tr.nextElementSibling;
    else if (e.key === 'ArrowUp') next = tr.previousElementSibling;
    else if (e.key === 'Home') next = tr.parentElement.firstElementChild;
    else if (e.key === 'End') next = tr.parentElement.lastElementChild;
    else if (e.key === 'PageDown' || e.key === 'PageUp') {
      const all = [...tr.parentElement.children];
      const i = all.indexOf(tr) + (e.key === 'PageDown' ? 10 : -10);
      next = all[Math.max(0, Math.min(all.length - 1, i))];
    }
    else if (e.key === ' ' || e.key === 'Enter') {
      e.preventDefault();
      toggle(Number(tr.dataset.id));
      return;
    }
    if (next && next !== tr) {
      e.preventDefault();
      tr.tabIndex = -1;
      next.tabIndex = 0;
      next.focus();
    } else if (next) e.preventDefault();
  }

  /** Selection marks in place (rebuilding a table of a thousand runs per click costs a frame or ten). */
  function markSelection() {
    for (const tr of $('runs').tBodies[0].rows) {
      const id = Number(tr.dataset.id);
      const on = state.selected.includes(id);
      tr.classList.toggle('selected', on);
      tr.setAttribute('aria-selected', String(on));
      const cb = tr.cells[0].querySelector('input');
      if (cb.checked !== on) cb.checked = on;
      let sw = tr.cells[0].querySelector('.swatch');
      if (on && !sw) {
        sw = document.createElement('span');
        sw.className = 'swatch';
        tr.cells[0].append(sw);
      }
      if (on) sw.style.background = colorOf(id);
      else sw?.remove();
    }
    state.tableSig = '';
  }

  function toggle(id) {
    const i = state.selected.indexOf(id);
    if (i >= 0) {
      state.selected.splice(i, 1);
      state.series.delete(id);
    } else state.selected.push(id);
    state.focusId = id;
    state.detailId = i >= 0 ? state.selected.at(-1) ?? null : id;
    markSelection();
    const fail = (e) => say(`cannot load run ${id}: ${e.message}`);
    if (i >= 0) drawCurves();
    else loadSeriesOf([id]).catch(fail);
    renderDetail().catch(fail);
  }

  // ---- curves ----

  function curveData() {
    const tables = state.selected.map((id) => {
      const s = state.series.get(id) || { step: [], value: [] };
      return [s.step, s.value];
    });
    if (tables.length === 0) return null;
    return tables.length === 1 ? [tables[0][0], tables[0][1]] : uPlot.join(tables);
  }

  function drawCurves() {
    const el = $('curve');
    if (state.selected.some((id) => !state.series.has(id))) return; // a fetch is on its way
    const data = curveData();
    $('curve-empty').hidden = data !== null;
    let points = 0;
    for (const id of state.selected) points += (state.series.get(id)?.value || []).filter((v) => v !== null).length;
    el.dataset.series = String(state.selected.length);
    el.dataset.points = String(points);
    if (!data) {
      charts.curve?.destroy();
      charts.curve = null;
      return;
    }
    const [scope, key] = state.metric.split(':');
    const keyOf = state.selected.join(',') + '|' + state.metric;
    if (charts.curve && charts.curve._key === keyOf) {
      charts.curve.setData(data);
      return;
    }
    charts.curve?.destroy();
    const byId = new Map(state.runs.map((r) => [r.id, r]));
    const opts = {
      width: Math.max(320, el.clientWidth),
      height: 300,
      scales: { x: { time: false } },
      axes: [{ label: scope === 'step' ? 'step' : 'step (epoch ends)' }, { label: key }],
      series: [{ label: 'step' }, ...state.selected.map((id) => ({ label: `#${id} ${byId.get(id)?.name ?? ''}`, stroke: colorOf(id), width: 1.5, spanGaps: true, points: { show: scope === 'epoch' } }))],
    };
    charts.curve = new uPlot(opts, data, el);
    charts.curve._key = keyOf;
  }

  /** Fetch whole series of `ids` for the current metric (those already loaded stay). */
  async function loadSeriesOf(ids) {
    const metric = state.metric;
    const [scope, key] = metric.split(':');
    if (ids.length) {
      const r = await api(`/api/series?runs=${ids.join(',')}&key=${encodeURIComponent(key)}&scope=${scope}`);
      if (metric !== state.metric) return;
      for (const [id, s] of Object.entries(r.series)) if (state.selected.includes(Number(id))) state.series.set(Number(id), s);
    }
    drawCurves();
  }

  async function reloadSeries() {
    state.series = new Map();
    await loadSeriesOf([...state.selected]);
  }

  async function pollSeries() {
    if (!state.selected.length) return;
    const [scope, key] = state.metric.split(':');
    if (state.selected.some((id) => !state.series.has(id))) return;
    const after = state.selected.map((id) => `${id}:${state.series.get(id)?.step.at(-1) ?? -1}`).join(',');
    const want = state.metric + state.selected.join(',');
    const r = await api(`/api/series?runs=${state.selected.join(',')}&key=${encodeURIComponent(key)}&scope=${scope}&after=${after}`);
    if (want !== state.metric + state.selected.join(',')) return; // the selection changed meanwhile
    let grew = false;
    for (const [id, s] of Object.entries(r.series)) {
      if (!s.step.length) continue;
      const cur = state.series.get(Number(id)) || { step: [], value: [] };
      cur.step.push(...s.step);
      cur.value.push(...s.value);
      state.series.set(Number(id), cur);
      grew = true;
    }
    if (grew) drawCurves();
  }

  // ---- run detail: confusion matrix, per-class scores, system metrics, config ----

  function heatMap(cm, classes) {
    const table = document.createElement('table');
    table.className = 'heat';
    const cap = document.createElement('caption');
    cap.className = 'muted';
    cap.textContent = 'rows: true class, columns: predicted; shade: share of the row';
    table.append(cap);
    const head = document.createElement('tr');
    head.append(document.createElement('th'));
    for (const c of classes) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = c;
      head.append(th);
    }
    table.append(head);
    cm.forEach((row, i) => {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = classes[i];
      tr.append(th);
      const total = row.reduce((a, b) => a + b, 0) || 1;
      row.forEach((v, j) => {
        const td = document.createElement('td');
        const share = v / total;
        td.textContent = String(v);
        td.style.background = `rgba(11, 92, 173, ${share.toFixed(3)})`;
        td.style.color = share > 0.5 ? '#fff' : '#1b1f24';
        td.title = `true ${classes[i]}, predicted ${classes[j]}: ${v} (${(share * 100).toFixed(1)}% of the row)`;
        tr.append(td);
      });
      table.append(tr);
    });
    return table;
  }

  function perClass(cm, classes) {
    const table = document.createElement('table');
    table.className = 'grid';
    table.innerHTML = '<caption class="sr-only">Per-class scores</caption><thead><tr><th scope="col">Class</th><th scope="col" class="num">Precision</th><th scope="col" class="num">Recall</th><th scope="col" class="num">F1</th><th scope="col" class="num">Support</th></tr></thead>';
    const body = document.createElement('tbody');
    cm.forEach((row, i) => {
      const tp = row[i];
      const support = row.reduce((a, b) => a + b, 0);
      const predicted = cm.reduce((a, r) => a + r[i], 0);
      const p = predicted ? tp / predicted : 0, r = support ? tp / support : 0;
      const f1 = p + r ? (2 * p * r) / (p + r) : 0;
      const tr = document.createElement('tr');
      for (const [v, num] of [[classes[i], false], [p.toFixed(3), true], [r.toFixed(3), true], [f1.toFixed(3), true], [String(support), true]]) {
        const td = document.createElement('td');
        td.textContent = v;
        if (num) td.className = 'num';
        tr.append(td);
      }
      body.append(tr);
    });
    table.append(body);
    return table;
  }

  async function renderDetail() {
    const id = state.detailId;
    $('detail').hidden = id === null;
    $('detail-empty').hidden = id !== null;
    if (id === null) return;
    const [d, sys] = await Promise.all([api(`/api/runs/${id}`), api(`/api/runs/${id}/system`)]);
    if (state.detailId !== id) return;
    const r = d.run;
    $('detail-title').textContent = `#${r.id} ${r.name}: ${r.status}${r.error ? ` (${r.error})` : ''}; code ${r.codeVersion ?? '-'}, nabla ${r.packageVersion ?? '-'}, dataset ${r.dataset ?? '-'} ${r.datasetHash ? r.datasetHash.slice(0, 12) + '…' : ''}`;
    const ev = d.evaluations.find((e) => e.split === 'test') || d.evaluations[0];
    const conf = $('confusion');
    const pc = $('perclass');
    if (ev && ev.confusion && ev.classes) {
      conf.replaceChildren(heatMap(ev.confusion, ev.classes));
      pc.replaceChildren(perClass(ev.confusion, ev.classes));
    } else {
      const p = document.createElement('p');
      p.className = 'muted';
      p.textContent = 'No confusion matrix recorded for this run.';
      conf.replaceChildren(p);
      pc.replaceChildren();
    }
    const dl = $('config');
    dl.replaceChildren();
    for (const [k, v] of Object.entries(r.config)) {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = JSON.stringify(v);
      dl.append(dt, dd);
    }
    drawSystem(sys.system);
  }

  function drawSystem(rows) {
    const el = $('system');
    charts.system?.destroy();
    charts.system = null;
    el.dataset.points = String(rows.length);
    if (!rows.length) {
      el.textContent = 'No system samples.';
      return;
    }
    el.textContent = '';
    const data = [rows.map((s) => s.time), rows.map((s) => s.cpuPercent), rows.map((s) => s.rssBytes / 1048576)];
    charts.system = new uPlot({
      width: Math.max(320, el.clientWidth),
      height: 220,
      scales: { x: { time: true }, cpu: {}, mb: {} },
      axes: [{}, { scale: 'cpu', label: 'CPU %' }, { scale: 'mb', side: 1, label: 'RSS MiB', grid: { show: false } }],
      series: [{}, { label: 'CPU %', scale: 'cpu', stroke: '#d62728', width: 1.5 }, { label: 'RSS MiB', scale: 'mb', stroke: '#1f77b4', width: 1.5 }],
    }, data, el);
  }

  // ---- hyper-parameters against the final metric ----

  function fillSelect(sel, values, keep) {
    const cur = sel.value || keep;
    sel.replaceChildren(...values.map((v) => Object.assign(document.createElement('option'), { value: v, textContent: v })));
    if (values.includes(cur)) sel.value = cur;
  }

  function drawHp() {
    const params = [...new Set(state.runs.flatMap((r) => Object.keys(r.config).filter((k) => typeof r.config[k] === 'number')))].sort();
    const metrics = [...new Set(state.runs.flatMap((r) => Object.keys(r.summary)))].sort();
    fillSelect($('hp-param'), params, 'lr');
    fillSelect($('hp-metric'), metrics, metrics.includes('test.accuracy') ? 'test.accuracy' : 'loss');
    const p = $('hp-param').value, m = $('hp-metric').value;
    const pts = state.runs.map((r) => [r.config[p], r.summary[m]]).filter(([x, y]) => typeof x === 'number' && typeof y === 'number').sort((a, b) => a[0] - b[0]);
    const el = $('hp');
    const sig = JSON.stringify([p, m, pts]);
    if (charts.hp && charts.hp._sig === sig) return;
    charts.hp?.destroy();
    charts.hp = null;
    el.dataset.points = String(pts.length);
    if (!pts.length) {
      el.textContent = 'No run has both a numeric value of this parameter and this metric.';
      return;
    }
    el.textContent = '';
    const logX = pts.every(([x]) => x > 0) && pts.at(-1)[0] / pts[0][0] >= 100;
    charts.hp = new uPlot({
      width: Math.max(320, el.clientWidth),
      height: 220,
      scales: { x: { time: false, distr: logX ? 3 : 1 } },
      axes: [{ label: p + (logX ? ' (log)' : '') }, { label: m }],
      series: [{ label: p }, { label: m, stroke: '#0b5cad', paths: () => null, points: { show: true, size: 8, fill: '#0b5cad' } }],
    }, [pts.map((q) => q[0]), pts.map((q) => q[1])], el);
    charts.hp._sig = sig;
  }

  // ---- registry ----

  function renderRegistry() {
    const body = $('registry').tBodies[0];
    $('registry-empty').hidden = state.models.length > 0;
    body.replaceChildren(...state.models.map((m) => {
      const tr = document.createElement('tr');
      tr.dataset.model = `${m.name}@${m.version}`;
      for (const [v, cls] of [[m.name], [String(m.version), 'num'], [m.stage, 'stage'], [m.runId === null ? '-' : `#${m.runId}`], [m.path]]) {
        const td = document.createElement('td');
        td.textContent = v;
        if (cls) td.className = cls;
        tr.append(td);
      }
      const td = document.createElement('td');
      const sel = document.createElement('select');
      sel.setAttribute('aria-label', `New stage for ${m.name} version ${m.version}`);
      for (const s of ['production', 'staging', 'archived', 'none']) sel.append(Object.assign(document.createElement('option'), { value: s, textContent: s }));
      sel.value = m.stage === 'production' ? 'archived' : 'production';
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = 'Promote';
      b.setAttribute('aria-label', `Promote ${m.name} version ${m.version}`);
      b.addEventListener('click', async () => {
        b.disabled = true;
        try {
          const r = await api(`/api/models/${encodeURIComponent(m.name)}/promote`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version: m.version, stage: sel.value }) });
          say(`${r.model.name} version ${r.model.version} is now in ${r.model.stage}`);
          await loadModels();
        } catch (e) {
          say(`promotion failed: ${e.message}`);
          b.disabled = false;
        }
      });
      td.append(sel, ' ', b);
      tr.append(td);
      return tr;
    }));
  }

  async function loadModels() {
    const r = await api('/api/models');
    state.models = r.models;
    renderRegistry();
  }

  // ---- polling ----

  async function loadRuns() {
    const r = await api('/api/runs');
    $('store').textContent = `store ${r.store}`;
    state.runs = r.runs;
    const ids = new Set(r.runs.map((x) => x.id));
    state.selected = state.selected.filter((id) => ids.has(id));
    renderTable(false);
    drawHp();
  }

  let modelsSig = '';
  async function poll() {
    try {
      await loadRuns();
      await pollSeries();
      const m = await api('/api/models');
      const sig = JSON.stringify(m.models);
      if (sig !== modelsSig) {
        modelsSig = sig;
        state.models = m.models;
        renderRegistry();
      }
      const running = state.runs.filter((x) => x.status === 'running').length;
      $('status').dataset.updated = String(Date.now());
      if (running) say(`${running} run(s) training; updating every ${POLL_MS / 1000} s`);
    } catch (e) {
      say(`cannot reach the store: ${e.message}`);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  $('filter').addEventListener('input', (e) => {
    state.filter = e.target.value;
    renderTable(true);
  });
  $('metric').addEventListener('change', (e) => {
    state.metric = e.target.value;
    reloadSeries().catch((err) => say(`cannot load the curves: ${err.message}`));
  });
  $('hp-param').addEventListener('change', drawHp);
  $('hp-metric').addEventListener('change', drawHp);
  window.addEventListener('resize', () => {
    for (const [name, c] of Object.entries(charts)) if (c) c.setSize({ width: Math.max(320, $(name === 'curve' ? 'curve' : name).clientWidth), height: c.height });
  });

  (async () => {
    try {
      await Promise.all([loadRuns(), loadModels()]);
      document.body.dataset.ready = 'true';
    } catch (e) {
      say(`cannot reach the store: ${e.message}`);
    }
    setTimeout(poll, POLL_MS);
  })();
})();
