import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodePartial, encodePartial } from '../../src/engine/codec.ts';

function roundTrip<T>(value: T): T {
  return decodePartial(encodePartial(value)) as T;
}

function sameBits(a: ArrayBufferView, b: ArrayBufferView): boolean {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

describe('partial codec', () => {
  it('round-trips every typed array class bit for bit, NaN payloads included', () => {
    const f64 = new Float64Array([
      0,
      -0,
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      -Number.MIN_VALUE,
      Number.MAX_VALUE,
    ]);
    // A NaN with a non-default payload must survive as the same bits.
    new DataView(f64.buffer).setUint32(3 * 8, 0xdeadbeef, true);
    const arrays = [
      f64,
      new Float32Array([1.25, -0, Number.NaN]),
      new Int32Array([-(2 ** 31), 2 ** 31 - 1, 0]),
      new Uint32Array([2 ** 32 - 1, 7]),
      new Uint8Array([0, 255, 7]),
      new Int16Array([-5, 5]),
      new Uint16Array([65535]),
      new Int8Array([-128]),
      new Uint8ClampedArray([200]),
    ];
    for (const array of arrays) {
      const back = roundTrip(array);
      assert.equal(back.constructor, array.constructor);
      assert.ok(sameBits(back, array), `${array.constructor.name} bits`);
    }
  });

  it('encodes only the bytes of a subarray view, into an aligned copy', () => {
    const whole = new Float64Array([1, 2, 3, 4, 5]);
    const view = whole.subarray(1, 3);
    const back = roundTrip(view);
    assert.deepEqual([...back], [2, 3]);
    assert.equal(back.byteOffset % 8, 0);
  });

  it('keeps NaN, +-Infinity and -0 as numbers exactly', () => {
    const back = roundTrip({
      a: Number.NaN,
      b: Number.POSITIVE_INFINITY,
      c: Number.NEGATIVE_INFINITY,
      d: -0,
      e: [0, -0],
    });
    assert.ok(Number.isNaN(back.a));
    assert.equal(back.b, Number.POSITIVE_INFINITY);
    assert.equal(back.c, Number.NEGATIVE_INFINITY);
    assert.ok(Object.is(back.d, -0));
    assert.ok(Object.is(back.e[0], 0) && Object.is(back.e[1], -0));
  });

  it('round-trips nested objects, arrays, Maps, undefined and user keys that look like tags', () => {
    const value = {
      terms: [
        { kind: 'moments', mean: new Float64Array([1e-310, 3]), nested: { deep: [new Int32Array([1, -1])] } },
      ],
      lookup: new Map<string, unknown>([
        ['x', new Float64Array([Number.NaN])],
        ['y', { z: 1 }],
      ]),
      tricky: { $rx: 'f64', b: 'not a typed array' },
      missing: undefined,
      text: 'plain',
      nothing: null,
    };
    const back = roundTrip(value);
    assert.deepEqual(back.tricky, { $rx: 'f64', b: 'not a typed array' });
    assert.ok(back.lookup instanceof Map);
    assert.ok(Number.isNaN((back.lookup.get('x') as Float64Array)[0]));
    assert.deepEqual(back.lookup.get('y'), { z: 1 });
    assert.ok(back.terms[0]?.mean instanceof Float64Array);
    assert.equal(back.terms[0]?.mean[0], 1e-310);
    assert.deepEqual([...(back.terms[0]?.nested.deep[0] ?? [])], [1, -1]);
    assert.equal(back.missing, undefined);
    assert.equal(back.text, 'plain');
    assert.equal(back.nothing, null);
  });

  it('produces text that re-encodes to the same text after decoding', () => {
    const value = { a: new Float64Array([Math.PI, -0]), b: Number.NaN, s: ['x', 'x', 'é€😀'] };
    const text = encodePartial(value);
    // A BullMQ return value: it must survive JSON as a string.
    assert.equal(JSON.parse(JSON.stringify(text)), text);
    assert.equal(encodePartial(decodePartial(text)), text);
    assert.deepEqual((decodePartial(text) as typeof value).s, ['x', 'x', 'é€😀']);
  });

  it('keeps a key named __proto__ as data and gives decoded arrays buffers of their own', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "a": [1, 2]}') as Record<string, unknown>;
    const back = roundTrip({ value, x: new Float64Array([1]), y: new Float64Array([2]) });
    assert.equal(Object.getPrototypeOf(back.value), Object.prototype);
    assert.deepEqual(Object.keys(back.value), ['__proto__', 'a']);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.notEqual(back.x.buffer, back.y.buffer);
    assert.equal(back.x.buffer.byteLength, 8);
  });

  it('still decodes partials in the earlier tagged-JSON form (written by a worker of the previous version)', () => {
    const f64 = Buffer.from(new Float64Array([1.5, -0]).buffer).toString('base64');
    const text = JSON.stringify({
      m: { $rx: 'f64', b: f64 },
      n: { $rx: 'num', v: '-0' },
      u: { $rx: 'undef' },
      map: { $rx: 'map', e: [['k', 1]] },
      tricky: { $rx: 'obj', e: [['$rx', 'f64']] },
    });
    const back = decodePartial(text) as Record<string, unknown>;
    assert.ok(back.m instanceof Float64Array && back.m[0] === 1.5 && Object.is(back.m[1], -0));
    assert.ok(Object.is(back.n, -0));
    assert.equal(back.u, undefined);
    assert.deepEqual(back.map, new Map([['k', 1]]));
    assert.deepEqual(back.tricky, { $rx: 'f64' });
  });

  it('rejects malformed tags instead of guessing', () => {
    assert.throws(() => decodePartial('{"$rx":"nope"}'));
    assert.throws(() => decodePartial('{"$rx":"f64","b":"AAA"}'));
    const good = encodePartial({ a: [1, 'two', new Float64Array([3])] });
    // Cut short, with bytes added, or with an unknown tag: an error, never a half-decoded partial.
    assert.throws(() => decodePartial(good.slice(0, good.length - 8)), /decodePartial/);
    assert.throws(() => decodePartial(`${good}AAAA`), /decodePartial/);
    assert.throws(() => decodePartial(`~rx2:${Buffer.from([200]).toString('base64')}`), /unknown tag/);
  });
});
