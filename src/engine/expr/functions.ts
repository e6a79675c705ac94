import { facNode, lglNode, numNode, strNode } from './build.ts';
import type { CallContext, FunctionArgs, FunctionSpec } from './compile.ts';
import {
  facToCodes,
  facToFac,
  facToStr,
  lglToFac,
  lglToNum,
  lglToStr,
  numToFac,
  numToLgl,
  numToStr,
  retype,
  scaleNum,
  strToFac,
  strToLgl,
  strToNum,
  timestampToDate,
  truncInteger,
} from './convert.ts';
import { type DatePart, datePart, MS_PER_DAY, parseDate, WEEKDAYS } from './dates.ts';
import { formatG, formatNumber } from './format.ts';
import { MATH, type MathFn, rRound } from './kernels.ts';
import {
  type FacNode,
  f64Buffer,
  facConstant,
  i32Buffer,
  type LglNode,
  lglConstant,
  type Node,
  type NumNode,
  numConstant,
  strBuffer,
  strConstant,
  u8Buffer,
} from './nodes.ts';
import type { Ast, CallNode } from './parser.ts';

/**
 * The function table: every function an expression may call, keyed by its R name (a Map, so a user's
 * `constructor(...)` or `__proto__(...)` is simply not found). Semantics follow R; where rxserve
 * differs it says so at the entry.
 */

type Compile = (args: FunctionArgs, call: CallNode, cx: CallContext) => Node;

function spec(params: string[], required: string[], compile: Compile): FunctionSpec {
  return { params, required, compile };
}

function arg(args: FunctionArgs, name: string, cx: CallContext): Node {
  const ast = args.get(name);
  if (ast === undefined) throw new Error(`argument '${name}' was checked as required`);
  return cx.compile(ast);
}

/** A numeric constant argument (round's digits, cut's dig.lab), or `fallback` when absent. */
function constantNumber(
  args: FunctionArgs,
  name: string,
  fn: string,
  cx: CallContext,
  fallback: number,
): number {
  const ast = args.get(name);
  if (ast === undefined) return fallback;
  const node = cx.numeric(cx.compile(ast), `${fn}()'s '${name}'`);
  if (!node.constant || Number.isNaN(node.value)) {
    cx.syntaxError(`${fn}()'s '${name}' must be a number constant`, args.column(name));
  }
  return node.value;
}

/** A TRUE/FALSE constant argument (cut's right, include.lowest). */
function constantFlag(
  args: FunctionArgs,
  name: string,
  fn: string,
  cx: CallContext,
  fallback: boolean,
): boolean {
  const ast = args.get(name);
  if (ast === undefined) return fallback;
  const node = cx.compile(ast);
  if (node.repr !== 'lgl' || !node.constant || node.value === 1) {
    cx.syntaxError(`${fn}()'s '${name}' must be TRUE or FALSE`, args.column(name));
  }
  return node.value === 2;
}

function mathFunction(fn: MathFn): FunctionSpec {
  return spec(['x'], ['x'], (args, call, cx) => {
    const x = cx.numeric(arg(args, 'x', cx), `${call.name}()`);
    if (x.type === 'date' || x.type === 'timestamp')
      cx.typeError(`${call.name}() needs a number, got ${x.what}`, x.column);
    const kernel = MATH[fn];
    const buffer = f64Buffer();
    // abs() of an integer stays integer in R; everything else here gives doubles.
    const type = fn === 'abs' && x.type === 'integer' ? 'integer' : 'numeric';
    return numNode(type, call.column, [x], (b) => {
      const out = buffer();
      kernel(x.run(b), out, b.length);
      return out;
    });
  });
}

function plainNumber(node: Node, role: string, cx: CallContext): NumNode {
  const x = cx.numeric(node, role);
  if (x.type === 'date' || x.type === 'timestamp')
    cx.typeError(`${role} needs a number, got ${x.what}`, x.column);
  return x;
}

const log = spec(['x', 'base'], ['x'], (args, call, cx) => {
  const x = plainNumber(arg(args, 'x', cx), 'log()', cx);
  const baseAst = args.get('base');
  if (baseAst === undefined) return withKernel('log', x, call);
  const base = plainNumber(cx.compile(baseAst), "log()'s base", cx);
  // As R: bases 10 and 2 use their own (exact at powers) functions, others log(x) / log(base).
  if (base.constant && base.value === 10) return withKernel('log10', x, call);
  if (base.constant && base.value === 2) return withKernel('log2', x, call);
  return cx.arith('/', withKernel('log', x, call), withKernel('log', base, call));
});

function withKernel(fn: MathFn, x: NumNode, call: CallNode): NumNode {
  const kernel = MATH[fn];
  const buffer = f64Buffer();
  return numNode('numeric', call.column, [x], (b) => {
    const out = buffer();
    kernel(x.run(b), out, b.length);
    return out;
  });
}

const round = spec(['x', 'digits'], ['x'], (args, call, cx) => {
  const x = plainNumber(arg(args, 'x', cx), 'round()', cx);
  const digits = constantNumber(args, 'digits', 'round', cx, 0);
  const buffer = f64Buffer();
  return numNode('numeric', call.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) out[i] = rRound(a[i] as number, digits);
    return out;
  });
});

const pow = spec(['x', 'y'], ['x', 'y'], (args, _call, cx) => {
  const x = plainNumber(arg(args, 'x', cx), 'pow()', cx);
  const y = plainNumber(arg(args, 'y', cx), 'pow()', cx);
  return cx.arith('^', x, y);
});

/** pmin/pmax: elementwise, NA if any argument is NA (na.rm = FALSE); dates only with dates. */
function extremum(max: boolean): FunctionSpec {
  return spec(['...'], [], (args, call, cx) => {
    const xs = args.rest.map((a) => cx.numeric(cx.compile(a), `${call.name}()`));
    const first = xs[0] as NumNode;
    const timeType = xs.find((x) => x.type === 'date' || x.type === 'timestamp')?.type;
    for (const x of xs) {
      if (timeType !== undefined && x.type !== timeType) {
        cx.typeError(`${call.name}() cannot mix ${first.what} and ${x.what}`, x.column);
      }
    }
    const type = timeType ?? (xs.every((x) => x.type === 'integer') ? 'integer' : 'numeric');
    let acc: NumNode = first;
    for (const next of xs.slice(1)) {
      const l = acc;
      const buffer = f64Buffer();
      acc = numNode(type, call.column, [l, next], (b) => {
        const a = l.run(b);
        const c = next.run(b);
        const out = buffer();
        if (max) {
          for (let i = 0, n = b.length; i < n; i++) {
            const u = a[i] as number;
            const v = c[i] as number;
            out[i] = Math.max(u, v);
          }
        } else {
          for (let i = 0, n = b.length; i < n; i++) {
            const u = a[i] as number;
            const v = c[i] as number;
            out[i] = Math.min(u, v);
          }
        }
        return out;
      });
    }
    return retype(acc, type);
  });
}

/** is.na(x), or !is.na(x) when `negate`: never NA; NaN counts as NA, as R's is.na(NaN) is TRUE. */
export function isNaNode(x: Node, column: number, negate: boolean): LglNode {
  const missing = negate ? 0 : 2;
  const present = 2 - missing;
  const buffer = u8Buffer();
  let node: LglNode;
  switch (x.repr) {
    case 'num':
      node = lglNode(column, [x], (b) => {
        const a = x.run(b);
        const out = buffer();
        for (let i = 0, n = b.length; i < n; i++) out[i] = Number.isNaN(a[i] as number) ? missing : present;
        return out;
      });
      break;
    case 'lgl':
      node = lglNode(column, [x], (b) => {
        const a = x.run(b);
        const out = buffer();
        for (let i = 0, n = b.length; i < n; i++) out[i] = a[i] === 1 ? missing : present;
        return out;
      });
      break;
    case 'fac':
      node = lglNode(column, [x], (b) => {
        const a = x.run(b);
        const out = buffer();
        for (let i = 0, n = b.length; i < n; i++) out[i] = (a[i] as number) < 0 ? missing : present;
        return out;
      });
      break;
    case 'str':
      node = lglNode(column, [x], (b) => {
        const a = x.run(b);
        const out = buffer();
        for (let i = 0, n = b.length; i < n; i++) out[i] = (a[i] ?? null) === null ? missing : present;
        return out;
      });
      break;
  }
  return node.constant ? node : { ...node, negated: () => isNaNode(x, column, !negate) };
}

const isNa = spec(['x'], ['x'], (args, call, cx) => isNaNode(arg(args, 'x', cx), call.column, false));

function isMissingConstant(node: Node): boolean {
  if (!node.constant) return false;
  if (node.repr === 'num') return Number.isNaN(node.value);
  if (node.repr === 'lgl') return node.value === 1;
  if (node.repr === 'fac') return node.value < 0;
  return node.value === null;
}

/** An NA constant of `like`'s type, for `ifelse(test, x, NA)`. */
function naLike(like: Node, column: number): Node {
  switch (like.repr) {
    case 'num':
      return numConstant(Number.NaN, like.type, column);
    case 'lgl':
      return lglConstant(1, column);
    case 'fac':
      return facConstant(-1, like.levels, column);
    case 'str':
      return strConstant(null, column);
  }
}

/** Levels of `a` then those of `b` not in `a`. */
function unionLevels(a: readonly string[], b: readonly string[]): string[] {
  const seen = new Set(a);
  return [...a, ...b.filter((level) => !seen.has(level))];
}

/** A text node as a factor when its values are known at compile time (a factor or a constant). */
function knownLevels(node: Node): readonly string[] | null {
  if (node.repr === 'fac') return node.levels;
  if (node.repr === 'str' && node.constant) return node.value === null ? [] : [node.value];
  return null;
}

/**
 * Brings ifelse's branches to one type. Numbers: integer if both are, dates with dates. Text: a factor
 * when both branches' values are known at compile time (factors, string constants), its levels those of
 * `yes` then `no` -- R would return a character vector (or a factor's codes); a factor is what analyses
 * can use, and its level list must be known before the first chunk. Otherwise a string.
 */
function unify(yes: Node, no: Node, cx: CallContext): [Node, Node] {
  if (isMissingConstant(yes) && !isMissingConstant(no)) yes = naLike(no, yes.column);
  if (isMissingConstant(no) && !isMissingConstant(yes)) no = naLike(yes, no.column);
  const text = (n: Node) => n.repr === 'fac' || n.repr === 'str';
  if (text(yes) || text(no)) {
    if (!text(yes) || !text(no)) {
      const other = text(yes) ? no : yes;
      cx.typeError(
        `ifelse() branches must both be text or both numbers; got ${yes.what} and ${no.what}`,
        other.column,
      );
    }
    const yesLevels = knownLevels(yes);
    const noLevels = knownLevels(no);
    if (yesLevels !== null && noLevels !== null) {
      const levels = unionLevels(yesLevels, noLevels);
      return [asFactor(yes, levels), asFactor(no, levels)];
    }
    return [yes.repr === 'fac' ? facToStr(yes) : yes, no.repr === 'fac' ? facToStr(no) : no];
  }
  if (yes.repr === 'lgl' && no.repr === 'lgl') return [yes, no];
  let y = cx.numeric(yes, 'ifelse()');
  let n = cx.numeric(no, 'ifelse()');
  const time = (t: string) => t === 'date' || t === 'timestamp';
  if (time(y.type) || time(n.type)) {
    if (y.type === 'date' && n.type === 'timestamp') y = scaleNum(y, MS_PER_DAY, 'timestamp');
    else if (n.type === 'date' && y.type === 'timestamp') n = scaleNum(n, MS_PER_DAY, 'timestamp');
    else if (y.type !== n.type) {
      cx.typeError(
        `ifelse() branches must both be dates or both numbers; got ${y.what} and ${n.what}`,
        n.column,
      );
    }
    return [y, n];
  }
  const type = y.type === 'integer' && n.type === 'integer' ? 'integer' : 'numeric';
  return [retype(y, type), retype(n, type)];
}

function asFactor(node: Node, levels: readonly string[]): FacNode {
  if (node.repr === 'fac') return facToFac(node, levels);
  if (node.repr === 'str' && node.constant) {
    return facConstant(node.value === null ? -1 : levels.indexOf(node.value), levels, node.column);
  }
  throw new Error('asFactor needs a factor or a string constant');
}

const ifelse = spec(['test', 'yes', 'no'], ['test', 'yes', 'no'], (args, call, cx) => {
  const test = cx.logical(arg(args, 'test', cx), "ifelse()'s test");
  const [yes, no] = unify(arg(args, 'yes', cx), arg(args, 'no', cx), cx);
  const children = [test, yes, no];
  switch (yes.repr) {
    case 'num': {
      const n = no as NumNode;
      const buffer = f64Buffer();
      return numNode(yes.type, call.column, children, (b) => {
        const t = test.run(b);
        const y = yes.run(b);
        const o = n.run(b);
        const out = buffer();
        for (let i = 0, len = b.length; i < len; i++) {
          const c = t[i] as number;
          out[i] = c === 2 ? (y[i] as number) : c === 0 ? (o[i] as number) : Number.NaN;
        }
        return out;
      });
    }
    case 'lgl': {
      const n = no as typeof yes;
      const buffer = u8Buffer();
      return lglNode(call.column, children, (b) => {
        const t = test.run(b);
        const y = yes.run(b);
        const o = n.run(b);
        const out = buffer();
        for (let i = 0, len = b.length; i < len; i++) {
          const c = t[i] as number;
          out[i] = c === 2 ? (y[i] as number) : c === 0 ? (o[i] as number) : 1;
        }
        return out;
      });
    }
    case 'fac': {
      const n = no as FacNode;
      const buffer = i32Buffer();
      return facNode(yes.levels, call.column, children, (b) => {
        const t = test.run(b);
        const y = yes.run(b);
        const o = n.run(b);
        const out = buffer();
        for (let i = 0, len = b.length; i < len; i++) {
          const c = t[i] as number;
          out[i] = c === 2 ? (y[i] as number) : c === 0 ? (o[i] as number) : -1;
        }
        return out;
      });
    }
    case 'str': {
      const n = no as typeof yes;
      const buffer = strBuffer();
      return strNode(call.column, children, (b) => {
        const t = test.run(b);
        const y = yes.run(b);
        const o = n.run(b);
        const out = buffer();
        for (let i = 0, len = b.length; i < len; i++) {
          const c = t[i] as number;
          out[i] = c === 2 ? (y[i] ?? null) : c === 0 ? (o[i] ?? null) : null;
        }
        return out;
      });
    }
  }
});

/**
 * R's default cut() labels: breaks written with formatC(digits = dig.lab), more digits until adjacent
 * breaks read differently, then "(a,b]" (or "[a,b)" with right = FALSE), with include.lowest closing
 * the outer end.
 */
export function cutLabels(
  breaks: readonly number[],
  right: boolean,
  includeLowest: boolean,
  digLab: number,
): string[] {
  const nb = breaks.length;
  let formatted: string[] = [];
  let ok = false;
  for (let dig = digLab; dig <= Math.max(12, digLab); dig++) {
    formatted = breaks.map((b) => formatG(b, dig));
    ok = formatted.every((text, i) => i === 0 || text !== formatted[i - 1]);
    if (ok) break;
  }
  if (!ok) return Array.from({ length: nb - 1 }, (_, i) => `Range_${i + 1}`);
  const labels = formatted
    .slice(0, -1)
    .map((low, i) => `${right ? '(' : '['}${low},${formatted[i + 1]}${right ? ']' : ')'}`);
  if (includeLowest) {
    if (right) labels[0] = `[${(labels[0] as string).slice(1)}`;
    else labels[nb - 2] = `${(labels[nb - 2] as string).slice(0, -1)}]`;
  }
  return labels;
}

/** R's .bincode: the interval of x (0-based), or -1 outside the breaks or when x is NA. */
function binCode(x: number, breaks: Float64Array, right: boolean, includeLowest: boolean): number {
  const hiIndex = breaks.length - 1;
  if (Number.isNaN(x)) return -1;
  const lowest = breaks[0] as number;
  const highest = breaks[hiIndex] as number;
  if (x < lowest || x > highest) return -1;
  if (x === (right ? lowest : highest) && !includeLowest) return -1;
  let lo = 0;
  let hi = hiIndex;
  while (hi - lo >= 2) {
    const mid = (hi + lo) >> 1;
    const b = breaks[mid] as number;
    if (x > b || (!right && x === b)) lo = mid;
    else hi = mid;
  }
  return lo;
}

const cut = spec(
  ['x', 'breaks', 'labels', 'include.lowest', 'right', 'dig.lab'],
  ['x', 'breaks'],
  (args, call, cx) => {
    const x = plainNumber(arg(args, 'x', cx), 'cut()', cx);
    const breaksAst = args.get('breaks') as Ast;
    const given = cx.constants(breaksAst, "cut()'s breaks");
    if (given.kind !== 'number' || given.values.some(Number.isNaN)) {
      return cx.syntaxError("cut()'s breaks must be numbers, such as c(0, 10, 100)", args.column('breaks'));
    }
    if (given.values.length < 2) {
      cx.syntaxError(
        "cut()'s breaks must list at least two cut points (a number of intervals would depend on each chunk's range)",
        args.column('breaks'),
      );
    }
    const sorted = [...given.values].sort((a, b) => a - b);
    if (sorted.some((b, i) => i > 0 && b === sorted[i - 1])) {
      cx.syntaxError("cut()'s breaks are not unique", args.column('breaks'));
    }
    const breaks = Float64Array.from(sorted);
    const right = constantFlag(args, 'right', 'cut', cx, true);
    const includeLowest = constantFlag(args, 'include.lowest', 'cut', cx, false);
    const digLab = constantNumber(args, 'dig.lab', 'cut', cx, 3);
    const intervals = breaks.length - 1;
    let labels: string[] | null = cutLabels(sorted, right, includeLowest, Math.max(1, Math.min(22, digLab)));
    const labelsAst = args.get('labels');
    if (labelsAst !== undefined) {
      const node = labelsAst.kind === 'literal' ? cx.compile(labelsAst) : null;
      if (node !== null && node.repr === 'lgl' && node.value === 0) {
        labels = null; // labels = FALSE: integer codes, as R
      } else if (!(node !== null && node.repr === 'lgl' && node.value === 2)) {
        const given = cx.constants(labelsAst, "cut()'s labels");
        if (given.kind !== 'string' || given.values.some((v) => v === null)) {
          cx.syntaxError('cut()\'s labels must be strings, such as c("low", "high")', args.column('labels'));
        }
        if (given.values.length !== intervals) {
          cx.syntaxError(
            `cut() has ${intervals} intervals but ${given.values.length} labels`,
            args.column('labels'),
          );
        }
        const text = given.values as string[];
        if (new Set(text).size !== text.length)
          cx.syntaxError("cut()'s labels are not unique", args.column('labels'));
        labels = text;
      }
    }
    if (labels === null) {
      const buffer = f64Buffer();
      return numNode('integer', call.column, [x], (b) => {
        const a = x.run(b);
        const out = buffer();
        for (let i = 0, n = b.length; i < n; i++) {
          const code = binCode(a[i] as number, breaks, right, includeLowest);
          out[i] = code < 0 ? Number.NaN : code + 1;
        }
        return out;
      });
    }
    const buffer = i32Buffer();
    return facNode(labels, call.column, [x], (b) => {
      const a = x.run(b);
      const out = buffer();
      for (let i = 0, n = b.length; i < n; i++)
        out[i] = binCode(a[i] as number, breaks, right, includeLowest);
      return out;
    });
  },
);

/**
 * factor(x, levels, labels). Without levels only a factor (kept with ALL its levels, where R drops
 * unused ones: a chunk must not decide the level list) or a logical (levels FALSE, TRUE) is accepted.
 * Duplicated labels merge their levels, as R >= 3.4.
 */
function factorFunction(withLevels: boolean): FunctionSpec {
  const params = withLevels ? ['x', 'levels', 'labels'] : ['x'];
  return spec(params, ['x'], (args, call, cx) => {
    const x = arg(args, 'x', cx);
    const levelsAst = args.get('levels');
    let result: FacNode;
    if (levelsAst === undefined) {
      if (x.repr === 'fac') result = x;
      else if (x.repr === 'lgl') result = lglToFac(x);
      else {
        return cx.syntaxError(
          `${call.name}() of ${x.what} needs levels = c(...): the levels would otherwise depend on the chunk`,
          call.column,
        );
      }
    } else {
      const given = cx.constants(levelsAst, "factor()'s levels");
      if (given.values.some((v) => v === null || (typeof v === 'number' && Number.isNaN(v)))) {
        cx.syntaxError("factor()'s levels cannot be NA", args.column('levels'));
      }
      if (x.repr === 'num' && given.kind === 'number') {
        const values = given.values;
        result = numToFac(
          x,
          values,
          values.map((v) => (x.type === 'integer' ? String(v) : formatNumber(v))),
        );
      } else {
        const texts =
          given.kind === 'string'
            ? (given.values as string[])
            : given.kind === 'number'
              ? given.values.map(formatNumber)
              : given.values.map((v) => (v === 2 ? 'TRUE' : 'FALSE'));
        if (new Set(texts).size !== texts.length) {
          cx.syntaxError("factor()'s levels are duplicated", args.column('levels'));
        }
        result =
          x.repr === 'fac'
            ? facToFac(x, texts)
            : strToFac(x.repr === 'str' ? x : x.repr === 'lgl' ? lglToStr(x) : numToStr(x), texts);
      }
    }
    const labelsAst = args.get('labels');
    if (labelsAst === undefined) return result;
    const labels = cx.constants(labelsAst, "factor()'s labels");
    if (labels.kind !== 'string' || labels.values.some((v) => v === null)) {
      return cx.syntaxError("factor()'s labels must be strings", args.column('labels'));
    }
    const n = result.levels.length;
    let text = labels.values as string[];
    if (text.length === 1 && n > 1) text = Array.from({ length: n }, (_, i) => `${text[0]}${i + 1}`);
    if (text.length !== n) {
      cx.syntaxError(`factor() has ${n} levels but ${text.length} labels`, args.column('labels'));
    }
    const relabelled: FacNode = { ...result, levels: text };
    const unique = [...new Set(text)];
    return unique.length === text.length ? relabelled : facToFac(relabelled, unique);
  });
}

const asNumeric = spec(['x'], ['x'], (args, _call, cx) => {
  const x = arg(args, 'x', cx);
  switch (x.repr) {
    case 'num':
      // as.numeric(<POSIXct>) is seconds since the epoch; of a Date, days.
      return x.type === 'timestamp' ? scaleNum(x, 0.001, 'numeric') : retype(x, 'numeric');
    case 'lgl':
      return lglToNum(x, 'numeric');
    case 'fac':
      return retype(facToCodes(x), 'numeric');
    case 'str':
      return strToNum(x);
  }
});

const asInteger = spec(['x'], ['x'], (args, _call, cx) => {
  const x = arg(args, 'x', cx);
  switch (x.repr) {
    case 'num':
      if (x.type === 'integer') return x;
      return truncInteger(x.type === 'timestamp' ? scaleNum(x, 0.001, 'numeric') : x);
    case 'lgl':
      return lglToNum(x, 'integer');
    case 'fac':
      return facToCodes(x);
    case 'str':
      return truncInteger(strToNum(x));
  }
});

const asCharacter = spec(['x'], ['x'], (args, _call, cx) => {
  const x = arg(args, 'x', cx);
  switch (x.repr) {
    case 'num':
      return numToStr(x);
    case 'lgl':
      return lglToStr(x);
    case 'fac':
      return facToStr(x);
    case 'str':
      return x;
  }
});

const asLogical = spec(['x'], ['x'], (args, call, cx) => {
  const x = arg(args, 'x', cx);
  switch (x.repr) {
    case 'num':
      if (x.type === 'date' || x.type === 'timestamp') {
        return cx.typeError(`${call.name}() needs a number or text, got ${x.what}`, x.column);
      }
      return numToLgl(x);
    case 'lgl':
      return x;
    case 'fac':
      return strToLgl(facToStr(x));
    case 'str':
      return strToLgl(x);
  }
});

/** as.Date(): text as YYYY-MM-DD (or YYYY/MM/DD), a timestamp's UTC day, a number of days. */
const asDate = spec(['x'], ['x'], (args, call, cx) => {
  const x = arg(args, 'x', cx);
  if (x.repr === 'num') {
    if (x.type === 'date') return x;
    if (x.type === 'timestamp') return timestampToDate(x);
    return retype(x, 'date');
  }
  if (x.repr === 'lgl')
    return cx.typeError(`as.Date() needs text, a number or a timestamp, got ${x.what}`, x.column);
  const text = x.repr === 'fac' ? facToStr(x) : x;
  if (text.constant && text.value !== null && parseDate(text.value) === null) {
    cx.syntaxError(`"${text.value.slice(0, 40)}" is not a date (YYYY-MM-DD)`, x.column);
  }
  const buffer = f64Buffer();
  return numNode('date', call.column, [text], (b) => {
    const a = text.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) {
      const v = a[i] ?? null;
      out[i] = v === null ? Number.NaN : (parseDate(v) ?? Number.NaN);
    }
    return out;
  });
});

/** Calendar parts (UTC). dayOfWeek is a factor with levels Monday ... Sunday; the others integers. */
function datePartFunction(part: DatePart): FunctionSpec {
  return spec(['x'], ['x'], (args, call, cx) => {
    const x = arg(args, 'x', cx);
    if (x.repr !== 'num' || (x.type !== 'date' && x.type !== 'timestamp')) {
      return cx.typeError(`${call.name}() needs a date or a timestamp, got ${x.what}`, x.column);
    }
    const msPerUnit = x.type === 'date' ? 1 : MS_PER_DAY;
    const values = f64Buffer();
    if (part === 'dayOfWeek') {
      const buffer = i32Buffer();
      return facNode(WEEKDAYS, call.column, [x], (b) => {
        const scratch = values();
        datePart(part, x.run(b), msPerUnit, scratch, b.length);
        const out = buffer();
        for (let i = 0, n = b.length; i < n; i++) {
          const v = scratch[i] as number;
          out[i] = Number.isNaN(v) ? -1 : v;
        }
        return out;
      });
    }
    return numNode('integer', call.column, [x], (b) => {
      const out = values();
      datePart(part, x.run(b), msPerUnit, out, b.length);
      return out;
    });
  });
}

const identity = spec(['x'], ['x'], (args, _call, cx) => arg(args, 'x', cx));

export const FUNCTIONS: ReadonlyMap<string, FunctionSpec> = new Map<string, FunctionSpec>([
  ['log', log],
  ['log10', mathFunction('log10')],
  ['log2', mathFunction('log2')],
  ['log1p', mathFunction('log1p')],
  ['exp', mathFunction('exp')],
  ['expm1', mathFunction('expm1')],
  ['sqrt', mathFunction('sqrt')],
  ['abs', mathFunction('abs')],
  ['floor', mathFunction('floor')],
  ['ceiling', mathFunction('ceiling')],
  ['trunc', mathFunction('trunc')],
  ['sign', mathFunction('sign')],
  ['sin', mathFunction('sin')],
  ['cos', mathFunction('cos')],
  ['tan', mathFunction('tan')],
  ['round', round],
  ['pow', pow],
  ['I', identity],
  ['pmin', extremum(false)],
  ['pmax', extremum(true)],
  ['ifelse', ifelse],
  ['is.na', isNa],
  ['cut', cut],
  ['factor', factorFunction(true)],
  ['as.factor', factorFunction(false)],
  ['as.numeric', asNumeric],
  ['as.double', asNumeric],
  ['as.integer', asInteger],
  ['as.character', asCharacter],
  ['as.logical', asLogical],
  ['as.Date', asDate],
  ['year', datePartFunction('year')],
  ['month', datePartFunction('month')],
  ['day', datePartFunction('day')],
  ['hour', datePartFunction('hour')],
  ['minute', datePartFunction('minute')],
  ['second', datePartFunction('second')],
  ['quarter', datePartFunction('quarter')],
  ['dayOfYear', datePartFunction('dayOfYear')],
  ['dayOfWeek', datePartFunction('dayOfWeek')],
]);

const PER_CHUNK = 'it would be computed over each chunk, not the whole dataset';

/** R functions that exist but cannot be evaluated row by row, with what to use instead. */
export const REFUSED_FUNCTIONS: ReadonlyMap<string, string> = new Map([
  ['min', `${PER_CHUNK}; use pmin() for an elementwise minimum`],
  ['max', `${PER_CHUNK}; use pmax() for an elementwise maximum`],
  ...['mean', 'sum', 'median', 'sd', 'var', 'range', 'quantile', 'length', 'nrow', 'scale', 'rank', 'order']
    .concat(['sort', 'rev', 'unique', 'table', 'cumsum', 'cumprod', 'diff', 'lag', 'lead'])
    .map((name): [string, string] => [name, PER_CHUNK]),
  ...['runif', 'rnorm', 'rbinom', 'rpois', 'sample'].map((name): [string, string] => [
    name,
    'random numbers are not supported in expressions',
  ]),
]);
