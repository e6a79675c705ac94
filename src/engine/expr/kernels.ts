/**
 * The loops behind the operators: one small function per operator and operand shape (vector-vector,
 * vector-scalar, scalar-vector), so each loop is monomorphic and V8 compiles it to straight-line code.
 * A shared loop taking the operator as a callback would be megamorphic and several times slower.
 * Numeric NA is NaN throughout; R's rules for NaN/NA agree with IEEE arithmetic except where noted.
 */

export type ArithOp = '+' | '-' | '*' | '/' | '^' | '%%' | '%/%';
export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

type VV = (a: Float64Array, b: Float64Array, out: Float64Array, n: number) => void;
type VS = (a: Float64Array, b: number, out: Float64Array, n: number) => void;
type SV = (a: number, b: Float64Array, out: Float64Array, n: number) => void;

const EPSILON = Number.EPSILON;

/** R's `^` (R_pow): 1^y and x^0 are 1 even when the other side is NA. */
export function rPow(x: number, y: number): number {
  if (x === 1 || y === 0) return 1;
  return x ** y;
}

/** R's `%%` (myfmod): the result has the sign of the divisor; x %% 0 is NaN. */
export function rMod(x: number, y: number): number {
  if (y === 0) return Number.NaN;
  if (y === Number.POSITIVE_INFINITY || y === Number.NEGATIVE_INFINITY) {
    // R: 5 %% Inf = 5, -5 %% Inf = Inf; an infinite or NA x gives NaN.
    if (!Number.isFinite(x)) return Number.NaN;
    return x === 0 || x > 0 === y > 0 ? x : y;
  }
  const tmp = x - Math.floor(x / y) * y;
  return tmp - Math.floor(tmp / y) * y;
}

/** R's `%/%` (myfloor): floor(x / y) made consistent with %%, so (x %/% y) * y + x %% y == x. */
export function rIntDiv(x: number, y: number): number {
  const q = x / y;
  if (y === 0 || Math.abs(q) * EPSILON > 1 || !Number.isFinite(q)) return q;
  if (Math.abs(q) < 1) return q < 0 ? -1 : (x < 0 && y > 0) || (x > 0 && y < 0) ? -1 : 0;
  const fq = Math.floor(q);
  return fq + Math.floor((x - fq * y) / y);
}

export const ARITH_VV: Record<ArithOp, VV> = {
  '+': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = (a[i] as number) + (b[i] as number);
  },
  '-': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = (a[i] as number) - (b[i] as number);
  },
  '*': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = (a[i] as number) * (b[i] as number);
  },
  '/': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = (a[i] as number) / (b[i] as number);
  },
  '^': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = rPow(a[i] as number, b[i] as number);
  },
  '%%': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = rMod(a[i] as number, b[i] as number);
  },
  '%/%': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = rIntDiv(a[i] as number, b[i] as number);
  },
};

export const ARITH_VS: Record<ArithOp, VS> = {
  '+': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = (a[i] as number) + b;
  },
  '-': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = (a[i] as number) - b;
  },
  '*': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = (a[i] as number) * b;
  },
  '/': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = (a[i] as number) / b;
  },
  '^': (a, b, out, n) => {
    if (b === 2) {
      for (let i = 0; i < n; i++) out[i] = (a[i] as number) * (a[i] as number);
      return;
    }
    for (let i = 0; i < n; i++) out[i] = rPow(a[i] as number, b);
  },
  '%%': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = rMod(a[i] as number, b);
  },
  '%/%': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = rIntDiv(a[i] as number, b);
  },
};

export const ARITH_SV: Record<ArithOp, SV> = {
  '+': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = a + (b[i] as number);
  },
  '-': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = a - (b[i] as number);
  },
  '*': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = a * (b[i] as number);
  },
  '/': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = a / (b[i] as number);
  },
  '^': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = rPow(a, b[i] as number);
  },
  '%%': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = rMod(a, b[i] as number);
  },
  '%/%': (a, b, out, n) => {
    for (let i = 0; i < n; i++) out[i] = rIntDiv(a, b[i] as number);
  },
};

/** R integers are 32-bit with NA = -2^31: results outside +-(2^31 - 1) (and x %/% 0) become NA. */
export function clampInteger(out: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = out[i] as number;
    if (!(v >= -2147483647 && v <= 2147483647)) out[i] = Number.NaN;
  }
}

type CmpVV = (a: Float64Array, b: Float64Array, out: Uint8Array, n: number) => void;
type CmpVS = (a: Float64Array, b: number, out: Uint8Array, n: number) => void;

// Logical codes: FALSE 0, NA 1, TRUE 2, computed with arithmetic on the comparison results rather than
// with branches: on real data a comparison's outcome is unpredictable, and a mispredicted branch per row
// costs more than the whole loop body. A NaN operand makes every comparison false, so adding `nan` (0/1)
// gives NA; for != (true on NaN) it is subtracted.
export const COMPARE_VV: Record<CompareOp, CmpVV> = {
  '==': (a, b, out, n) => {
    for (let i = 0; i < n; i++) {
      const x = a[i] as number;
      const y = b[i] as number;
      out[i] = 2 * +(x === y) + +(Number.isNaN(x) || Number.isNaN(y));
    }
  },
  '!=': (a, b, out, n) => {
    for (let i = 0; i < n; i++) {
      const x = a[i] as number;
      const y = b[i] as number;
      out[i] = 2 * +(x !== y) - +(Number.isNaN(x) || Number.isNaN(y));
    }
  },
  '<': (a, b, out, n) => {
    for (let i = 0; i < n; i++) {
      const x = a[i] as number;
      const y = b[i] as number;
      out[i] = 2 * +(x < y) + +(Number.isNaN(x) || Number.isNaN(y));
    }
  },
  '<=': (a, b, out, n) => {
    for (let i = 0; i < n; i++) {
      const x = a[i] as number;
      const y = b[i] as number;
      out[i] = 2 * +(x <= y) + +(Number.isNaN(x) || Number.isNaN(y));
    }
  },
  '>': (a, b, out, n) => {
    for (let i = 0; i < n; i++) {
      const x = a[i] as number;
      const y = b[i] as number;
      out[i] = 2 * +(x > y) + +(Number.isNaN(x) || Number.isNaN(y));
    }
  },
  '>=': (a, b, out, n) => {
    for (let i = 0; i < n; i++) {
      const x = a[i] as number;
      const y = b[i] as number;
      out[i] = 2 * +(x >= y) + +(Number.isNaN(x) || Number.isNaN(y));
    }
  },
};

export const COMPARE_VS: Record<CompareOp, CmpVS> = {
  '==': (a, y, out, n) => {
    if (Number.isNaN(y)) return void out.fill(1, 0, n);
    for (let i = 0; i < n; i++) {
      const x = a[i] as number;
      out[i] = 2 * +(x === y) + +Number.isNaN(x);
    }
  },
  '!=': (a, y, out, n) => {
    if (Number.isNaN(y)) return void out.fill(1, 0, n);
    for (let i = 0; i < n; i++) {
      const x = a[i] as number;
      out[i] = 2 * +(x !== y) - +Number.isNaN(x);
    }
  },
  '<': (a, y, out, n) => {
    if (Number.isNaN(y)) return void out.fill(1, 0, n);
    for (let i = 0; i < n; i++) {
      const x = a[i] as number;
      out[i] = 2 * +(x < y) + +Number.isNaN(x);
    }
  },
  '<=': (a, y, out, n) => {
    if (Number.isNaN(y)) return void out.fill(1, 0, n);
    for (let i = 0; i < n; i++) {
      const x = a[i] as number;
      out[i] = 2 * +(x <= y) + +Number.isNaN(x);
    }
  },
  '>': (a, y, out, n) => {
    if (Number.isNaN(y)) return void out.fill(1, 0, n);
    for (let i = 0; i < n; i++) {
      const x = a[i] as number;
      out[i] = 2 * +(x > y) + +Number.isNaN(x);
    }
  },
  '>=': (a, y, out, n) => {
    if (Number.isNaN(y)) return void out.fill(1, 0, n);
    for (let i = 0; i < n; i++) {
      const x = a[i] as number;
      out[i] = 2 * +(x >= y) + +Number.isNaN(x);
    }
  },
};

/** `c OP x` is `x FLIPPED c`. */
export const FLIPPED: Record<CompareOp, CompareOp> = {
  '==': '==',
  '!=': '!=',
  '<': '>',
  '<=': '>=',
  '>': '<',
  '>=': '<=',
};

/** Kleene logic as tables indexed by (x << 2) | y: a lookup costs less than a mispredicted branch. */
const AND_TABLE = new Uint8Array(12);
const OR_TABLE = new Uint8Array(12);
for (let x = 0; x <= 2; x++) {
  for (let y = 0; y <= 2; y++) {
    // Under FALSE < NA < TRUE, AND is the minimum and OR the maximum.
    AND_TABLE[(x << 2) | y] = Math.min(x, y);
    OR_TABLE[(x << 2) | y] = Math.max(x, y);
  }
}

/** Three-valued AND: NA & FALSE is FALSE, NA & TRUE is NA. */
export function andVV(a: Uint8Array, b: Uint8Array, out: Uint8Array, n: number): void {
  const table = AND_TABLE; // a local, so the loop does not reload a module binding per row
  for (let i = 0; i < n; i++) out[i] = table[((a[i] as number) << 2) | (b[i] as number)] as number;
}

/** Three-valued OR: NA | TRUE is TRUE, NA | FALSE is NA. */
export function orVV(a: Uint8Array, b: Uint8Array, out: Uint8Array, n: number): void {
  const table = OR_TABLE;
  for (let i = 0; i < n; i++) out[i] = table[((a[i] as number) << 2) | (b[i] as number)] as number;
}

export function notV(a: Uint8Array, out: Uint8Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = 2 - (a[i] as number);
}

export type MathFn =
  | 'log'
  | 'log10'
  | 'log2'
  | 'log1p'
  | 'exp'
  | 'expm1'
  | 'sqrt'
  | 'abs'
  | 'floor'
  | 'ceiling'
  | 'trunc'
  | 'sign'
  | 'neg'
  | 'sin'
  | 'cos'
  | 'tan';

type Unary = (a: Float64Array, out: Float64Array, n: number) => void;

export const MATH: Record<MathFn, Unary> = {
  log: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.log(a[i] as number);
  },
  log10: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.log10(a[i] as number);
  },
  log2: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.log2(a[i] as number);
  },
  log1p: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.log1p(a[i] as number);
  },
  exp: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.exp(a[i] as number);
  },
  expm1: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.expm1(a[i] as number);
  },
  sqrt: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.sqrt(a[i] as number);
  },
  abs: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.abs(a[i] as number);
  },
  floor: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.floor(a[i] as number);
  },
  ceiling: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.ceil(a[i] as number);
  },
  trunc: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.trunc(a[i] as number);
  },
  sign: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.sign(a[i] as number);
  },
  neg: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = -(a[i] as number);
  },
  sin: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.sin(a[i] as number);
  },
  cos: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.cos(a[i] as number);
  },
  tan: (a, out, n) => {
    for (let i = 0; i < n; i++) out[i] = Math.tan(a[i] as number);
  },
};

const DBL_DIG = 15;
const LOG10_2 = Math.log10(2);

/**
 * R's round(x, digits) (R >= 4.0.0, src/nmath/fround.c): of the two candidates x rounded down and up at
 * `digits` decimals, the nearer one in double arithmetic; an exact tie goes to the even last digit
 * (IEC 60559), so round(0.5) = 0, round(2.5) = 2, round(-1.5) = -2.
 */
export function rRound(x: number, digits: number): number {
  if (Number.isNaN(x) || Number.isNaN(digits)) return x + digits;
  if (!Number.isFinite(x) || x === 0) return x;
  if (digits === Number.POSITIVE_INFINITY) return x;
  if (digits === 0) return roundHalfEven(x);
  const dig = Math.floor(digits + 0.5);
  if (x < 0) return -roundPositive(-x, dig);
  return roundPositive(x, dig);
}

function roundHalfEven(x: number): number {
  const r = Math.round(x); // rounds half up
  // Math.round(-2.5) = -2 and Math.round(2.5) = 3: correct the exact ties to the even neighbour.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function roundPositive(x: number, dig: number): number {
  if (dig > 323) return x;
  if (dig < -308) return 0;
  // Digits already beyond double precision: nothing to round.
  const l10x = LOG10_2 * (0.5 + Math.floor(Math.log2(x)));
  if (l10x + dig > DBL_DIG) return x;
  let xd: number;
  let xu: number;
  let i10: number;
  if (dig <= 308) {
    // As R_pow_di: a negative power is 1 / 10^|dig|.
    const pow10 = dig >= 0 ? 10 ** dig : 1 / 10 ** -dig;
    const x10 = pow10 * x;
    i10 = Math.floor(x10);
    xd = i10 / pow10;
    xu = Math.ceil(x10) / pow10;
  } else {
    // 10^dig overflows: scale in two steps, as R does.
    const p10 = 10 ** 308;
    const pow10 = 10 ** (dig - 308);
    const x10 = p10 * x * pow10;
    i10 = Math.floor(x10);
    xd = i10 / p10 / pow10;
    xu = Math.ceil(x10) / p10 / pow10;
  }
  const du = xu - x;
  const dd = x - xd;
  return du < dd || (du === dd && i10 % 2 === 1) ? xu : xd;
}
