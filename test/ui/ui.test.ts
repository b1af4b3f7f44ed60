// `nabla ui` in a real browser (Debian's chromium through playwright-core): the runs table lists
// the store's runs, sorts, filters and is keyboard navigable; selecting two runs draws two
// curves; a live run's curve grows as it writes; a promote click changes the stage in the store;
// the page logs no console errors. NABLA_UI_SCREENSHOTS=<dir> also saves screenshots there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrackingStore } from '../../src/track/store.js';
import { startUi } from '../../src/ui/server.js';

const CHROMIUM = process.env.NABLA_CHROMIUM ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no chromium at ${CHROMIUM} (apt-get install chromium, or set NABLA_CHROMIUM)`;

const CLASSES = ['0', '1', '2', '3'];

/** Four finished runs with curves, evaluations and system samples, one running run (this process), a model with two versions. */
function fill(store: TrackingStore): { live: number; ids: number[] } {
  const ids: number[] = [];
  const lrs = [0.1, 0.03, 0.01, 0.001];
  lrs.forEach((lr, k) => {
    const id = store.createRun({ name: `mlp-lr${lr}`, config: { model: 'mlp', lr, batchSize: 64, optimizer: k % 2 ? 'sgd' : 'adam' }, dataset: 'mnist-bundled', datasetHash: 'ab'.repeat(32), codeVersion: 'v0.1.0-3-gabc' });
    const steps = 40 + 10 * k;
    const rows = [];
    for (let s = 1; s <= steps; s++) rows.push({ scope: 'step' as const, key: 'loss', step: s, epoch: Math.ceil(s / 10), value: 2.3 * Math.exp(-s * lr * (k + 1) * 0.2) + 0.05 * Math.sin(s) });
    for (let e = 1; e <= steps / 10; e++) {
      rows.push({ scope: 'epoch' as const, key: 'loss', step: e * 10, epoch: e, value: 2 / (e + k) });
      rows.push({ scope: 'epoch' as const, key: 'valAccuracy', step: e * 10, epoch: e, value: 0.5 + 0.4 * (1 - 1 / (e + k)) });
    }
    const t0 = Date.now() / 1000 - 60;
    const system = Array.from({ length: 12 }, (_, i) => ({ time: t0 + 5 * i, cpuPercent: 90 + 10 * Math.sin(i), rssBytes: (200 + 5 * i) * 1048576, heapBytes: 50 * 1048576 }));
    store.flush(id, { metrics: rows, system, step: steps, epoch: steps / 10, summary: { loss: 2 / (steps / 10 + k), valAccuracy: 0.6 + 0.08 * k } });
    const cm = CLASSES.map((_, i) => CLASSES.map((__, j) => (i === j ? 40 + 5 * k : (i + j + k) % 4)));
    store.logEvaluation(id, 'test', { metrics: { accuracy: 0.7 + 0.05 * k, loss: 0.9 - 0.1 * k }, classes: CLASSES, confusion: cm });
    store.logArtifact(id, 'model', join(tmpdir(), `model-${k}`));
    store.finishRun(id, 'finished');
    ids.push(id);
  });
  const live = store.createRun({ name: 'live', config: { model: 'cnn', lr: 0.001, batchSize: 32, optimizer: 'adam' }, dataset: 'fashion-mnist' });
  store.flush(live, { metrics: Array.from({ length: 5 }, (_, i) => ({ scope: 'step' as const, key: 'loss', step: i + 1, value: 2.3 - i * 0.1 })), step: 5, epoch: 1 });
  store.registerModel('digits', join(tmpdir(), 'model-0'), ids[0]!);
  store.registerModel('digits', join(tmpdir(), 'model-3'), ids[3]!);
  store.promoteModel('digits', 2, 'production');
  return { live, ids };
}

test('nabla ui in Chromium: table, sort, filter, keyboard, two curves, live growth, promote, no console errors', { skip, timeout: 180_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'nabla-ui-'));
  const storePath = join(dir, 'nabla.db');
  const store = TrackingStore.open(storePath);
  const { live, ids } = fill(store);
  const ui = await startUi({ store: storePath, port: 0, pollMs: 300 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  const shots = process.env.NABLA_UI_SCREENSHOTS;
  if (shots) mkdirSync(shots, { recursive: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
    page.on('response', (r) => {
      if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
    });
    await page.goto(ui.url);
    await page.waitForSelector('body[data-ready="true"]');

    // the table lists every run, newest first
    const rowIds = () => page.$$eval('#runs tbody tr', (trs) => trs.map((t) => Number((t as HTMLElement).dataset.id)));
    assert.deepEqual(await rowIds(), [live, ...[...ids].reverse()]);
    assert.equal(await page.locator('#runs tbody tr[data-id="' + live + '"] td.status-running').count(), 1);
    // sort by test accuracy (descending first), then ascending
    await page.getByRole('button', { name: /^Test accuracy/ }).click();
    assert.deepEqual((await rowIds()).slice(0, 4), [...ids].reverse());
    await page.getByRole('button', { name: /^Test accuracy/ }).click();
    assert.deepEqual((await rowIds()).slice(0, 4), ids);
    assert.equal(await page.locator('th[aria-sort="ascending"]').count(), 1);
    // filter by config and by metric
    await page.getByLabel('Filter').fill('lr<0.02 optimizer=sgd');
    assert.deepEqual(await rowIds(), [ids[3]]);
    await page.getByLabel('Filter').fill('valAccuracy>0.7');
    assert.deepEqual((await rowIds()).sort(), [ids[2], ids[3]].sort());
    await page.getByLabel('Filter').fill('');

    // accessibility: every control has an accessible name (label, aria-label or text)
    const unnamed = await page.$$eval('input, select, button, textarea', (els) => els.filter((el) => {
      const e = el as HTMLInputElement;
      const byLabel = e.labels && e.labels.length > 0 && [...e.labels].some((l) => l.textContent!.trim() !== '');
      const byAria = (e.getAttribute('aria-label') ?? '').trim() !== '' || (e.getAttribute('aria-labelledby') ?? '') !== '';
      return !byLabel && !byAria && e.textContent!.trim() === '';
    }).map((el) => el.outerHTML.slice(0, 80)));
    assert.deepEqual(unnamed, []);
    assert.equal(await page.getAttribute('#runs', 'role'), 'grid');
    // a sort button works from the keyboard (Enter), and keeps the focus across the re-render
    await page.getByRole('button', { name: /^Run\b/ }).focus();
    await page.keyboard.press('Enter');
    assert.deepEqual(await rowIds(), [live, ...[...ids].reverse()]);
    await page.keyboard.press('Enter');
    assert.deepEqual(await rowIds(), [...ids, live]);
    await page.keyboard.press('Enter');
    assert.deepEqual(await rowIds(), [live, ...[...ids].reverse()]);
    // keyboard: the table is one tab stop. From the filter, Tab passes the sort buttons and lands
    // on the first row; Tab again leaves the table
    const active = () => page.evaluate(() => {
      const a = document.activeElement as HTMLElement;
      return { tag: a.tagName, id: a.dataset.id ?? null, inRuns: !!a.closest('#runs'), inBody: !!a.closest('#runs tbody') };
    });
    assert.equal(await page.locator('#runs tbody tr[tabindex="0"]').count(), 1);
    await page.getByLabel('Filter').focus();
    let hops = 0;
    while (!(await active()).inBody && hops++ < 40) await page.keyboard.press('Tab');
    assert.deepEqual(await active(), { tag: 'TR', id: String(live), inRuns: true, inBody: true });
    await page.keyboard.press('Tab');
    assert.equal((await active()).inRuns, false, 'Tab should leave the table after one row');
    await page.keyboard.press('Shift+Tab');
    assert.equal((await active()).id, String(live), 'Shift+Tab comes back to the same row');
    // End / Home / PageDown move the focus and the tab stop with it
    await page.keyboard.press('End');
    assert.equal((await active()).id, String(ids[0]));
    assert.equal(await page.getAttribute(`#runs tbody tr[data-id="${ids[0]}"]`, 'tabindex'), '0');
    assert.equal(await page.locator('#runs tbody tr[tabindex="0"]').count(), 1);
    await page.keyboard.press('Home');
    assert.equal((await active()).id, String(live));
    await page.keyboard.press('PageDown');
    assert.equal((await active()).id, String(ids[0]), 'PageDown stops at the last row');
    await page.keyboard.press('Home');

    // keyboard: focus the first row, arrow down, space selects
    await page.locator('#runs tbody tr').first().focus();
    await page.keyboard.press('ArrowDown');
    const second = (await rowIds())[1]!;
    await page.keyboard.press('Space');
    await page.waitForSelector(`#runs tbody tr[data-id="${second}"][aria-selected="true"]`);
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.id), String(second));
    // and a second run by its labelled checkbox: two curves
    const other = ids.find((i) => i !== second)!;
    await page.getByLabel(new RegExp(`^Compare run ${other} `)).check();
    await page.waitForSelector('#curve[data-series="2"]');
    assert.equal(await page.locator('#curve .u-legend .u-series').count(), 3); // x plus two runs
    assert.equal(await page.locator('#curve canvas').count(), 1);
    // the detail of the last selected: confusion heat map and system chart
    await page.waitForSelector('#confusion table.heat');
    assert.equal(await page.locator('#confusion table.heat td').count(), 16);
    await page.waitForSelector('#system canvas');
    if (shots) {
      await page.screenshot({ path: join(shots, 'ui-runs.png'), fullPage: false });
      await page.locator('#detail').screenshot({ path: join(shots, 'ui-detail.png') });
    }

    // a live run's curve grows as it writes
    await page.getByLabel(new RegExp(`^Compare run ${live} `)).check();
    await page.waitForSelector('#curve[data-series="3"]');
    const points = async () => Number(await page.getAttribute('#curve', 'data-points'));
    const before = await points();
    store.flush(live, { metrics: Array.from({ length: 10 }, (_, i) => ({ scope: 'step' as const, key: 'loss', step: 6 + i, value: 1.8 - i * 0.05 })), step: 15 });
    await page.waitForFunction((n) => Number(document.getElementById('curve')!.dataset.points) >= n, before + 10, { timeout: 20_000 });
    assert.equal(await points(), before + 10);

    // promote version 1 to production from the page
    const row1 = page.locator('#registry tr[data-model="digits@1"]');
    assert.equal(await row1.locator('td.stage').textContent(), 'none');
    await page.getByRole('button', { name: 'Promote digits version 1' }).click();
    await page.waitForFunction(() => document.querySelector('#registry tr[data-model="digits@1"] td.stage')?.textContent === 'production');
    assert.equal(await page.locator('#registry tr[data-model="digits@2"] td.stage').textContent(), 'archived');
    assert.equal(store.resolveModel('digits', 'production')!.version, 1);

    // hyper-parameter plot has one point per run with both values
    assert.equal(await page.getAttribute('#hp', 'data-points'), '4');
    if (shots) {
      await page.locator('#curve').scrollIntoViewIfNeeded();
      await page.locator('section:has(#curve)').screenshot({ path: join(shots, 'ui-curves.png') });
      await page.locator('section:has(#hp)').screenshot({ path: join(shots, 'ui-hparams.png') });
      await page.locator('section:has(#registry)').screenshot({ path: join(shots, 'ui-registry.png') });
    }
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await ui.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the UI API refuses bad input with 4xx JSON and serves uPlot from node_modules', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-ui-'));
  const storePath = join(dir, 'nabla.db');
  const store = TrackingStore.open(storePath);
  fill(store);
  const ui = await startUi({ store, port: 0 });
  try {
    const get = async (p: string) => {
      const r = await fetch(ui.url + p);
      return { status: r.status, body: r.headers.get('content-type')!.includes('json') ? await r.json() : await r.text() };
    };
    assert.equal((await get('/api/runs/abc')).status, 400);
    assert.equal((await get('/api/runs/999')).status, 404);
    assert.equal((await get('/api/runs?limit=-1')).status, 400);
    assert.equal((await get('/api/runs?status=bogus')).status, 400);
    // pages with the total, newest first; the same list as the store's
    const all = (await get('/api/runs')).body as { total: number; runs: { id: number; config: unknown; summary: unknown; resumable: boolean }[] };
    const direct = store.listRuns();
    assert.equal(all.total, direct.length);
    assert.deepEqual(all.runs.map((r) => [r.id, r.config, r.summary, r.resumable]), direct.map((r) => [r.id, r.config, r.summary, r.resumable]));
    const page2 = (await get('/api/runs?limit=2&offset=2')).body as typeof all;
    assert.equal(page2.total, direct.length);
    assert.deepEqual(page2.runs.map((r) => r.id), direct.slice(2, 4).map((r) => r.id));
    assert.deepEqual(((await get('/api/runs?status=running')).body as typeof all).runs.map((r) => r.id), direct.filter((r) => r.status === 'running').map((r) => r.id));
    // an unchanged store answers 304 to its ETag; any write changes the ETag
    const first = await fetch(`${ui.url}/api/runs`);
    const etag = first.headers.get('etag')!;
    assert.equal((await fetch(`${ui.url}/api/runs`, { headers: { 'if-none-match': etag } })).status, 304);
    store.flush(direct[0]!.id, { summary: { loss: 0.125 } });
    const changed = await fetch(`${ui.url}/api/runs`, { headers: { 'if-none-match': etag } });
    assert.equal(changed.status, 200);
    assert.equal((((await changed.json()) as typeof all).runs.find((r) => r.id === direct[0]!.id)!.summary as { loss: number }).loss, 0.125);
    assert.equal((await get('/api/series?runs=1&key=a%20b')).status, 400);
    assert.equal((await get('/assets/..%2fserver.js')).status, 404);
    const js = await get('/assets/uPlot.iife.min.js');
    assert.equal(js.status, 200);
    assert.match(js.body as string, /uPlot/);
    const bad = await fetch(`${ui.url}/api/models/digits/promote`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version: 1, stage: 'live' }) });
    assert.equal(bad.status, 400);
    const form = await fetch(`${ui.url}/api/models/digits/promote`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'version=1&stage=production' });
    assert.equal(form.status, 415);
    assert.equal(store.resolveModel('digits', 'production')!.version, 2);
  } finally {
    await ui.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
