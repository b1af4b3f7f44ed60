// CSV reader (RFC 4180 plus the usual real-world variations: CRLF or LF or CR line ends, a
// UTF-8 BOM, a trailing newline, blank lines) and a converter to numeric features + class labels.

import { readFileSync } from 'node:fs';
import { NablaError } from '../../errors.js';

/** Malformed CSV text, or a table that cannot be converted as asked. */
export class CsvError extends NablaError {
  constructor(message: string) {
    super('E_CSV', message);
  }
}

export interface CsvTable {
  columns: string[];
  rows: string[][];
  /** 1-based line on which each row starts, for error messages. */
  lines: number[];
  /** The file path, or '<text>'. */
  source: string;
}

export interface ReadCsvOptions {
  /** First record holds column names (default true). Without one, columns are named "0", "1", ... */
  header?: boolean;
  /** One character, default ",". */
  delimiter?: string;
}

/**
 * Parse CSV from a file path or from literal text. A string containing a line break is taken as
 * text, any other string as a path; pass `{ text }` to force text (e.g. a one-line CSV).
 */
export function readCsv(source: string | { text: string; name?: string }, opts: ReadCsvOptions = {}): CsvTable {
  let text: string;
  let name: string;
  if (typeof source === 'object') {
    text = source.text;
    name = source.name ?? '<text>';
  } else if (/[\r\n]/.test(source)) {
    text = source;
    name = '<text>';
  } else {
    name = source;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(source));
    } catch (e) {
      throw new CsvError(`cannot read CSV file ${name}: ${(e as Error).message} (pass { text } to parse literal CSV text)`);
    }
  }
  const delimiter = opts.delimiter ?? ',';
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new CsvError(`CSV delimiter ${JSON.stringify(delimiter)} is invalid; expected one character other than a quote or line break`);
  }
  const { records, lines } = parseRecords(text, delimiter, name);
  const header = opts.header ?? true;
  let columns: string[];
  if (header) {
    if (records.length === 0) throw new CsvError(`CSV ${name} is empty; expected a header row`);
    columns = records.shift()!;
    lines.shift();
  } else {
    const width = records[0]?.length ?? 0;
    columns = Array.from({ length: width }, (_, i) => String(i));
  }
  for (let r = 0; r < records.length; r++) {
    if (records[r]!.length !== columns.length) {
      throw new CsvError(
        `CSV ${name} line ${lines[r]}: row has ${records[r]!.length} fields; expected ${columns.length} (${header ? 'from the header' : 'from the first row'})`,
      );
    }
  }
  return { columns, rows: records, lines, source: name };
}

function parseRecords(text: string, delim: string, name: string): { records: string[][]; lines: number[] } {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records: string[][] = [];
  const lines: number[] = [];
  const d = delim.charCodeAt(0);
  const n = text.length;
  let i = 0;
  let line = 1;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    let endOfRecord = false;
    let anyQuoted = false;
    while (!endOfRecord) {
      let field = '';
      if (text.charCodeAt(i) === 34 /* " */) {
        anyQuoted = true;
        const quoteLine = line;
        i++;
        for (;;) {
          if (i >= n) throw new CsvError(`CSV ${name} line ${quoteLine}: quoted field is never closed; expected a closing "`);
          const j = text.indexOf('"', i);
          if (j < 0) throw new CsvError(`CSV ${name} line ${quoteLine}: quoted field is never closed; expected a closing "`);
          const chunk = text.slice(i, j);
          line += countLineBreaks(chunk);
          field += chunk;
          if (text.charCodeAt(j + 1) === 34) {
            field += '"'; // "" inside quotes is one literal quote
            i = j + 2;
          } else {
            i = j + 1;
            break;
          }
        }
        const c = text.charCodeAt(i);
        if (i < n && c !== d && c !== 10 && c !== 13) {
          throw new CsvError(`CSV ${name} line ${line}: unexpected ${JSON.stringify(text[i])} after a closing quote; expected the delimiter or end of line`);
        }
      } else {
        // Unquoted: runs to the delimiter or line end; a stray quote inside is kept literally.
        let j = i;
        while (j < n) {
          const c = text.charCodeAt(j);
          if (c === d || c === 10 || c === 13) break;
          j++;
        }
        field = text.slice(i, j);
        i = j;
      }
      fields.push(field);
      const c = text.charCodeAt(i);
      if (i >= n) {
        endOfRecord = true;
      } else if (c === d) {
        i++; // at end of input the loop runs once more and adds the trailing empty field
      } else {
        i += c === 13 && text.charCodeAt(i + 1) === 10 ? 2 : 1;
        line++;
        endOfRecord = true;
      }
    }
    // A blank line is a single empty unquoted field: skip it rather than make a 1-field row.
    if (fields.length === 1 && fields[0] === '' && !anyQuoted) continue;
    records.push(fields);
    lines.push(startLine);
  }
  return { records, lines };
}

function countLineBreaks(s: string): number {
  let c = 0;
  for (let k = 0; k < s.length; k++) {
    const ch = s.charCodeAt(k);
    if (ch === 10) c++;
    else if (ch === 13 && s.charCodeAt(k + 1) !== 10) c++;
  }
  return c;
}

export interface CsvToNumericOptions {
  /** Column holding the class label: a header name or a 0-based index; null for a table without labels. */
  labelColumn: string | number | null;
  /** Cell values read as missing (NaN). Default: '', 'NA', 'N/A', 'NaN', 'nan', 'null', '?'. */
  missingValues?: string[];
  /**
   * A fixed class list (e.g. the one from the training file) so that a second file maps labels
   * the same way; a label not in it is an error.
   */
  classes?: string[];
}

export interface NumericTable {
  /** Row-major rows × numFeatures. Missing cells are NaN. */
  features: Float32Array;
  numFeatures: number;
  featureNames: string[];
  /** One class index per row (empty when labelColumn is null). */
  labels: Int32Array;
  /** Empty when labelColumn is null. */
  classes: string[];
  /** The label column's name, or null. */
  labelColumn: string | null;
  /** Number of missing (NaN) feature cells. */
  missing: number;
}

const DEFAULT_MISSING = ['', 'NA', 'N/A', 'NaN', 'nan', 'null', '?'];
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Split a table into numeric features and integer class labels.
 *
 * Label mapping: labels that are non-negative integers keep their values (classes "0".."max") as
 * long as they are dense enough (max+1 ≤ 2 × distinct values), so a file with labels 0..K-1 keeps
 * them even when a class is absent from it; otherwise distinct labels are sorted (numerically if
 * all numeric, else by code point) and numbered 0..K-1.
 */
export function csvToNumeric(table: CsvTable, opts: CsvToNumericOptions): NumericTable {
  const { columns, rows, lines, source } = table;
  const labelIdx = opts.labelColumn === null ? -1 : resolveColumn(columns, opts.labelColumn, source);
  const missingSet = new Set(opts.missingValues ?? DEFAULT_MISSING);
  const featureCols = columns.map((_, i) => i).filter((i) => i !== labelIdx);
  const nf = featureCols.length;
  const features = new Float32Array(rows.length * nf);
  let missing = 0;
  const rawLabels: string[] = new Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    for (let k = 0; k < nf; k++) {
      const c = featureCols[k]!;
      const cell = row[c]!.trim();
      let v: number;
      if (missingSet.has(cell)) {
        v = NaN;
        missing++;
      } else if (NUMBER.test(cell)) {
        v = Number(cell);
      } else {
        throw new CsvError(
          `CSV ${source} row ${r + 1} (line ${lines[r] ?? '?'}), column ${JSON.stringify(columns[c])}: ${JSON.stringify(row[c])} is not a number; expected a decimal number or an empty cell for a missing value`,
        );
      }
      features[r * nf + k] = v;
    }
    if (labelIdx < 0) continue;
    const label = row[labelIdx]!.trim();
    if (missingSet.has(label)) {
      throw new CsvError(`CSV ${source} row ${r + 1} (line ${lines[r] ?? '?'}): label column ${JSON.stringify(columns[labelIdx])} is missing; every row needs a label`);
    }
    rawLabels[r] = label;
  }
  if (labelIdx < 0) return { features, numFeatures: nf, featureNames: featureCols.map((c) => columns[c]!), labels: new Int32Array(0), classes: [], labelColumn: null, missing };
  const { classes, index } = opts.classes ? fixedClasses(opts.classes) : inferClasses(rawLabels);
  const labels = new Int32Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const id = index.get(canonicalLabel(rawLabels[r]!));
    if (id === undefined) {
      throw new CsvError(`CSV ${source} row ${r + 1} (line ${lines[r] ?? '?'}): label ${JSON.stringify(rawLabels[r])} is not one of the given classes [${classes.join(', ')}]`);
    }
    labels[r] = id;
  }
  return { features, numFeatures: nf, featureNames: featureCols.map((c) => columns[c]!), labels, classes, labelColumn: columns[labelIdx]!, missing };
}

/** Shortest decimal that reads back as the same float32 (0.1, not 0.10000000149011612). */
export function formatFloat32(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? '' : v > 0 ? 'Infinity' : '-Infinity';
  for (let p = 1; p < 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return String(s);
  }
  return String(v);
}

/** A field quoted when it holds the delimiter, a quote or a line break (RFC 4180). */
export function csvField(s: string, delimiter = ','): string {
  return s.includes(delimiter) || /["\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function resolveColumn(columns: string[], col: string | number, source: string): number {
  if (typeof col === 'number') {
    if (!Number.isInteger(col) || col < -columns.length || col >= columns.length) {
      throw new CsvError(`CSV ${source}: label column index ${col} is out of range; expected an integer in [${-columns.length}, ${columns.length})`);
    }
    return col < 0 ? columns.length + col : col;
  }
  const hits = columns.reduce<number[]>((acc, c, i) => (c === col ? [...acc, i] : acc), []);
  if (hits.length === 0) throw new CsvError(`CSV ${source}: no column named ${JSON.stringify(col)}; columns are [${columns.join(', ')}]`);
  if (hits.length > 1) throw new CsvError(`CSV ${source}: column name ${JSON.stringify(col)} appears ${hits.length} times; pass its index instead`);
  return hits[0]!;
}

// Numeric labels are compared by value so "1" and "1.0" are the same class.
function canonicalLabel(s: string): string {
  return NUMBER.test(s) ? String(Number(s)) : s;
}

function fixedClasses(classes: string[]): { classes: string[]; index: Map<string, number> } {
  const index = new Map<string, number>();
  classes.forEach((c, i) => index.set(canonicalLabel(c), i));
  return { classes: [...classes], index };
}

function inferClasses(raw: string[]): { classes: string[]; index: Map<string, number> } {
  const distinct = [...new Set(raw.map(canonicalLabel))];
  const allNumeric = distinct.every((s) => NUMBER.test(s));
  if (allNumeric) {
    const values = distinct.map(Number);
    const allNatural = values.every((v) => Number.isInteger(v) && v >= 0);
    const max = Math.max(-1, ...values);
    if (allNatural && max + 1 <= 2 * distinct.length) {
      const classes = Array.from({ length: max + 1 }, (_, i) => String(i));
      return { classes, index: new Map(classes.map((c, i) => [c, i])) };
    }
    values.sort((a, b) => a - b);
    const classes = values.map(String);
    return { classes, index: new Map(classes.map((c, i) => [c, i])) };
  }
  const classes = distinct.sort();
  return { classes, index: new Map(classes.map((c, i) => [c, i])) };
}
