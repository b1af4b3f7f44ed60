// `nabla data report` and `nabla data clean`: the data quality report and cleaning steps of
// src/data/quality.ts on CSV files, from the command line.

import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { csvToNumeric, readCsv, csvField, formatFloat32 } from '../data/readers/csv.js';
import {
  dropDuplicates, dropInvalid, fillMissing, formatQualityReport, mergeSources, numRows, qualityReport,
  type NamedTable, type Table,
} from '../data/quality.js';
import { writeFileAtomic } from '../io/atomic.js';
import { UsageError } from './errors.js';

interface Source {
  name: string;
  table: Table;
  /** The label column's name, or null for a table without one. */
  labelColumn: string | null;
}

/** CSV paths from the arguments: files as given, directories expanded to their *.csv files. */
function csvPaths(sources: string[]): string[] {
  const out: string[] = [];
  for (const s of sources) {
    let st;
    try {
      st = statSync(s);
    } catch {
      throw new UsageError(`${s}: no such file or directory (expected a CSV file or a directory of CSV files)`);
    }
    if (st.isDirectory()) {
      const files = readdirSync(s).filter((f) => extname(f).toLowerCase() === '.csv').sort();
      if (files.length === 0) throw new UsageError(`${s}: the directory holds no .csv file`);
      out.push(...files.map((f) => join(s, f)));
    } else {
      out.push(s);
    }
  }
  return out;
}

/** A CSV file as a quality Table; the label column is `label` unless named, and optional when not named. */
function readSource(path: string, labelColumn: string | undefined): Source {
  const raw = readCsv(path);
  const label = labelColumn ?? (raw.columns.includes('label') ? 'label' : null);
  const t = csvToNumeric(raw, { labelColumn: label });
  const table: Table = { features: t.features, numFeatures: t.numFeatures, featureNames: t.featureNames };
  if (label !== null) {
    table.labels = t.labels;
    table.classes = t.classes;
  }
  return { name: basename(path), table, labelColumn: t.labelColumn };
}

function readSources(sources: string[], labelColumn: string | undefined): Source[] {
  const out = csvPaths(sources).map((p) => readSource(p, labelColumn));
  const labelled = out.filter((s) => s.labelColumn !== null).length;
  if (labelled !== 0 && labelled !== out.length) {
    throw new UsageError(`some sources have the label column and others do not (${out.map((s) => `${s.name}: ${s.labelColumn ?? 'none'}`).join(', ')}); pass --label-column or give sources of one kind`);
  }
  return out;
}

/** JSON with ±Infinity and NaN as strings (JSON itself has no such numbers). */
function toJson(x: unknown): string {
  return JSON.stringify(x, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

export function runDataReport(sources: string[], opts: { labelColumn?: string; json?: boolean }): void {
  const read = readSources(sources, opts.labelColumn);
  const named: NamedTable[] = read.map((s) => ({ name: s.name, table: s.table }));
  const report = qualityReport(named.length === 1 ? named[0]!.table : named);
  if (opts.json) {
    process.stdout.write(toJson({ files: read.map((s) => s.name), ...report }) + '\n');
    return;
  }
  process.stdout.write(`${read.map((s) => s.name).join(', ')}\n${formatQualityReport(report)}\n`);
}

export interface CleanOptions {
  out: string;
  labelColumn?: string;
  fill?: 'mean' | 'median' | 'constant' | 'drop';
  fillValue?: number;
  keepDuplicates?: boolean;
  join: 'outer' | 'inner';
  json?: boolean;
}

/** The table as CSV text: the feature columns, then the label column with class names. */
function tableToCsv(t: Table, labelColumn: string | null): string {
  const names = t.featureNames!;
  const head = [...names, ...(labelColumn !== null ? [labelColumn] : [])].map((c) => csvField(c));
  const lines = [head.join(',')];
  const d = t.numFeatures;
  const n = numRows(t);
  for (let r = 0; r < n; r++) {
    const row: string[] = [];
    for (let j = 0; j < d; j++) row.push(formatFloat32(t.features[r * d + j]!));
    if (labelColumn !== null) row.push(csvField(t.classes?.[t.labels![r]!] ?? String(t.labels![r])));
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}

export function runDataClean(sources: string[], opts: CleanOptions): void {
  if (opts.fill === 'constant' && opts.fillValue === undefined) throw new UsageError('--fill constant needs --fill-value X');
  if (opts.fillValue !== undefined && opts.fill !== 'constant') throw new UsageError('--fill-value is the constant of --fill constant; pass --fill constant with it');
  const read = readSources(sources, opts.labelColumn);
  const rowsIn = read.reduce((s, x) => s + numRows(x.table), 0);
  let t = read[0]!.table;
  const columnsDropped: string[] = [];
  for (const s of read.slice(1)) {
    const m = mergeSources(t, s.table, { join: opts.join });
    if (opts.join === 'inner') columnsDropped.push(...m.onlyInFirst, ...m.onlyInSecond);
    t = m.table;
  }
  const summary: Record<string, unknown> = { sources: read.map((s) => s.name), rowsIn, columnsDropped };
  if (opts.fill !== undefined && opts.fill !== 'drop') {
    const f = fillMissing(t, { strategy: opts.fill, value: opts.fillValue });
    t = f.table;
    summary.filled = Object.fromEntries(t.featureNames!.map((c, j) => [c, f.filled[j]]).filter(([, n]) => (n as number) > 0));
  }
  const inv = dropInvalid(t);
  t = inv.table;
  summary.droppedNonFinite = inv.nonFiniteRows;
  summary.droppedInvalidLabels = inv.invalidLabelRows;
  if (!opts.keepDuplicates) {
    const dup = dropDuplicates(t);
    t = dup.table;
    summary.droppedDuplicates = dup.removed;
  }
  summary.rowsOut = numRows(t);
  summary.columns = t.featureNames!.length + (read[0]!.labelColumn !== null ? 1 : 0);
  summary.out = opts.out;
  if (numRows(t) === 0) throw new UsageError(`data clean: no row is left (${rowsIn} read, all dropped); try --fill mean, or --join inner for sources with different columns`);
  writeFileAtomic(opts.out, tableToCsv(t, read[0]!.labelColumn));
  if (opts.json) {
    process.stdout.write(toJson(summary) + '\n');
    return;
  }
  const filled = summary.filled ? Object.values(summary.filled as Record<string, number>).reduce((a, b) => a + b, 0) : 0;
  process.stdout.write(
    `read ${rowsIn} rows from ${read.length === 1 ? read[0]!.name : `${read.length} sources`}` +
    (columnsDropped.length ? `; kept the shared columns (dropped ${columnsDropped.join(', ')})` : '') +
    (summary.filled ? `; filled ${filled} missing value(s) with the column ${opts.fill === 'constant' ? `constant ${opts.fillValue}` : opts.fill}` : '') +
    `; dropped ${inv.nonFiniteRows} row(s) with missing or infinite values, ${inv.invalidLabelRows} with an invalid label` +
    (opts.keepDuplicates ? '' : `, ${summary.droppedDuplicates as number} duplicate(s)`) +
    `; wrote ${summary.rowsOut as number} rows × ${summary.columns as number} columns to ${opts.out}\n`,
  );
}
