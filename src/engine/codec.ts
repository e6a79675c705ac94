/**
 * Text encoding of partial results, so they cross process boundaries (BullMQ return values, Redis)
 * bit-exactly: a partial decoded on the coordinator must merge to the same bits it would have merged to
 * in the worker that made it, or results would depend on the number of workers.
 *
 * The text is JSON. Values JSON cannot carry are written as tagged objects `{ "$rx": <tag>, ... }`:
 * - typed arrays: the raw bytes in base64 (`f64`, `f32`, `i32`, `u32`, `i16`, `u16`, `i8`, `u8`, `u8c`),
 *   so every bit survives, NaN payloads included. Bytes are in the platform's order; every platform Node
 *   runs rxserve on (x86-64, arm64) is little-endian;
 * - numbers JSON loses: NaN, Infinity, -Infinity and -0 (`num`);
 * - `Map` (`map`, as entries) and `undefined` (`undef`);
 * - a plain object that itself has a `$rx` key (`obj`, as entries), so user data can never be mistaken
 *   for a tag.
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

const TAG = '$rx';

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

function typedArrayTag(value: object): string | undefined {
  // Exact class match (not instanceof): a Node Buffer is a Uint8Array subclass and decodes as Uint8Array.
  for (const [tag, cls] of TYPED_ARRAYS) if (value.constructor === cls) return tag;
  if (value instanceof Uint8Array) return 'u8';
  return undefined;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && !Object.is(value, -0)) return value;
    return { [TAG]: 'num', v: Object.is(value, -0) ? '-0' : String(value) };
  }
  if (value === undefined) return { [TAG]: 'undef' };
  if (typeof value !== 'object' || value === null) return value;
  if (ArrayBuffer.isView(value)) {
    const tag = typedArrayTag(value);
    if (tag === undefined)
      throw new TypeError(`encodePartial: unsupported typed array ${value.constructor.name}`);
    return {
      [TAG]: tag,
      b: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'),
    };
  }
  if (value instanceof Map) return { [TAG]: 'map', e: [...value.entries()] };
  if (!Array.isArray(value) && isPlainObject(value) && Object.hasOwn(value, TAG)) {
    return { [TAG]: 'obj', e: Object.entries(value) };
  }
  return value;
}

function decodeTypedArray(cls: TypedArrayClass, base64: string): TypedArray {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.byteLength % cls.BYTES_PER_ELEMENT !== 0) throw new Error('decodePartial: truncated typed array');
  // Copy into a fresh, aligned buffer: Buffer's pooled memory may not be 8-byte aligned.
  const out = new cls(bytes.byteLength / cls.BYTES_PER_ELEMENT);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

function entriesOf(value: unknown): Array<[unknown, unknown]> {
  if (!Array.isArray(value)) throw new Error('decodePartial: malformed entries');
  return value.map((entry: unknown) => {
    if (!Array.isArray(entry) || entry.length !== 2) throw new Error('decodePartial: malformed entry');
    return [entry[0], entry[1]];
  });
}

function reviver(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const record = value as Record<string, unknown>;
  const tag = record[TAG];
  if (tag === undefined) return value;
  if (typeof tag !== 'string') throw new Error('decodePartial: malformed tag');
  const cls = CLASS_BY_TAG.get(tag);
  if (cls !== undefined) {
    if (typeof record.b !== 'string') throw new Error('decodePartial: malformed typed array');
    return decodeTypedArray(cls, record.b);
  }
  switch (tag) {
    case 'num':
      switch (record.v) {
        case 'NaN':
          return Number.NaN;
        case 'Infinity':
          return Number.POSITIVE_INFINITY;
        case '-Infinity':
          return Number.NEGATIVE_INFINITY;
        case '-0':
          return -0;
        default:
          throw new Error(`decodePartial: unknown number ${String(record.v)}`);
      }
    case 'undef':
      return undefined;
    case 'map':
      return new Map(entriesOf(record.e));
    case 'obj':
      return Object.fromEntries(entriesOf(record.e).map(([k, v]) => [String(k), v]));
    default:
      throw new Error(`decodePartial: unknown tag '${tag}'`);
  }
}

/** Encodes a partial (plain data, typed arrays, Maps, non-finite numbers) as JSON text. */
export function encodePartial(value: unknown): string {
  const text = JSON.stringify(value, replacer);
  // JSON.stringify returns undefined only for values the replacer maps to nothing, which it never does.
  return text ?? 'null';
}

/** Inverse of `encodePartial`: the same structure, typed arrays with the same class and bits. */
export function decodePartial(text: string): unknown {
  return JSON.parse(text, reviver);
}
