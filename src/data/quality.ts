// Cleaning and quality checks for tabular data: a row-major Float32Array of features (NaN marks a
// missing cell), optional int32 labels and column names — the shape readCsv/csvToNumeric give.
// Every cleaning step returns a new table plus what it changed, so a pipeline can log it.

import { ShapeError, ValueError } from '../errors.js';

export interface Table {
  /** rows × numFeatures, row-major; NaN = missing. */
  features: Float32Array;
  numFeatures: number;
  /** One class index per row. */
  labels?: Int32Array;
  featureNames?: string[];
  /** Class names; label i means classes[i]. */
  classes?: string[];
}

/** A table with the name of the source it came from (a file, a sensor, a vendor). */
export interface NamedTable {
  name: string;
  table: Table;
}

export function numRows(t: Table): number {
  return t.numFeatures === 0 ? (t.labels?.length ?? 0) : t.features.length / t.numFeatures;
}

function checkTable(op: string, t: Table): number {
  if (!t || !(t.features instanceof Float32Array)) throw new ValueError(`${op}: table.features must be a Float32Array`);
  if (!Number.isInteger(t.numFeatures) || t.numFeatures < 0) throw new ValueError(`${op}: table.numFeatures must be a non-negative integer, got ${t.numFeatures}`);
  if (t.numFeatures > 0 && t.features.length % t.numFeatures !== 0) {
    throw new ShapeError(`${op}: features length ${t.features.length} is not a multiple of numFeatures ${t.numFeatures}`);
  }
  const n = numRows(t);
  if (t.labels && t.labels.length !== n) throw new ShapeError(`${op}: ${t.labels.length} labels for ${n} rows`);
  if (t.featureNames && t.featureNames.length !== t.numFeatures) {
    throw new ShapeError(`${op}: ${t.featureNames.length} featureNames for ${t.numFeatures} columns`);
  }
  return n;
}

function columnNames(t: Table): string[] {
  return t.featureNames ? [...t.featureNames] : Array.from({ length: t.numFeatures }, (_, j) => `col${j}`);
}

/** The rows of t at `rows`, in that order. */
export function selectRows(t: Table, rows: ArrayLike<number>): Table {
  const d = t.numFeatures;
  const features = new Float32Array(rows.length * d);
  for (let k = 0; k < rows.length; k++) features.set(t.features.subarray(rows[k] * d, rows[k] * d + d), k * d);
  const out: Table = { features, numFeatures: d };
  if (t.labels) out.labels = Int32Array.from(rows, (r) => t.labels![r]);
  if (t.featureNames) out.featureNames = [...t.featureNames];
  if (t.classes) out.classes = [...t.classes];
  return out;
}

// ---- missing values ------------------------------------------------------------------------

export type FillStrategy = 'mean' | 'median' | 'constant';

export interface FillOptions {
  /** Default 'mean'. */
  strategy?: FillStrategy;
  /** The fill value for 'constant'. */
  value?: number;
  /** Per-column fill values learned elsewhere (e.g. FillResult.values of the training set); overrides strategy. */
  values?: readonly number[];
}

export interface FillResult {
  table: Table;
  /** The value used per column (apply the same to validation/test data via opts.values). */
  values: number[];
  /** Cells filled per column. */
  filled: number[];
}

/** The finite values of column j. */
function columnValues(t: Table, j: number, n: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < n; r++) {
    const v = t.features[r * t.numFeatures + j];
    if (Number.isFinite(v)) out.push(v);
  }
  return out;
}

function median(vs: number[]): number {
  const s = [...vs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Replace NaN cells by the column's mean or median (of its non-missing values) or a constant (sklearn's SimpleImputer). */
export function fillMissing(t: Table, opts: FillOptions = {}): FillResult {
  const n = checkTable('fillMissing', t);
  const d = t.numFeatures;
  const strategy = opts.strategy ?? 'mean';
  const names = columnNames(t);
  let values: number[];
  if (opts.values) {
    if (opts.values.length !== d || !opts.values.every(Number.isFinite)) {
      throw new ValueError(`fillMissing: values must be ${d} finite numbers (one per column), got ${opts.values.length}`);
    }
    values = [...opts.values];
  } else if (strategy === 'constant') {
    if (opts.value === undefined || !Number.isFinite(opts.value)) throw new ValueError(`fillMissing: strategy 'constant' needs a finite value, got ${opts.value}`);
    values = new Array<number>(d).fill(opts.value);
  } else if (strategy === 'mean' || strategy === 'median') {
    values = names.map((name, j) => {
      const vs = columnValues(t, j, n);
      if (vs.length === 0) throw new ValueError(`fillMissing: column ${JSON.stringify(name)} has no finite values to take a ${strategy} of; drop it or use strategy 'constant'`);
      return strategy === 'mean' ? vs.reduce((s, v) => s + v, 0) / vs.length : median(vs);
    });
  } else {
    throw new ValueError(`fillMissing: unknown strategy ${JSON.stringify(strategy)}; expected 'mean', 'median' or 'constant'`);
  }
  const features = Float32Array.from(t.features);
  const filled = new Array<number>(d).fill(0);
  for (let i = 0; i < features.length; i++) {
    if (Number.isNaN(features[i])) {
      const j = i % d;
      features[i] = values[j];
      filled[j]++;
    }
  }
  return { table: { ...t, features }, values, filled };
}

// ---- duplicates and invalid rows -----------------------------------------------------------

/** Row hash over canonical bits (all NaNs alike, −0 = 0), so equal rows always share a bucket. */
function rowHash(bits: Uint32Array, f: Float32Array, r: number, d: number, label: number): number {
  let h1 = 0x811c9dc5 ^ label, h2 = 0x27d4eb2f + label;
  for (let j = r * d, e = j + d; j < e; j++) {
    const v = f[j];
    const b = v !== v ? 0x7fc00000 : v === 0 ? 0 : bits[j];
    h1 = Math.imul(h1 ^ b, 0x01000193);
    h2 = Math.imul(h2 ^ (b >>> 16) ^ (b << 7), 0x85ebca6b);
  }
  return (h1 >>> 0) * 2097152 + ((h2 >>> 0) & 0x1fffff);
}

function rowsEqual(f: Float32Array, a: number, b: number, d: number): boolean {
  for (let j = 0; j < d; j++) {
    const x = f[a * d + j], y = f[b * d + j];
    if (x !== y && !(x !== x && y !== y)) return false;
  }
  return true;
}

/** For each row, the first earlier row it duplicates (−1 if none). NaN equals NaN here, like pandas. */
function duplicateOf(t: Table, n: number, withLabels: boolean): Int32Array {
  const d = t.numFeatures;
  const bits = new Uint32Array(t.features.buffer, t.features.byteOffset, t.features.length);
  const buckets = new Map<number, number[]>();
  const dup = new Int32Array(n).fill(-1);
  for (let r = 0; r < n; r++) {
    const label = withLabels && t.labels ? t.labels[r] : 0;
    const h = rowHash(bits, t.features, r, d, label);
    const bucket = buckets.get(h);
    if (!bucket) {
      buckets.set(h, [r]);
      continue;
    }
    const first = bucket.find((q) => rowsEqual(t.features, q, r, d) && (!withLabels || !t.labels || t.labels[q] === t.labels[r]));
    if (first === undefined) bucket.push(r);
    else dup[r] = first;
  }
  return dup;
}

export interface DropResult {
  table: Table;
  /** Indices (into the input) of the rows kept. */
  kept: Int32Array;
  removed: number;
}

/** Keep the first of each group of identical rows (features and, by default, label). */
export function dropDuplicates(t: Table, opts: { includeLabels?: boolean } = {}): DropResult {
  const n = checkTable('dropDuplicates', t);
  const dup = duplicateOf(t, n, opts.includeLabels ?? true);
  const kept: number[] = [];
  for (let r = 0; r < n; r++) if (dup[r] < 0) kept.push(r);
  return { table: selectRows(t, kept), kept: Int32Array.from(kept), removed: n - kept.length };
}

function classCount(t: Table, numClasses?: number): number | null {
  if (numClasses !== undefined) {
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new ValueError(`numClasses must be a positive integer, got ${numClasses}`);
    return numClasses;
  }
  return t.classes ? t.classes.length : null;
}

export interface DropInvalidResult extends DropResult {
  /** Rows removed for a NaN or ±Inf feature. */
  nonFiniteRows: number;
  /** Rows removed for a label outside [0, numClasses) (and not already counted as non-finite). */
  invalidLabelRows: number;
}

/**
 * Drop rows with any NaN/±Inf feature, or a label outside [0, numClasses) (numClasses from the
 * option, else table.classes; without either, only negative labels are invalid).
 */
export function dropInvalid(t: Table, opts: { numClasses?: number } = {}): DropInvalidResult {
  const n = checkTable('dropInvalid', t);
  const k = classCount(t, opts.numClasses);
  const d = t.numFeatures;
  const kept: number[] = [];
  let nonFiniteRows = 0, invalidLabelRows = 0;
  for (let r = 0; r < n; r++) {
    let ok = true;
    for (let j = r * d, e = j + d; j < e; j++) {
      if (!Number.isFinite(t.features[j])) {
        ok = false;
        break;
      }
    }
    if (!ok) {
      nonFiniteRows++;
      continue;
    }
    if (t.labels && (t.labels[r] < 0 || (k !== null && t.labels[r] >= k))) {
      invalidLabelRows++;
      continue;
    }
    kept.push(r);
  }
  return { table: selectRows(t, kept), kept: Int32Array.from(kept), removed: n - kept.length, nonFiniteRows, invalidLabelRows };
}

// ---- merging sources -----------------------------------------------------------------------

export interface MergeResult {
  table: Table;
  /** Columns of the merged table. */
  columns: string[];
  /** Columns only the first / only the second source has ('outer': filled with NaN in the other). */
  onlyInFirst: string[];
  onlyInSecond: string[];
  /** Per merged row, 0 if it came from the first source, 1 from the second. */
  source: Int32Array;
}

/**
 * Concatenate the rows of two tables, matching columns by name (pandas' concat). 'outer' (the
 * default) keeps every column and fills the absent ones with NaN; 'inner' keeps shared columns
 * only. Class names are matched by name too: the second table's labels are renumbered into the
 * first table's class list, new classes appended (a label outside the second table's class list
 * becomes −1, which dropInvalid removes).
 */
export function mergeSources(a: Table, b: Table, opts: { join?: 'outer' | 'inner' } = {}): MergeResult {
  const na = checkTable('mergeSources', a), nb = checkTable('mergeSources', b);
  if (!a.featureNames || !b.featureNames) throw new ValueError('mergeSources: both tables need featureNames to match columns by name');
  for (const [t, which] of [[a, 'first'], [b, 'second']] as const) {
    if (new Set(t.featureNames).size !== t.featureNames!.length) throw new ValueError(`mergeSources: the ${which} table has duplicate column names`);
  }
  if (!!a.labels !== !!b.labels) throw new ValueError('mergeSources: one table has labels and the other does not');
  const join = opts.join ?? 'outer';
  const inB = new Set(b.featureNames), inA = new Set(a.featureNames);
  const onlyInFirst = a.featureNames.filter((c) => !inB.has(c));
  const onlyInSecond = b.featureNames.filter((c) => !inA.has(c));
  const columns = join === 'inner' ? a.featureNames.filter((c) => inB.has(c)) : [...a.featureNames, ...onlyInSecond];
  const d = columns.length;
  const features = new Float32Array((na + nb) * d).fill(NaN);
  const copy = (t: Table, n: number, rowStart: number) => {
    const pos = new Map(t.featureNames!.map((c, j) => [c, j]));
    const map = columns.map((c) => pos.get(c) ?? -1);
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < d; j++) if (map[j] >= 0) features[(rowStart + r) * d + j] = t.features[r * t.numFeatures + map[j]];
    }
  };
  copy(a, na, 0);
  copy(b, nb, na);
  const table: Table = { features, numFeatures: d, featureNames: columns };
  if (a.labels && b.labels) {
    const labels = new Int32Array(na + nb);
    labels.set(a.labels, 0);
    if (a.classes && b.classes) {
      const classes = [...a.classes];
      const remap = b.classes.map((c) => {
        const i = classes.indexOf(c);
        if (i >= 0) return i;
        classes.push(c);
        return classes.length - 1;
      });
      for (let r = 0; r < nb; r++) {
        const l = b.labels[r];
        labels[na + r] = l >= 0 && l < remap.length ? remap[l] : -1;
      }
      table.classes = classes;
    } else {
      labels.set(b.labels, na);
      if (a.classes || b.classes) table.classes = [...(a.classes ?? b.classes!)];
    }
    table.labels = labels;
  }
  const source = new Int32Array(na + nb);
  source.fill(1, na);
  return { table, columns, onlyInFirst, onlyInSecond, source };
}

// ---- quality report ------------------------------------------------------------------------

export interface QualityOptions {
  /** Labels must lie in [0, numClasses) (default: the table's classes, else max label + 1). */
  numClasses?: number;
  /** Consistency: flag a column whose means differ by more than this many pooled standard deviations between two sources (default 0.5). */
  meanShiftThreshold?: number;
  /** Consistency: flag a column whose std or value range differs by more than this factor between two sources (default 2). */
  spreadRatioThreshold?: number;
  /** Class balance: list an issue when largest/smallest class count exceeds this (default 1.5). */
  imbalanceThreshold?: number;
}

export interface ColumnSummary {
  column: string;
  /** Over the finite values; NaN when there are none. */
  min: number;
  max: number;
  mean: number;
  /** Population standard deviation. */
  std: number;
  /** Finite values counted. */
  count: number;
}

export interface ClassBalance {
  classes: string[];
  counts: number[];
  fractions: number[];
  /** Largest class count / smallest (Infinity when a class is empty). */
  imbalanceRatio: number;
  majority: string;
  minority: string;
}

export interface ConsistencyEntry {
  column: string;
  perSource: (ColumnSummary & { source: string })[];
  /** Largest |mean_a − mean_b| / sqrt((std_a² + std_b²) / 2) over pairs of sources. */
  meanShift: number;
  /** Largest std / smallest std across sources. */
  stdRatio: number;
  /** Largest (max − min) / smallest across sources. */
  rangeRatio: number;
  flagged: boolean;
  reasons: string[];
}

export interface QualityReport {
  rows: number;
  columns: string[];
  sources: { name: string; rows: number; missingColumns: string[] }[];
  // completeness
  missingPerColumn: { column: string; missing: number; fraction: number }[];
  missingCells: number;
  rowsWithMissing: number;
  duplicateRows: number;
  /** Rows whose features repeat an earlier row's but with a different label. */
  conflictingDuplicates: number;
  // validity
  /** ±Inf cells (NaN counts as missing). */
  infiniteCells: number;
  invalidLabels: number;
  valueRanges: ColumnSummary[];
  classBalance: ClassBalance | null;
  // consistency across sources (empty for one source)
  consistency: ConsistencyEntry[];
  /** One line per problem found, for logs and the CLI. */
  issues: string[];
}

/** Welford's running mean/variance over the finite values of column j in the given rows. */
function summarize(t: Table, j: number, rows: Iterable<number>, column: string): ColumnSummary {
  let count = 0, mean = 0, m2 = 0, lo = Infinity, hi = -Infinity;
  const d = t.numFeatures;
  for (const r of rows) {
    const v = t.features[r * d + j];
    if (!Number.isFinite(v)) continue;
    count++;
    const delta = v - mean;
    mean += delta / count;
    m2 += delta * (v - mean);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (count === 0) return { column, min: NaN, max: NaN, mean: NaN, std: NaN, count };
  return { column, min: lo, max: hi, mean, std: Math.sqrt(m2 / count), count };
}

function ratio(a: number, b: number): number {
  if (b === 0) return a === 0 ? 1 : Infinity;
  return a / b;
}

function consistencyOf(column: string, stats: (ColumnSummary & { source: string })[], meanThr: number, spreadThr: number): ConsistencyEntry {
  const valid = stats.filter((s) => s.count > 0);
  let meanShift = 0;
  for (let i = 0; i < valid.length; i++) {
    for (let k = i + 1; k < valid.length; k++) {
      const pooled = Math.sqrt((valid[i].std ** 2 + valid[k].std ** 2) / 2);
      const diff = Math.abs(valid[i].mean - valid[k].mean);
      meanShift = Math.max(meanShift, pooled === 0 ? (diff === 0 ? 0 : Infinity) : diff / pooled);
    }
  }
  const stds = valid.map((s) => s.std), widths = valid.map((s) => s.max - s.min);
  const stdRatio = valid.length > 1 ? ratio(Math.max(...stds), Math.min(...stds)) : 1;
  const rangeRatio = valid.length > 1 ? ratio(Math.max(...widths), Math.min(...widths)) : 1;
  const reasons: string[] = [];
  if (meanShift > meanThr) reasons.push(`means differ by ${fmtNum(meanShift)} pooled std (> ${meanThr})`);
  if (stdRatio > spreadThr) reasons.push(`std differs by a factor ${fmtNum(stdRatio)} (> ${spreadThr})`);
  if (rangeRatio > spreadThr) reasons.push(`value range differs by a factor ${fmtNum(rangeRatio)} (> ${spreadThr})`);
  return { column, perSource: stats, meanShift, stdRatio, rangeRatio, flagged: reasons.length > 0, reasons };
}

/**
 * Completeness (missing values, duplicates), validity (label range, ±Inf, value ranges), class
 * balance and — given several named sources — consistency of each shared column across them.
 * Sources are merged by column name (see mergeSources) before the whole-data checks.
 */
export function qualityReport(input: Table | readonly NamedTable[], opts: QualityOptions = {}): QualityReport {
  const named: NamedTable[] = Array.isArray(input) ? [...(input as readonly NamedTable[])] : [{ name: 'data', table: input as Table }];
  if (named.length === 0) throw new ValueError('qualityReport: expected a table or a non-empty array of {name, table}');
  named.forEach((s) => checkTable(`qualityReport(${s.name})`, s.table));
  const meanThr = opts.meanShiftThreshold ?? 0.5, spreadThr = opts.spreadRatioThreshold ?? 2, imbThr = opts.imbalanceThreshold ?? 1.5;

  // Merge all sources into one table, remembering each row's source.
  let t: Table = named.length === 1 ? { ...named[0].table, featureNames: columnNames(named[0].table) } : named[0].table;
  let source = new Int32Array(numRows(t));
  for (let s = 1; s < named.length; s++) {
    const m = mergeSources(t, named[s].table);
    const next = new Int32Array(m.source.length);
    next.set(source);
    next.fill(s, source.length);
    t = m.table;
    source = next;
  }
  const n = numRows(t), d = t.numFeatures;
  const columns = columnNames(t);
  const sources = named.map((s, i) => {
    const own = new Set(columnNames(s.table));
    return { name: s.name, rows: source.filter((x) => x === i).length, missingColumns: named.length > 1 ? columns.filter((c) => !own.has(c)) : [] };
  });

  // Completeness: a cell counts as missing only where its source has the column.
  const hasCol = named.map((s) => new Set(columnNames(s.table)));
  const missing = new Array<number>(d).fill(0);
  let rowsWithMissing = 0, infiniteCells = 0;
  for (let r = 0; r < n; r++) {
    let rowMissing = false;
    for (let j = 0; j < d; j++) {
      const v = t.features[r * d + j];
      if (Number.isNaN(v)) {
        if (hasCol[source[r]].has(columns[j])) {
          missing[j]++;
          rowMissing = true;
        }
      } else if (!Number.isFinite(v)) infiniteCells++;
    }
    if (rowMissing) rowsWithMissing++;
  }
  const dupWithLabel = duplicateOf(t, n, true), dupFeatures = duplicateOf(t, n, false);
  let duplicateRows = 0, conflictingDuplicates = 0;
  for (let r = 0; r < n; r++) {
    if (dupWithLabel[r] >= 0) duplicateRows++;
    else if (t.labels && dupFeatures[r] >= 0) conflictingDuplicates++;
  }

  // Validity and class balance.
  let invalidLabels = 0;
  let classBalance: ClassBalance | null = null;
  if (t.labels) {
    let k = classCount(t, opts.numClasses);
    if (k === null) k = t.labels.reduce((m, l) => Math.max(m, l + 1), 0);
    const counts = new Array<number>(k).fill(0);
    for (const l of t.labels) {
      if (l >= 0 && l < k) counts[l]++;
      else invalidLabels++;
    }
    if (k > 0) {
      const names = Array.from({ length: k }, (_, i) => t.classes?.[i] ?? String(i));
      const valid = counts.reduce((s, c) => s + c, 0);
      const hi = Math.max(...counts), lo = Math.min(...counts);
      classBalance = {
        classes: names,
        counts,
        fractions: counts.map((c) => (valid > 0 ? c / valid : 0)),
        imbalanceRatio: ratio(hi, lo),
        majority: names[counts.indexOf(hi)],
        minority: names[counts.indexOf(lo)],
      };
    }
  }
  const allRows = { [Symbol.iterator]: function* () { for (let r = 0; r < n; r++) yield r; } };
  const valueRanges = columns.map((c, j) => summarize(t, j, allRows, c));

  // Consistency of each column shared by two or more sources.
  const consistency: ConsistencyEntry[] = [];
  if (named.length > 1) {
    const rowsOf = named.map((_, i) => { const rs: number[] = []; source.forEach((s, r) => { if (s === i) rs.push(r); }); return rs; });
    columns.forEach((c, j) => {
      const having = named.map((s, i) => i).filter((i) => hasCol[i].has(c));
      if (having.length < 2) return;
      consistency.push(consistencyOf(c, having.map((i) => ({ ...summarize(t, j, rowsOf[i], c), source: named[i].name })), meanThr, spreadThr));
    });
  }

  const issues: string[] = [];
  columns.forEach((c, j) => { if (missing[j] > 0) issues.push(`column ${c}: ${missing[j]} missing value(s)`); });
  if (duplicateRows > 0) issues.push(`${duplicateRows} duplicate row(s)`);
  if (conflictingDuplicates > 0) issues.push(`${conflictingDuplicates} row(s) repeat earlier features with a different label`);
  if (infiniteCells > 0) issues.push(`${infiniteCells} infinite value(s)`);
  if (invalidLabels > 0) issues.push(`${invalidLabels} label(s) outside [0, ${classBalance?.counts.length ?? '?'})`);
  valueRanges.forEach((s) => { if (s.count > 1 && s.std === 0) issues.push(`column ${s.column}: constant (${fmtNum(s.min)})`); });
  if (classBalance && classBalance.imbalanceRatio > imbThr) {
    issues.push(`class imbalance: ${classBalance.majority} has ${fmtNum(classBalance.imbalanceRatio)}× as many rows as ${classBalance.minority}`);
  }
  sources.forEach((s) => { if (s.missingColumns.length > 0) issues.push(`source ${s.name}: lacks column(s) ${s.missingColumns.join(', ')}`); });
  consistency.forEach((e) => { if (e.flagged) issues.push(`column ${e.column} inconsistent across sources: ${e.reasons.join('; ')}`); });

  const missingCells = missing.reduce((s, m) => s + m, 0);
  const presentCells = (j: number) => sources.reduce((s, src, i) => s + (hasCol[i].has(columns[j]) ? src.rows : 0), 0);
  return {
    rows: n,
    columns,
    sources,
    missingPerColumn: columns.map((c, j) => ({ column: c, missing: missing[j], fraction: presentCells(j) > 0 ? missing[j] / presentCells(j) : 0 })),
    missingCells,
    rowsWithMissing,
    duplicateRows,
    conflictingDuplicates,
    infiniteCells,
    invalidLabels,
    valueRanges,
    classBalance,
    consistency,
    issues,
  };
}

function fmtNum(v: number): string {
  if (Number.isNaN(v)) return '-';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  return Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3 ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

/** Columns padded to their widest cell; the first column left-aligned, the rest right-aligned. */
function textTable(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  return [line(head), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}

/** The report as plain text tables (for the CLI and logs). */
export function formatQualityReport(r: QualityReport): string {
  const out: string[] = [];
  out.push(`Data quality: ${r.rows} rows × ${r.columns.length} columns` + (r.sources.length > 1 ? ` from ${r.sources.length} sources (${r.sources.map((s) => `${s.name}: ${s.rows}`).join(', ')})` : ''));
  out.push(`Missing cells: ${r.missingCells} (${r.rowsWithMissing} rows)   duplicate rows: ${r.duplicateRows}   conflicting duplicates: ${r.conflictingDuplicates}   infinite values: ${r.infiniteCells}   invalid labels: ${r.invalidLabels}`);
  out.push('');
  out.push(textTable(
    ['column', 'missing', 'missing %', 'min', 'max', 'mean', 'std'],
    r.columns.map((c, j) => {
      const m = r.missingPerColumn[j], s = r.valueRanges[j];
      return [c, String(m.missing), (100 * m.fraction).toFixed(1), fmtNum(s.min), fmtNum(s.max), fmtNum(s.mean), fmtNum(s.std)];
    }),
  ));
  if (r.classBalance) {
    const b = r.classBalance;
    out.push('');
    out.push(textTable(['class', 'count', 'share %'], b.classes.map((c, i) => [c, String(b.counts[i]), (100 * b.fractions[i]).toFixed(1)])));
    out.push(`imbalance ratio (largest/smallest): ${fmtNum(b.imbalanceRatio)}`);
  }
  if (r.consistency.length > 0) {
    out.push('');
    const rows: string[][] = [];
    for (const e of r.consistency) {
      for (const s of e.perSource) {
        rows.push([`${e.column}${e.flagged ? ' *' : ''}`, s.source, fmtNum(s.mean), fmtNum(s.std), fmtNum(s.min), fmtNum(s.max)]);
      }
    }
    out.push(textTable(['column (* = inconsistent)', 'source', 'mean', 'std', 'min', 'max'], rows));
  }
  out.push('');
  out.push(r.issues.length === 0 ? 'No issues found.' : `Issues (${r.issues.length}):\n${r.issues.map((s) => `  - ${s}`).join('\n')}`);
  return out.join('\n');
}
