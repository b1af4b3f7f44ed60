// JSON request bodies read straight from their bytes. An inference request is mostly one long
// array of numbers; JSON.parse would first build the decoded text, then a growing array of
// doubles, garbage that sets how often the young-generation collector pauses the server. Here a
// `"data"` array of numbers becomes the Float32Array the model reads, with nothing in between. Anything this reader does not handle itself (escapes,
// non-ASCII text, a `__proto__` key, malformed input) is handed to JSON.parse, so values and
// error messages are JSON.parse's.

const F32_MAX = 3.4028234663852886e38;
/** 10^0 … 10^22: the powers of ten a double holds exactly. */
const POW10 = Float64Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

/** Thrown inside the reader to hand the whole body to JSON.parse. */
const DEFER = Symbol('defer');

/** Whether `bytes` (JSON text; strings in it are skipped) nests arrays/objects deeper than `limit`. */
export function nestsDeeperThan(bytes: Uint8Array, limit: number): boolean {
  let depth = 0;
  for (let i = 0, n = bytes.length; i < n; i++) {
    const c = bytes[i]!;
    if (c === 0x22) {
      // skip a string, honouring backslash escapes (UTF-8 bytes of other characters are ≥ 0x80)
      for (i++; i < n; i++) {
        const d = bytes[i]!;
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * `JSON.parse(bytes.toString('utf8'))`, except that the value of a `"data"` member that is a
 * non-empty array of numbers all within float32 range comes back as a Float32Array of those
 * numbers (rounded to float32, as the model would read them). Throws JSON.parse's SyntaxError on
 * malformed input.
 */
export function parseJsonBody(bytes: Buffer): unknown {
  try {
    return new Reader(bytes).document();
  } catch (e) {
    if (e !== DEFER) throw e;
    return JSON.parse(bytes.toString('utf8'));
  }
}

/** Deeper than this the reader defers to JSON.parse rather than recurse further. */
const MAX_DEPTH = 256;

/** Numbers of a `"data"` array as read, reused across requests (one request is read at a time). */
let scratch = new Float64Array(1024);
/** Where a number outside a `"data"` array is read to. */
const one = new Float64Array(1);

class Reader {
  private i = 0;
  private depth = 0;
  constructor(private readonly b: Buffer) {}

  document(): unknown {
    const v = this.value(false);
    this.space();
    if (this.i !== this.b.length) throw DEFER;
    return v;
  }

  private space(): void {
    const b = this.b;
    let i = this.i;
    for (let c = b[i]; c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = b[++i]);
    this.i = i;
  }

  private value(isData: boolean): unknown {
    this.space();
    const c = this.b[this.i];
    if (c === 0x7b || c === 0x5b) {
      if (++this.depth > MAX_DEPTH) throw DEFER;
      const v = c === 0x7b ? this.object() : isData ? this.dataArray() : this.array(null);
      this.depth--;
      return v;
    }
    if (c === 0x22) return this.string();
    if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) {
      this.number(one, 0);
      return one[0];
    }
    if (this.word('true')) return true;
    if (this.word('false')) return false;
    if (this.word('null')) return null;
    throw DEFER;
  }

  private word(w: string): boolean {
    for (let k = 0; k < w.length; k++) if (this.b[this.i + k] !== w.charCodeAt(k)) return false;
    this.i += w.length;
    return true;
  }

  private object(): Record<string, unknown> {
    const b = this.b;
    const o: Record<string, unknown> = {};
    this.i++;
    this.space();
    if (b[this.i] === 0x7d) {
      this.i++;
      return o;
    }
    for (;;) {
      this.space();
      if (b[this.i] !== 0x22) throw DEFER;
      const key = this.string();
      // JSON.parse makes "__proto__" an own property; assigning it would set the prototype
      if (key === '__proto__') throw DEFER;
      this.space();
      if (b[this.i++] !== 0x3a) throw DEFER;
      o[key] = this.value(key === 'data');
      this.space();
      const c = b[this.i++];
      if (c === 0x7d) return o;
      if (c !== 0x2c) throw DEFER;
    }
  }

  /** An array from its `[`; or, given the elements already read (`head`), the rest of it. */
  private array(head: unknown[] | null): unknown[] {
    const b = this.b;
    const a: unknown[] = head ?? [];
    if (head === null) {
      this.i++;
      this.space();
      if (b[this.i] === 0x5d) {
        this.i++;
        return a;
      }
    }
    for (;;) {
      a.push(this.value(false));
      this.space();
      const c = b[this.i++];
      if (c === 0x5d) return a;
      if (c !== 0x2c) throw DEFER;
    }
  }

  /** A `"data"` array: numbers go to `scratch` until something else turns up. */
  private dataArray(): unknown {
    const b = this.b;
    this.i++;
    this.space();
    if (b[this.i] === 0x5d) {
      this.i++;
      return [];
    }
    let n = 0;
    let inRange = true;
    for (;;) {
      this.space();
      const c = b[this.i];
      if (!(c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39))) {
        // not all numbers: the rest is an ordinary array
        return this.array(Array.from(scratch.subarray(0, n)));
      }
      if (n === scratch.length) {
        const grown = new Float64Array(n * 2);
        grown.set(scratch);
        scratch = grown;
      }
      this.number(scratch, n);
      const v = scratch[n++]!;
      if (!(v <= F32_MAX && v >= -F32_MAX)) inRange = false;
      this.space();
      const d = b[this.i++];
      if (d === 0x5d) break;
      if (d !== 0x2c) throw DEFER;
    }
    // out of range: the original doubles, so that the request check can say which and why
    return inRange ? new Float32Array(scratch.subarray(0, n)) : Array.from(scratch.subarray(0, n));
  }

  private string(): string {
    const b = this.b;
    const start = ++this.i;
    let plain = true;
    let i = start;
    for (;; i++) {
      const c = b[i];
      if (c === undefined) throw DEFER;
      if (c === 0x22) break;
      if (c === 0x5c) {
        plain = false;
        i++;
      } else if (c < 0x20 || c >= 0x80) plain = false;
    }
    this.i = i + 1;
    if (plain) return b.toString('latin1', start, i);
    // escapes, non-ASCII or control characters: JSON.parse decides (and throws if invalid)
    try {
      return JSON.parse(b.toString('utf8', start - 1, i + 1)) as string;
    } catch {
      throw DEFER;
    }
  }

  /**
   * One JSON number. With at most 15 significant digits and a decimal exponent within ±22, the
   * value is one correctly rounded product or quotient of exact doubles (Clinger's fast path),
   * which is what JSON.parse gives; any other number is converted by Number(). Written to
   * `into[at]` rather than returned: a double returned from a call is boxed, 16 bytes each.
   */
  private number(into: Float64Array, at: number): void {
    const b = this.b;
    const start = this.i;
    let i = start;
    const neg = b[i] === 0x2d;
    if (neg) i++;
    let m = 0;
    let digits = 0;
    let scale = 0;
    let c = b[i];
    if (c === 0x30) c = b[++i];
    else if (c !== undefined && c >= 0x31 && c <= 0x39) {
      for (; c !== undefined && c >= 0x30 && c <= 0x39; c = b[++i]) {
        if (digits > 0 || c !== 0x30) digits++;
        m = m * 10 + (c - 0x30);
      }
    } else throw DEFER;
    if (c === 0x2e) {
      c = b[++i];
      if (!(c !== undefined && c >= 0x30 && c <= 0x39)) throw DEFER;
      for (; c !== undefined && c >= 0x30 && c <= 0x39; c = b[++i]) {
        if (digits > 0 || c !== 0x30) digits++;
        m = m * 10 + (c - 0x30);
        scale--;
      }
    }
    let exp = 0;
    if (c === 0x65 || c === 0x45) {
      c = b[++i];
      let eneg = false;
      if (c === 0x2b || c === 0x2d) {
        eneg = c === 0x2d;
        c = b[++i];
      }
      if (!(c !== undefined && c >= 0x30 && c <= 0x39)) throw DEFER;
      for (; c !== undefined && c >= 0x30 && c <= 0x39; c = b[++i]) if (exp < 1e6) exp = exp * 10 + (c - 0x30);
      if (eneg) exp = -exp;
    }
    this.i = i;
    const e10 = scale + exp;
    let v: number;
    if (m === 0) v = 0;
    else if (digits <= 15 && e10 >= -22 && e10 <= 22) v = e10 >= 0 ? m * POW10[e10]! : m / POW10[-e10]!;
    else {
      into[at] = Number(b.toString('latin1', start, i)); // sign included
      return;
    }
    into[at] = neg ? -v : v;
  }
}
