import wabtInit from 'wabt';
import type { TreeWalker } from './growTree.ts';
import { ROW_KERNELS_TEXT } from './rowKernelsText.ts';

/**
 * The WebAssembly loops of a local boosted tree (rowKernelsText.ts), and the memory they work in. The
 * source is WebAssembly text, assembled by wabt once per process on first use (about 50 ms); a tree
 * thread is sent the compiled module with its round's input.
 */

/** A loaded sample's rows (rowKernelsText.ts "sample" layout): ids, their count, codes, (g, h, count). */
export type SampleArgs = [ids: number, m: number, codes: number, ghc: number, offset: number, p: number];
/** Where a split's rows go: the other buffer's places. */
type TargetArgs = [toIds: number, toCodes: number, toGhc: number];
/** A split on predictor f, and where its rows' sides are written. */
type SplitArgs = [f: number, missing: number, missingGoes: number, bin: number, words: number, side: number];

/** The kernels' exports; every pointer is a byte address in the heap (rowKernelsText.ts gives the layouts). */
export interface RowKernels {
  accumulate(
    hist: number,
    fo: number,
    codes: number,
    ghc: number,
    from: number,
    to: number,
    p: number,
    q: number,
  ): void;
  accumulateSample(hist: number, fo: number, ...sample: SampleArgs): void;
  decide(codes: number, q: number, from: number, to: number, ...split: SplitArgs): number;
  decideSample(...args: [...SampleArgs, ...SplitArgs]): number;
  move(
    ids: number,
    codes: number,
    ghc: number,
    ...args: [...TargetArgs, from: number, to: number, lows: number, side: number, w: number]
  ): void;
  moveSample(...args: [...SampleArgs, ...TargetArgs, lows: number, side: number, q: number]): void;
  leaves(
    ids: number,
    m: number,
    codes: number,
    offset: number,
    p: number,
    tree: number,
    size: number,
    wordsBase: number,
    missingCodes: number,
    out: number,
  ): void;
}

const EXPORTS = [
  'accumulate',
  'accumulateSample',
  'decide',
  'decideSample',
  'move',
  'moveSample',
  'leaves',
] as const;

let compiled: Promise<WebAssembly.Module> | null = null;

/** The compiled kernels (assembled on the first call in this thread or process). */
export function rowKernelModule(): Promise<WebAssembly.Module> {
  compiled ??= assemble();
  return compiled;
}

async function assemble(): Promise<WebAssembly.Module> {
  const wabt = await wabtInit();
  const parsed = wabt.parseWat('rowKernelsText.ts', ROW_KERNELS_TEXT, { threads: true });
  try {
    // Validated by WebAssembly.Module: wabt's own validate() rejects shared memory whatever the features.
    // A copy into a plain ArrayBuffer: wabt's bytes are a view of its own (emscripten) memory.
    return new WebAssembly.Module(new Uint8Array(parsed.toBinary({}).buffer));
  } finally {
    parsed.destroy();
  }
}

const PAGE = 65536;
/** wasm32's limit: 65536 pages. */
const MAX_PAGES = 65536;

/**
 * One instance of the kernels with its own memory, and a bump allocator over it: what a boosting part
 * allocates lives as long as the part. The memory is shared, so growing it leaves the typed arrays
 * already handed out valid (growing an unshared memory detaches them), and a histogram in it can be
 * read by the main thread in place.
 */
export class KernelHeap {
  readonly kernels: RowKernels;
  private readonly memory: WebAssembly.Memory;
  /** Byte 0 is left unused, so no array starts at address 0. */
  private top = 8;

  constructor(module: WebAssembly.Module, bytes: number) {
    const initial = Math.min(MAX_PAGES, Math.max(1, Math.ceil((bytes + this.top) / PAGE)));
    this.memory = new WebAssembly.Memory({ initial, maximum: MAX_PAGES, shared: true });
    const exports = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports;
    for (const name of EXPORTS) {
      if (typeof exports[name] !== 'function') throw new Error(`rowKernelsText.ts does not export ${name}`);
    }
    this.kernels = exports as unknown as RowKernels;
  }

  f64(length: number): Float64Array {
    return this.view(Float64Array, length);
  }

  i32(length: number): Int32Array {
    return this.view(Int32Array, length);
  }

  u32(length: number): Uint32Array {
    return this.view(Uint32Array, length);
  }

  u16(length: number): Uint16Array {
    return this.view(Uint16Array, length);
  }

  u8(length: number): Uint8Array {
    return this.view(Uint8Array, length);
  }

  /** `length` elements of a fresh block (the memory's buffer is read after the block is allocated). */
  private view<T>(
    Type: { new (buffer: ArrayBufferLike, at: number, length: number): T; BYTES_PER_ELEMENT: number },
    length: number,
  ): T {
    const at = this.alloc(Type.BYTES_PER_ELEMENT * length);
    return new Type(this.memory.buffer, at, length);
  }

  /** `bytes` at an 8-byte boundary, growing the memory when they do not fit. */
  private alloc(bytes: number): number {
    const at = this.top;
    const end = at + Math.ceil(bytes / 8) * 8;
    const pages = Math.ceil(end / PAGE);
    if (pages > MAX_PAGES)
      throw new Error(
        `a local boosting part needs more than 4 GB of working memory; lower TREE_LOCAL_MB so the fit runs in level passes`,
      );
    const have = this.memory.buffer.byteLength / PAGE;
    if (pages > have)
      this.memory.grow(Math.max(pages - have, Math.min(MAX_PAGES - have, Math.ceil(have / 4))));
    this.top = end;
    return at;
  }
}

/** Finished trees where the leaves kernel reads them (rowKernelsText.ts leaves), one after another. */
export class KernelTree {
  private nodes: Int32Array;
  private words: Uint32Array;

  constructor(private readonly heap: KernelHeap) {
    this.nodes = heap.i32(0);
    this.words = heap.u32(0);
  }

  /**
   * The leaf of each of `rows` (ids) in `walker`, into `leaves`; the rows' codes are row-major in
   * `codes` (row i's at (i - offset) p), `missingCodes[f]` is predictor f's missing code. Every array
   * is in this heap.
   */
  leaves(
    walker: TreeWalker,
    rows: Int32Array,
    codes: Uint16Array,
    offset: number,
    p: number,
    missingCodes: Int32Array,
    leaves: Int32Array,
  ): void {
    const { size } = walker;
    if (this.nodes.length < 6 * size) this.nodes = this.heap.i32(6 * size);
    if (this.words.length < walker.words.length) this.words = this.heap.u32(walker.words.length);
    // The kernel's order of the node arrays.
    [walker.feature, walker.bin, walker.missingLo, walker.lo, walker.hi, walker.setStart].forEach(
      (array, k) => {
        this.nodes.set(array, k * size);
      },
    );
    this.words.set(walker.words);
    this.heap.kernels.leaves(
      rows.byteOffset,
      rows.length,
      codes.byteOffset,
      offset,
      p,
      this.nodes.byteOffset,
      size,
      this.words.byteOffset,
      missingCodes.byteOffset,
      leaves.byteOffset,
    );
  }
}
