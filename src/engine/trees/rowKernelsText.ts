/**
 * The per-row loops of a local boosted tree (orderedRows.ts), hand-written in WebAssembly text and
 * assembled by rowKernels.ts. In JavaScript V8 runs these loops at two to three times the time of the
 * same loops in WebAssembly, mostly typed-array bounds checks and index arithmetic.
 *
 * The steps shared by several loops are text fragments spliced into each loop, not functions: V8 here
 * (Node 20) does not inline WebAssembly calls, and a call per histogram update made `accumulate` take
 * 2.8x as long.
 *
 * Every pointer is a byte address in the imported memory (a part's KernelHeap, rowKernels.ts). Rows
 * live in two layouts:
 *   sample: row i's codes at codes + 2 p (i - offset), its (g, h, count) at ghc + 24 (i - offset);
 *   places: place j's codes at codes + 2 q j (q = p rounded up to even, so a place's codes are q / 2
 *           whole 32-bit words), its (g, h, count) at ghc + 24 j, its row id at ids + 4 j.
 * A histogram slot holds, per predictor f, bins of (g, h, count) doubles from hist + 8 fo[f].
 * Every loop visits rows in order and adds in that order, as the JavaScript it replaced did.
 */

const get = (name: string) => `(local.get $${name})`;
const i32 = (value: number) => `(i32.const ${value})`;

/** `for (name = start; name < limit; name++) body`, as a block around a loop. */
function forRows(name: string, start: string, limit: string, body: string): string {
  return `
    (local.set $${name} ${start})
    (block $${name}Done
      (loop $${name}Loop
        (br_if $${name}Done (i32.ge_s ${get(name)} ${limit}))
        ${body}
        (local.set $${name} (i32.add ${get(name)} ${i32(1)}))
        (br $${name}Loop)))`;
}

/** Adds the row whose codes are at $row and whose (g, h, count) are at $rowGhc into its p bins. */
const addRow = `
    (local.set $g (f64.load ${get('rowGhc')}))
    (local.set $h (f64.load offset=8 ${get('rowGhc')}))
    (local.set $c (f64.load offset=16 ${get('rowGhc')}))
    (local.set $f ${i32(0)})
    (loop $features
      ;; predictor f's bin: hist + 8 (fo[f] + 3 code)
      (local.set $o
        (i32.add ${get('hist')}
          (i32.shl
            (i32.add
              (i32.load (i32.add ${get('fo')} (i32.shl ${get('f')} ${i32(2)})))
              (i32.mul (i32.load16_u (i32.add ${get('row')} (i32.shl ${get('f')} ${i32(1)}))) ${i32(3)}))
            ${i32(3)})))
      (f64.store ${get('o')} (f64.add (f64.load ${get('o')}) ${get('g')}))
      (f64.store offset=8 ${get('o')} (f64.add (f64.load offset=8 ${get('o')}) ${get('h')}))
      (f64.store offset=16 ${get('o')} (f64.add (f64.load offset=16 ${get('o')}) ${get('c')}))
      (local.set $f (i32.add ${get('f')} ${i32(1)}))
      (br_if $features (i32.lt_s ${get('f')} ${get('p')})))`;

const accumulateLocals =
  '(local $f i32) (local $row i32) (local $rowGhc i32) (local $o i32) (local $g f64) (local $h f64) (local $c f64)';

/**
 * 1 when a row with `code` goes lo (growTree.ts childOf): missing (the largest code) as $missingGoes;
 * otherwise codes below $bin, or, when $bin is -1, the levels whose bits are set in the words at $words.
 */
function goesLo(code: string): string {
  return `
      (select
        ${get('missingGoes')}
        (if (result i32) (i32.ge_s ${get('bin')} ${i32(0)})
          (then (i32.lt_s ${code} ${get('bin')}))
          (else
            (i32.and
              (i32.shr_u
                (i32.load (i32.add ${get('words')} (i32.shl (i32.shr_u ${code} ${i32(5)}) ${i32(2)})))
                ${code})
              ${i32(1)})))
        (i32.eq ${code} ${get('missing')}))`;
}

/** rowKernels.ts SampleArgs and TargetArgs. */
const sampleParams =
  '(param $ids i32) (param $m i32) (param $codes i32) (param $ghc i32) (param $offset i32) (param $p i32)';
const targetParams = '(param $toIds i32) (param $toCodes i32) (param $toGhc i32)';

const splitParams =
  '(param $f i32) (param $missing i32) (param $missingGoes i32) (param $bin i32) (param $words i32) (param $side i32)';

/** Records row `j`'s side, from its code at `address`, in side[index] and counts the lows. */
function decideRow(address: string, index: string): string {
  return `
        (local.set $code (i32.load16_u ${address}))
        (local.set $lo ${goesLo(get('code'))})
        (i32.store8 (i32.add ${get('side')} ${index}) ${get('lo')})
        (local.set $lows (i32.add ${get('lows')} ${get('lo')}))`;
}

/**
 * The target place of a row on side[index], without a branch (a row is as likely to go one way as the
 * other): $t, then the lo or hi cursor moves on.
 */
function placeOf(index: string): string {
  return `
        (local.set $s (i32.load8_u (i32.add ${get('side')} ${index})))
        (local.set $t (select ${get('lo')} ${get('hi')} ${get('s')}))
        (local.set $lo (i32.add ${get('lo')} ${get('s')}))
        (local.set $hi (i32.add ${get('hi')} (i32.xor ${get('s')} ${i32(1)})))`;
}

/**
 * Moves a row to place $t: its id (ids[j]), `count` units of codes ('word': 32-bit words, a place's
 * layout; 'code': 16-bit codes, the sample's) from $src, and its (g, h, count) from ghc row `ghcRow`.
 */
function moveRow(unit: 'word' | 'code', count: string, ghcRow: string): string {
  const [load, store, size, scale] =
    unit === 'word' ? ['i32.load', 'i32.store', 4, 2] : ['i32.load16_u', 'i32.store16', 2, 1];
  const stride = unit === 'word' ? get('w') : get('q');
  return `
        (i32.store (i32.add ${get('toIds')} (i32.shl ${get('t')} ${i32(2)}))
          (i32.load (i32.add ${get('ids')} (i32.shl ${get('j')} ${i32(2)}))))
        (local.set $dst (i32.add ${get('toCodes')} (i32.shl (i32.mul ${get('t')} ${stride}) ${i32(scale)})))
        (local.set $k ${i32(0)})
        (loop $copy
          (${store} ${get('dst')} (${load} ${get('src')}))
          (local.set $src (i32.add ${get('src')} ${i32(size)}))
          (local.set $dst (i32.add ${get('dst')} ${i32(size)}))
          (local.set $k (i32.add ${get('k')} ${i32(1)}))
          (br_if $copy (i32.lt_s ${get('k')} ${count})))
        (local.set $src (i32.add ${get('ghc')} (i32.mul ${ghcRow} ${i32(24)})))
        (local.set $dst (i32.add ${get('toGhc')} (i32.mul ${get('t')} ${i32(24)})))
        (f64.store ${get('dst')} (f64.load ${get('src')}))
        (f64.store offset=8 ${get('dst')} (f64.load offset=8 ${get('src')}))
        (f64.store offset=16 ${get('dst')} (f64.load offset=16 ${get('src')}))`;
}

/** (i - offset) for the sample row at ids[j]. */
const sampleRow = `(i32.sub (i32.load (i32.add ${get('ids')} (i32.shl ${get('j')} ${i32(2)}))) ${get('offset')})`;

export const ROW_KERNELS_TEXT = `
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Adds places from .. to - 1 into the slot at hist.
  (func (export "accumulate")
    (param $hist i32) (param $fo i32) (param $codes i32) (param $ghc i32)
    (param $from i32) (param $to i32) (param $p i32) (param $q i32)
    (local $j i32) ${accumulateLocals}
    ${forRows(
      'j',
      get('from'),
      get('to'),
      `
        (local.set $rowGhc (i32.add ${get('ghc')} (i32.mul ${get('j')} ${i32(24)})))
        (local.set $row (i32.add ${get('codes')} (i32.shl (i32.mul ${get('j')} ${get('q')}) ${i32(1)})))
        ${addRow}`,
    )})

  ;; Adds the m sample rows whose ids are at ids into the slot at hist.
  (func (export "accumulateSample")
    (param $hist i32) (param $fo i32) ${sampleParams}
    (local $j i32) (local $i i32) ${accumulateLocals}
    ${forRows(
      'j',
      i32(0),
      get('m'),
      `
        (local.set $i ${sampleRow})
        (local.set $rowGhc (i32.add ${get('ghc')} (i32.mul ${get('i')} ${i32(24)})))
        (local.set $row (i32.add ${get('codes')} (i32.shl (i32.mul ${get('i')} ${get('p')}) ${i32(1)})))
        ${addRow}`,
    )})

  ;; Writes each place's side (1 = lo) of the split on predictor f for places from .. to - 1 to
  ;; side + (j - from); returns how many go lo. q: codes a place.
  (func (export "decide")
    (param $codes i32) (param $q i32) (param $from i32) (param $to i32) ${splitParams}
    (result i32)
    (local $j i32) (local $code i32) (local $lo i32) (local $lows i32)
    ${forRows(
      'j',
      get('from'),
      get('to'),
      decideRow(
        `(i32.add ${get('codes')} (i32.shl (i32.add (i32.mul ${get('j')} ${get('q')}) ${get('f')}) ${i32(1)}))`,
        `(i32.sub ${get('j')} ${get('from')})`,
      ),
    )}
    ${get('lows')})

  ;; decide for the m sample rows whose ids are at ids, to side + j.
  (func (export "decideSample")
    ${sampleParams} ${splitParams}
    (result i32)
    (local $j i32) (local $code i32) (local $lo i32) (local $lows i32)
    ${forRows(
      'j',
      i32(0),
      get('m'),
      decideRow(
        `(i32.add ${get('codes')} (i32.shl (i32.add (i32.mul ${sampleRow} ${get('p')}) ${get('f')}) ${i32(1)}))`,
        get('j'),
      ),
    )}
    ${get('lows')})

  ;; Moves places from .. to - 1 to the same places of the to* arrays by the sides decide wrote: the lo
  ;; rows first, then the hi rows, each in order. w: 32-bit words of codes a place (q / 2).
  (func (export "move")
    (param $ids i32) (param $codes i32) (param $ghc i32) ${targetParams}
    (param $from i32) (param $to i32) (param $lows i32) (param $side i32) (param $w i32)
    (local $j i32) (local $k i32) (local $s i32) (local $t i32) (local $lo i32) (local $hi i32)
    (local $src i32) (local $dst i32)
    (local.set $lo ${get('from')})
    (local.set $hi (i32.add ${get('from')} ${get('lows')}))
    ${forRows(
      'j',
      get('from'),
      get('to'),
      `
        ${placeOf(`(i32.sub ${get('j')} ${get('from')})`)}
        (local.set $src (i32.add ${get('codes')} (i32.shl (i32.mul ${get('j')} ${get('w')}) ${i32(2)})))
        ${moveRow('word', get('w'), get('j'))}`,
    )})

  ;; move for the m sample rows whose ids are at ids, to places 0 .. m - 1 (p codes a row in, q out).
  (func (export "moveSample")
    ${sampleParams} ${targetParams} (param $lows i32) (param $side i32) (param $q i32)
    (local $j i32) (local $k i32) (local $i i32) (local $s i32) (local $t i32)
    (local $lo i32) (local $hi i32) (local $src i32) (local $dst i32)
    (local.set $hi ${get('lows')})
    ${forRows(
      'j',
      i32(0),
      get('m'),
      `
        ${placeOf(get('j'))}
        (local.set $i ${sampleRow})
        (local.set $src (i32.add ${get('codes')} (i32.shl (i32.mul ${get('i')} ${get('p')}) ${i32(1)})))
        ${moveRow('code', get('p'), get('i'))}`,
    )})

  ;; The leaf of each of the m sample rows whose ids are at ids, to out + 4 j, in a finished tree of
  ;; size nodes laid out at tree as six arrays of size 32-bit integers (growTree.ts TreeWalker):
  ;; feature, bin, missingLo, lo, hi, setStart; a factor split's level set starts at word setStart of
  ;; words. missingCodes: each predictor's missing code.
  (func (export "leaves")
    (param $ids i32) (param $m i32) (param $codes i32) (param $offset i32) (param $p i32)
    (param $tree i32) (param $size i32) (param $wordsBase i32) (param $missingCodes i32) (param $out i32)
    (local $j i32) (local $i i32) (local $node i32) (local $at i32) (local $f i32) (local $code i32)
    (local $missing i32) (local $missingGoes i32) (local $bin i32) (local $words i32) (local $array i32)
    (local.set $array (i32.shl ${get('size')} ${i32(2)}))
    ${forRows(
      'j',
      i32(0),
      get('m'),
      `
        (local.set $i ${sampleRow})
        (local.set $node ${i32(0)})
        (block $leaf
          (loop $walk
            ;; node's entry in the k-th array: tree + k array + 4 node
            (local.set $at (i32.add ${get('tree')} (i32.shl ${get('node')} ${i32(2)})))
            (local.set $f (i32.load ${get('at')}))
            (br_if $leaf (i32.lt_s ${get('f')} ${i32(0)}))
            (local.set $code
              (i32.load16_u
                (i32.add ${get('codes')} (i32.shl (i32.add (i32.mul ${get('i')} ${get('p')}) ${get('f')}) ${i32(1)}))))
            (local.set $missing (i32.load (i32.add ${get('missingCodes')} (i32.shl ${get('f')} ${i32(2)}))))
            (local.set $bin (i32.load (i32.add ${get('at')} ${get('array')})))
            (local.set $missingGoes (i32.load (i32.add ${get('at')} (i32.shl ${get('array')} ${i32(1)}))))
            (local.set $words
              (i32.add ${get('wordsBase')}
                (i32.shl (i32.load (i32.add ${get('at')} (i32.mul ${get('array')} ${i32(5)}))) ${i32(2)})))
            (local.set $node
              (select
                (i32.load (i32.add ${get('at')} (i32.mul ${get('array')} ${i32(3)})))
                (i32.load (i32.add ${get('at')} (i32.shl ${get('array')} ${i32(2)})))
                ${goesLo(get('code'))}))
            (br $walk)))
        (i32.store (i32.add ${get('out')} (i32.shl ${get('j')} ${i32(2)})) ${get('node')})`,
    )}))
`;
