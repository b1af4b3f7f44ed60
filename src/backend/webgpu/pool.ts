// GPUBuffers reused by size class. Creating a buffer costs a driver allocation (and zeroing), and a
// training step makes hundreds of same-sized temporaries, so released buffers wait in a free list
// for the next request of their class. Reuse is safe without waiting for the GPU: every use of a
// buffer goes through the one queue, whose commands run in submission order, so a later kernel
// that receives a recycled buffer writes it only after earlier readers of it ran.

import type { GPUBufferLike, GPUDeviceLike } from './gpu-types.js';

/**
 * The size class of a request: powers of two up to 1 MiB, then steps of an eighth of the power of
 * two (so at most 12.5% of a large buffer is slack); never below 256 bytes.
 */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const p = 2 ** Math.ceil(Math.log2(bytes));
  if (p <= 1 << 20) return p;
  const step = p / 16;
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBufferLike[]>();
  private idleBytes = 0;
  /** Buffers created, and requests served from the free lists (for tests and `stats()`). */
  created = 0;
  reused = 0;

  constructor(
    private readonly device: GPUDeviceLike,
    readonly usage: number,
    /** Above this many idle bytes, released buffers are destroyed instead of kept. */
    private readonly maxIdleBytes: number,
    private readonly label: string,
    /** The largest buffer worth making (the device's storage binding limit): classes stop there. */
    private readonly maxSize = Infinity,
  ) {}

  acquire(bytes: number): GPUBufferLike {
    const size = Math.max(Math.min(sizeClass(bytes), this.maxSize), bytes);
    const list = this.free.get(size);
    const b = list?.pop();
    if (b) {
      this.idleBytes -= size;
      this.reused++;
      return b;
    }
    this.created++;
    return this.device.createBuffer({ size, usage: this.usage, label: `${this.label}-${size}` });
  }

  release(b: GPUBufferLike): void {
    if (this.idleBytes + b.size > this.maxIdleBytes) {
      b.destroy();
      return;
    }
    let list = this.free.get(b.size);
    if (!list) this.free.set(b.size, (list = []));
    list.push(b);
    this.idleBytes += b.size;
  }

  /** Destroys every idle buffer (memory pressure, or before the device goes away). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.idleBytes = 0;
  }

  stats(): { created: number; reused: number; idleBytes: number } {
    return { created: this.created, reused: this.reused, idleBytes: this.idleBytes };
  }
}
