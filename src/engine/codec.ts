/**
 * Encoding of partial results, so they cross process boundaries (BullMQ return values, Redis)
 * bit-exactly: a partial decoded on the coordinator must merge to the same bits it would have merged to
 * in the worker that made it, or results would depend on the number of workers.
 *
 * The text is `BINARY_MARK` followed by the base64 of a compact binary form (below). It replaced tagged
 * JSON because decoding was the coordinator's largest fixed cost per job: a summary of 10 variables in
 * 50 chunks took ~8 ms to revive ~4500 one-element typed arrays from base64 JSON objects, against
 * well under 1 ms for this form (measured, bench/jobs.ts). Text in the older JSON form (a partial
 * written by a worker of the previous version during an upgrade) still decodes.
 *
 * Binary form: one tagged value, little-endian. Tags:
 * - null, undefined, false, true: the tag alone;
 * - number: a float64 (NaN, +-Infinity and -0 exactly);
 * - string: its UTF-8 length (u32) and bytes, after which later occurrences are written as a reference
 *   (u32 index into the strings seen so far): the same few keys repeat in every term of a partial;
 * - array: count (u32) and the items; plain object: count and (key string, value) pairs; Map: count and
 *   (key value, value) pairs;
 * - typed arrays: a class tag, the byte length (u32) and the raw bytes, so every bit survives, NaN
 *   payloads included. Bytes are in the platform's order; every platform Node runs rxserve on
 *   (x86-64, arm64) is little-endian.
 */

type TypedArray =
  | Float64Array
  | Float32Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray;

interface TypedArrayClass {
  readonly BYTES_PER_ELEMENT: number;
  new (length: number): TypedArray;
}

/** The same classes, constructed as views. */
interface TypedArrayViewClass {
  new (buffer: ArrayBuffer, byteOffset: number, length: number): TypedArray;
}

const encoder = new TextEncoder();

/** Starts every binary-form text; JSON text never starts with `~`. */
const BINARY_MARK = '~rx2:';

const Tag = {
  null: 0,
  undefined: 1,
  false: 2,
  true: 3,
  number: 4,
  string: 5,
  stringRef: 6,
  array: 7,
  object: 8,
  map: 9,
  /** Typed arrays: TYPED_BASE + the class's index in TYPED_ARRAYS. */
  typedBase: 16,
} as const;

const TYPED_ARRAYS: ReadonlyArray<readonly [string, TypedArrayClass]> = [
  ['f64', Float64Array],
  ['f32', Float32Array],
  ['i32', Int32Array],
  ['u32', Uint32Array],
  ['i16', Int16Array],
  ['u16', Uint16Array],
  ['i8', Int8Array],
  ['u8', Uint8Array],
  ['u8c', Uint8ClampedArray],
];
const CLASS_BY_TAG = new Map<string, TypedArrayClass>(TYPED_ARRAYS);

/** Index in TYPED_ARRAYS, by exact class (not instanceof): a Node Buffer encodes as a Uint8Array. */
function typedArrayIndex(value: ArrayBufferView): number {
  for (let i = 0; i < TYPED_ARRAYS.length; i++) if (value.constructor === TYPED_ARRAYS[i]![1]) return i;
  if (value instanceof Uint8Array) return TYPED_ARRAYS.findIndex(([tag]) => tag === 'u8');
  return -1;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// ---------------------------------------------------------------------------------------------------
// binary writer

class Writer {
  // A fresh ArrayBuffer (offset 0, never pooled), so typed array payloads can be written through views.
  private buffer = new ArrayBuffer(4096);
  private bytes = new Uint8Array(this.buffer);
  private view = new DataView(this.buffer);
  private length = 0;
  private readonly strings = new Map<string, number>();

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.byteLength) return;
    const grown = new ArrayBuffer(Math.max(this.buffer.byteLength * 2, this.length + extra));
    new Uint8Array(grown).set(this.bytes.subarray(0, this.length));
    this.buffer = grown;
    this.bytes = new Uint8Array(grown);
    this.view = new DataView(grown);
  }

  private tag(tag: number): void {
    this.reserve(1);
    this.bytes[this.length++] = tag;
  }

  private u32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  private tagCount(tag: number, count: number): void {
    this.tag(tag);
    this.u32(count);
  }

  string(text: string): void {
    const known = this.strings.get(text);
    if (known !== undefined) {
      this.tagCount(Tag.stringRef, known);
      return;
    }
    this.strings.set(text, this.strings.size);
    const size = Buffer.byteLength(text, 'utf8');
    this.tagCount(Tag.string, size);
    this.reserve(size);
    this.length += encoder.encodeInto(text, this.bytes.subarray(this.length)).written;
  }

  value(value: unknown): void {
    switch (typeof value) {
      case 'number':
        this.tag(Tag.number);
        this.reserve(8);
        this.view.setFloat64(this.length, value, true);
        this.length += 8;
        return;
      case 'string':
        this.string(value);
        return;
      case 'boolean':
        this.tag(value ? Tag.true : Tag.false);
        return;
      case 'undefined':
        this.tag(Tag.undefined);
        return;
      case 'object':
        if (value === null) this.tag(Tag.null);
        else this.object(value);
        return;
      default:
        // As JSON does with a function or symbol in an array; in an object the key is left out.
        if (typeof value === 'function' || typeof value === 'symbol') this.tag(Tag.null);
        else throw new TypeError(`encodePartial: cannot encode a ${typeof value}`);
    }
  }

  private object(value: object): void {
    if (ArrayBuffer.isView(value)) {
      const index = typedArrayIndex(value);
      if (index < 0) throw new TypeError(`encodePartial: unsupported typed array ${value.constructor.name}`);
      this.tagCount(Tag.typedBase + index, value.byteLength);
      // Zero padding to a multiple of 8, so the reader can slice the payload out of an aligned view.
      const start = (this.length + 7) & ~7;
      this.reserve(start - this.length + value.byteLength);
      this.bytes.fill(0, this.length, start);
      // A view of the same class: set() copies same-type elements bit for bit (ECMA-262, TypedArray
      // set and slice), without asking a small on-heap array for its .buffer (which copies it out).
      const cls = TYPED_ARRAYS[index]![1];
      const length = value.byteLength / cls.BYTES_PER_ELEMENT;
      new (cls as unknown as TypedArrayViewClass)(this.buffer, start, length).set(value as never);
      this.length = start + value.byteLength;
      return;
    }
    if (Array.isArray(value)) {
      this.tagCount(Tag.array, value.length);
      for (const item of value) this.value(item);
      return;
    }
    if (value instanceof Map) {
      this.tagCount(Tag.map, value.size);
      for (const [key, item] of value) {
        this.value(key);
        this.value(item);
      }
      return;
    }
    // What JSON.stringify did for other objects (the earlier form): toJSON if present, else own keys.
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function' && !isPlainObject(value)) {
      this.value(toJSON.call(value));
      return;
    }
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).filter((key) => {
      const kind = typeof record[key];
      return kind !== 'function' && kind !== 'symbol';
    });
    this.tagCount(Tag.object, keys.length);
    for (const key of keys) {
      this.string(key);
      this.value(record[key]);
    }
  }

  text(): string {
    return BINARY_MARK + Buffer.from(this.buffer, 0, this.length).toString('base64');
  }
}

// ---------------------------------------------------------------------------------------------------
// binary reader

function malformed(what: string): Error {
  return new Error(`decodePartial: ${what}`);
}

class Reader {
  private offset = 0;
  private readonly buffer: ArrayBuffer;
  private readonly bytes: Buffer;
  private readonly view: DataView;
  private readonly strings: string[] = [];
  /** Whole-buffer views per typed array class, made when first needed. */
  private readonly typedViews = new Map<TypedArrayClass, TypedArray>();

  constructor(decoded: Buffer) {
    // Copied to offset 0 of a buffer of its own: payloads are aligned relative to the start.
    this.buffer = new ArrayBuffer(decoded.byteLength);
    this.bytes = Buffer.from(this.buffer);
    this.bytes.set(decoded);
    this.view = new DataView(this.buffer);
  }

  private need(size: number): void {
    if (this.offset + size > this.bytes.byteLength) throw malformed('truncated');
  }

  private u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  private key(): string {
    const key = this.value();
    if (typeof key !== 'string') throw malformed('object key is not a string');
    return key;
  }

  value(): unknown {
    this.need(1);
    const tag = this.bytes[this.offset++]!;
    switch (tag) {
      case Tag.null:
        return null;
      case Tag.undefined:
        return undefined;
      case Tag.false:
        return false;
      case Tag.true:
        return true;
      case Tag.number: {
        this.need(8);
        const value = this.view.getFloat64(this.offset, true);
        this.offset += 8;
        return value;
      }
      case Tag.string: {
        const size = this.u32();
        this.need(size);
        const text = this.bytes.toString('utf8', this.offset, this.offset + size);
        this.offset += size;
        this.strings.push(text);
        return text;
      }
      case Tag.stringRef: {
        const text = this.strings[this.u32()];
        if (text === undefined) throw malformed('reference to an unknown string');
        return text;
      }
      case Tag.array: {
        const count = this.u32();
        // Each item takes at least a byte: a count beyond the rest is corrupt, not a huge allocation.
        this.need(count);
        const items = new Array<unknown>(count);
        for (let i = 0; i < count; i++) items[i] = this.value();
        return items;
      }
      case Tag.object: {
        const count = this.u32();
        this.need(count);
        const record: Record<string, unknown> = {};
        for (let i = 0; i < count; i++) {
          const key = this.key();
          const item = this.value();
          // A key `__proto__` must be data, not the prototype setter.
          if (key === '__proto__') {
            Object.defineProperty(record, key, {
              value: item,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          } else record[key] = item;
        }
        return record;
      }
      case Tag.map: {
        const count = this.u32();
        this.need(count);
        const map = new Map<unknown, unknown>();
        for (let i = 0; i < count; i++) {
          const key = this.value();
          map.set(key, this.value());
        }
        return map;
      }
      default: {
        const cls = TYPED_ARRAYS[tag - Tag.typedBase]?.[1];
        if (cls === undefined) throw malformed(`unknown tag ${tag}`);
        const size = this.u32();
        if (size % cls.BYTES_PER_ELEMENT !== 0) throw malformed('truncated typed array');
        const start = (this.offset + 7) & ~7;
        this.offset = start;
        this.need(size);
        this.offset = start + size;
        let all = this.typedViews.get(cls);
        if (all === undefined) {
          const length = Math.floor(this.buffer.byteLength / cls.BYTES_PER_ELEMENT);
          all = new (cls as unknown as TypedArrayViewClass)(this.buffer, 0, length);
          this.typedViews.set(cls, all);
        }
        // slice() copies same-type elements bit for bit into an array of its own (NaN payloads too).
        const first = start / cls.BYTES_PER_ELEMENT;
        return all.slice(first, first + size / cls.BYTES_PER_ELEMENT);
      }
    }
  }

  end(): void {
    if (this.offset !== this.bytes.byteLength) throw malformed('trailing bytes');
  }
}

// ---------------------------------------------------------------------------------------------------
// the earlier form: tagged JSON (decoded only)

const TAG = '$rx';

function decodeTypedArray(cls: TypedArrayClass, base64: string): TypedArray {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.byteLength % cls.BYTES_PER_ELEMENT !== 0) throw malformed('truncated typed array');
  const out = new cls(bytes.byteLength / cls.BYTES_PER_ELEMENT);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

function entriesOf(value: unknown): Array<[unknown, unknown]> {
  if (!Array.isArray(value)) throw malformed('malformed entries');
  return value.map((entry: unknown) => {
    if (!Array.isArray(entry) || entry.length !== 2) throw malformed('malformed entry');
    return [entry[0], entry[1]];
  });
}

const SPECIAL_NUMBERS = new Map<unknown, number>([
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['-0', -0],
]);

function reviver(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const record = value as Record<string, unknown>;
  const tag = record[TAG];
  if (tag === undefined) return value;
  if (typeof tag !== 'string') throw malformed('malformed tag');
  const cls = CLASS_BY_TAG.get(tag);
  if (cls !== undefined) {
    if (typeof record.b !== 'string') throw malformed('malformed typed array');
    return decodeTypedArray(cls, record.b);
  }
  switch (tag) {
    case 'num': {
      const number = SPECIAL_NUMBERS.get(record.v);
      if (number === undefined) throw malformed(`unknown number ${String(record.v)}`);
      return number;
    }
    case 'undef':
      return undefined;
    case 'map':
      return new Map(entriesOf(record.e));
    case 'obj':
      return Object.fromEntries(entriesOf(record.e).map(([k, v]) => [String(k), v]));
    default:
      throw malformed(`unknown tag '${tag}'`);
  }
}

// ---------------------------------------------------------------------------------------------------

/** Encodes a partial (plain data, typed arrays, Maps, non-finite numbers) as text. */
export function encodePartial(value: unknown): string {
  const writer = new Writer();
  writer.value(value);
  return writer.text();
}

/** Inverse of `encodePartial`: the same structure, typed arrays with the same class and bits. */
export function decodePartial(text: string): unknown {
  if (!text.startsWith(BINARY_MARK)) return JSON.parse(text, reviver);
  const reader = new Reader(Buffer.from(text.slice(BINARY_MARK.length), 'base64'));
  const value = reader.value();
  reader.end();
  return value;
}
