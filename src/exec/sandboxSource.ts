import { RANDOM_SOURCE } from '../engine/exec/random.ts';

/**
 * The source each sandboxed run evaluates in its own fresh isolate, as the body of isolated-vm's
 * `evalClosure` with arguments `$0` args (JSON text), `$1` run index, `$2..$5` the run's random state
 * (engine/exec/random.ts), `$6` the most characters of JSON the value may take.
 *
 * Everything the run hands back is ONE string built in here: `{"ok":true,"value":...}` or
 * `{"ok":false,"code":...,"message":...}`. Thrown values, getters, toJSON and promises are all resolved
 * inside the isolate, under its time and memory limits (an error object whose `message` getter loops
 * forever would otherwise hang the host while isolated-vm copied it out). The host trusts nothing of
 * it: it parses the string, checks its shape and size, and passes on JSON text only.
 *
 * The builtins the wrapper needs are taken before the user's expression is evaluated, so code that
 * replaces JSON.stringify or Math.imul changes nothing here; the user's own values stay the user's.
 */
export function runSource(code: string): string {
  return `var __stringify = JSON.stringify, __parse = JSON.parse, __String = String, __Error = Error;
var __imul = Math.imul, __freeze = Object.freeze, __Promise = Promise;
var __describe = function (e) {
  try {
    if (e instanceof __Error) return __String(e.name) + ': ' + __String(e.message);
    return 'a non-Error value was thrown: ' + __String(e);
  } catch (_) {
    return 'an error that cannot be described was thrown';
  }
};
var __fail = function (code, e) {
  var message = __describe(e);
  if (message.length > 2000) message = message.substring(0, 2000) + '...';
  return __stringify({ ok: false, code: code, message: message });
};
var __finish = function (value) {
  var text;
  try {
    text = __stringify(value === undefined ? null : value);
  } catch (e) {
    return __fail('RESULT_NOT_JSON', e);
  }
  if (typeof text !== 'string') text = 'null';
  if (text.length > $6) {
    return __stringify({ ok: false, code: 'RESULT_TOO_LARGE',
      message: 'the value is ' + text.length + ' characters of JSON; a run may return at most ' + $6 + ' bytes' });
  }
  return '{"ok":true,"value":' + text + '}';
};
var __fn;
try {
  __fn = (
${code}
);
} catch (e) {
  return __fail('RUN_FAILED', e);
}
if (typeof __fn !== 'function') {
  return __stringify({ ok: false, code: 'CODE_NOT_A_FUNCTION',
    message: 'code must be a function expression such as (args, ctx) => ..., not a value of type ' + typeof __fn });
}
var __ctx = __freeze({ runIndex: $1, random: ${RANDOM_SOURCE}(__imul, $2, $3, $4, $5) });
var __value;
try {
  __value = __fn(__parse($0), __ctx);
} catch (e) {
  return __fail('RUN_FAILED', e);
}
if (__value !== null && (typeof __value === 'object' || typeof __value === 'function')) {
  var __then;
  try {
    __then = __value.then;
  } catch (e) {
    return __fail('RUN_FAILED', e);
  }
  if (typeof __then === 'function') {
    return __Promise.resolve(__value).then(__finish, function (e) { return __fail('RUN_FAILED', e); });
  }
}
return __finish(__value);`;
}

/** What the API compiles (never runs) to check the syntax of submitted code: line numbers are the user's. */
export function checkSource(code: string): string {
  return `(${code}\n)`;
}
