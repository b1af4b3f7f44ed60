// The search machinery without processes: space parsing and its errors, grid, random and TPE
// sampling, ASHA's rungs and cutoffs, and the statistics of the report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/random.js';
import { ashaReport, rungEpochs } from '../../src/tune/asha.js';
import { gridPoints, parseSpace, sampleRandom, SpaceError } from '../../src/tune/space.js';
import { mean, std, tTwoSided, welch } from '../../src/tune/stats.js';
import { goodCount, suggestTpe, type Observation } from '../../src/tune/tpe.js';

test('a malformed space names the field', () => {
  const cases: [unknown, RegExp][] = [
    [[], /expected a JSON object/],
    [{}, /no parameters/],
    [{ lr: { type: 'gauss' } }, /space\.lr\.type: expected one of uniform, loguniform, int, choice/],
    [{ lr: { type: 'uniform', low: 1 } }, /space\.lr\.high: expected a finite number/],
    [{ lr: { type: 'loguniform', low: 0, high: 1 } }, /space\.lr\.low: a loguniform range must be positive/],
    [{ lr: { type: 'uniform', low: 2, high: 1 } }, /space\.lr: low \(2\) must be less than high \(1\)/],
    [{ lr: { type: 'uniform', low: 0, high: 1, hi: 3 } }, /space\.lr: unknown field 'hi'/],
    [{ n: { type: 'int', low: 1.5, high: 4 } }, /space\.n: expected integers/],
    [{ o: { type: 'choice', values: [] } }, /space\.o\.values: expected a non-empty list/],
    [{ m: { type: 'uniform', low: 0, high: 1, when: { optimizer: ['sgd'] } } }, /space\.m\.when\.optimizer: conditions may only name parameters defined before 'm'/],
    [{ 'batch-size': { type: 'choice', values: [1] } }, /camelCase identifier/],
  ];
  for (const [raw, re] of cases) {
    assert.throws(() => parseSpace(raw), (e: unknown) => e instanceof SpaceError && e.code === 'E_TUNE_SPACE' && re.test(e.message), JSON.stringify(raw));
  }
});

test('grid: choices × evenly spaced ranges (log-spaced for loguniform), conditionals only where active', () => {
  const s = parseSpace({
    optimizer: { type: 'choice', values: ['sgd', 'adam'] },
    lr: { type: 'loguniform', low: 1e-4, high: 1e-2, gridPoints: 3 },
    momentum: { type: 'uniform', low: 0, high: 0.9, gridPoints: 2, when: { optimizer: ['sgd'] } },
  });
  const g = gridPoints(s);
  assert.equal(g.length, 2 * 3 + 3); // sgd: 3 lr × 2 momenta; adam: 3 lr
  const lrs = [...new Set(g.map((p) => p.lr as number))].sort((a, b) => a - b);
  assert.deepEqual(lrs.map((x) => Number(x.toPrecision(6))), [1e-4, 1e-3, 1e-2]);
  assert.ok(g.filter((p) => p.optimizer === 'adam').every((p) => !('momentum' in p)));
  assert.ok(g.filter((p) => p.optimizer === 'sgd').every((p) => p.momentum === 0 || p.momentum === 0.9));
});

test('random draws stay in range, respect steps and conditions, and follow the seed', () => {
  const s = parseSpace({
    lr: { type: 'loguniform', low: 1e-4, high: 1e-1 },
    width: { type: 'int', low: 16, high: 256, step: 16 },
    batch: { type: 'int', low: 8, high: 512, log: true },
    opt: { type: 'choice', values: ['sgd', 'adam'] },
    momentum: { type: 'uniform', low: 0.5, high: 0.99, when: { opt: 'sgd' } },
  });
  const g = new Generator(7);
  let logLow = 0;
  for (let i = 0; i < 500; i++) {
    const p = sampleRandom(s, g);
    assert.ok((p.lr as number) >= 1e-4 && (p.lr as number) <= 1e-1);
    if ((p.lr as number) < 1e-2) logLow++;
    assert.ok((p.width as number) % 16 === 0 && (p.width as number) >= 16 && (p.width as number) <= 256);
    assert.ok(Number.isInteger(p.batch) && (p.batch as number) >= 8 && (p.batch as number) <= 512);
    assert.equal('momentum' in p, p.opt === 'sgd');
  }
  // Log-uniform: two of the three decades lie below 1e-2.
  assert.ok(logLow > 280 && logLow < 380, `log-uniform draws below 1e-2: ${logLow}/500`);
  assert.deepEqual(sampleRandom(s, new Generator(3)), sampleRandom(s, new Generator(3)));
});

test('TPE concentrates where the objective is good (deterministic for a seed)', () => {
  const s = parseSpace({ lr: { type: 'loguniform', low: 1e-5, high: 1 }, act: { type: 'choice', values: ['a', 'b', 'c', 'd'] } });
  // Best at lr = 1e-3 and act = 'c'.
  const f = (p: Record<string, unknown>) => -((Math.log10(p.lr as number) + 3) ** 2) - (p.act === 'c' ? 0 : 1);
  const run = (algo: 'tpe' | 'random', seed: number) => {
    const hist: Observation[] = [];
    for (let i = 0; i < 40; i++) {
      const g = new Generator(seed * 1000 + i);
      const p = algo === 'tpe' ? suggestTpe(s, hist, g) : sampleRandom(s, g);
      hist.push({ params: p, score: f(p) });
    }
    return hist;
  };
  let tpeWins = 0;
  for (let seed = 0; seed < 5; seed++) {
    const t = run('tpe', seed), r = run('random', seed);
    // Quality of the last 20 suggestions: TPE's should be better on average.
    const avg = (h: Observation[]) => mean(h.slice(20).map((o) => o.score));
    if (avg(t) > avg(r)) tpeWins++;
    // First 10 are random (startup), identical to random search with the same draws.
    assert.deepEqual(t.slice(0, 10).map((o) => o.params), r.slice(0, 10).map((o) => o.params));
  }
  assert.equal(tpeWins, 5);
  assert.deepEqual(run('tpe', 9).map((o) => o.params), run('tpe', 9).map((o) => o.params));
  assert.equal(goodCount(10), 1);
  assert.equal(goodCount(1000), 25);
});

test('ASHA: rungs at grace·η^k, the first arrival goes on, later ones must be in the top 1/η', () => {
  const o = { gracePeriod: 1, reductionFactor: 3, maxEpochs: 10 };
  assert.deepEqual(rungEpochs(o), [1, 3, 9]);
  assert.deepEqual(rungEpochs({ gracePeriod: 2, reductionFactor: 2, maxEpochs: 10 }), [2, 4, 8]);
  const st = { rungs: {} };
  assert.equal(ashaReport(o, st, 2, 0), 'continue'); // not a rung
  assert.equal(ashaReport(o, st, 1, 0.5), 'continue');
  assert.equal(ashaReport(o, st, 1, 0.9), 'continue');
  assert.equal(ashaReport(o, st, 1, 0.1), 'stop');
  assert.equal(ashaReport(o, st, 1, 0.95), 'continue');
  assert.equal(ashaReport(o, st, 1, 0.6), 'stop');
  assert.equal(ashaReport(o, st, 3, NaN), 'stop');
  assert.deepEqual(st, { rungs: { '1': [0.5, 0.9, 0.1, 0.95, 0.6] } });
});

test('Welch t-test matches SciPy (ttest_ind equal_var=False)', () => {
  // scipy.stats.ttest_ind([1,2,3,4,5], [3,4,5,6,7], equal_var=False) → t = -2.0, p = 0.08051623795726257
  const w = welch([1, 2, 3, 4, 5], [3, 4, 5, 6, 7])!;
  assert.ok(Math.abs(w.t + 2) < 1e-12);
  assert.ok(Math.abs(w.df - 8) < 1e-12);
  assert.ok(Math.abs(w.p - 0.08051623795726257) < 1e-6, String(w.p));
  // Unequal variances, by hand: means 0.91 and 0.775, variances/n 1e-4/3 and 0.0125/12,
  // t = 0.135 / sqrt(0.001075) = 4.1175, Welch–Satterthwaite df = 3.19, two-sided p ≈ 0.023.
  const u = welch([0.9, 0.91, 0.92], [0.8, 0.85, 0.7, 0.75])!;
  assert.ok(Math.abs(u.t - 0.135 / Math.sqrt(1e-4 / 3 + 0.0125 / 12)) < 1e-9, String(u.t));
  assert.ok(u.df > 3.1 && u.df < 3.3, String(u.df));
  assert.ok(u.p < 0.03 && u.p > 0.015, String(u.p));
  assert.equal(welch([1], [2, 3]), null);
  assert.equal(welch([1, 1], [1, 1])!.p, 1);
  assert.ok(Math.abs(tTwoSided(1.959963984540054, 1e7) - 0.05) < 1e-5);
  assert.ok(Math.abs(std([2, 4, 4, 4, 5, 5, 7, 9]) - 2.138089935299395) < 1e-12);
});
