import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../src/engine/errors.ts';
import { parseSummaryFormula } from '../../src/engine/formula/simpleFormula.ts';
import { editDistance } from '../../src/engine/formula/suggest.ts';
import { makeDataset } from './helpers.ts';

const { meta } = makeDataset(
  [
    { name: 'delay', type: 'numeric', values: [1, 2] },
    { name: 'Sepal.Length', type: 'numeric', values: [1, 2] },
    { name: 'x_1', type: 'integer', values: [1, 2] },
    { name: 'flag', type: 'logical', values: [true, false] },
    { name: 'g', type: 'factor', values: ['a', 'b'] },
    { name: 'h', type: 'factor', values: ['u', 'v'] },
    { name: 'odd name', type: 'numeric', values: [1, 2] },
    { name: 'label', type: 'string', values: ['p', 'q'] },
  ],
  2,
);

function fails(formula: string, code: string, message?: RegExp, status?: number): EngineError {
  try {
    parseSummaryFormula(formula, meta);
  } catch (error) {
    assert.ok(error instanceof EngineError, `${formula}: ${String(error)}`);
    assert.equal(error.code, code, `${formula}: ${error.message}`);
    if (message) assert.match(error.message, message);
    if (status) assert.equal(error.status, status);
    return error;
  }
  assert.fail(`${formula} should fail with ${code}`);
}

describe('summary formula parser', () => {
  it('reads numeric and factor terms, R-style and backquoted names', () => {
    const parsed = parseSummaryFormula('~ delay + Sepal.Length + x_1 + `odd name` + g + flag', meta);
    assert.deepEqual(
      parsed.terms.map((t) => [t.kind, t.label]),
      [
        ['numeric', 'delay'],
        ['numeric', 'Sepal.Length'],
        ['numeric', 'x_1'],
        ['numeric', 'odd name'],
        ['factor', 'g'],
        ['numeric', 'flag'],
      ],
    );
    assert.deepEqual(parsed.variables, ['delay', 'Sepal.Length', 'x_1', 'odd name', 'g', 'flag']);
  });

  it('reads y:g and y:g1:g2 as by-group terms, in either order, and g:h as cell counts', () => {
    const parsed = parseSummaryFormula('~ delay:g + g:x_1:h + g:h', meta);
    assert.deepEqual(parsed.terms, [
      { kind: 'byGroup', label: 'delay:g', variable: 'delay', groups: ['g'] },
      { kind: 'byGroup', label: 'g:x_1:h', variable: 'x_1', groups: ['g', 'h'] },
      { kind: 'factor', label: 'g:h', factors: ['g', 'h'] },
    ]);
  });

  it('reads y ~ g as ~ y:g (the response joins the first term)', () => {
    assert.deepEqual(parseSummaryFormula('delay ~ g + h', meta).terms, [
      { kind: 'byGroup', label: 'delay:g', variable: 'delay', groups: ['g'] },
      { kind: 'factor', label: 'h', factors: ['h'] },
    ]);
    assert.equal(parseSummaryFormula('delay ~ g:h', meta).terms[0]?.label, 'delay:g:h');
  });

  it('expands ~ . to every non-string variable (minus excluded ones), once each', () => {
    const parsed = parseSummaryFormula('~ . + delay', meta, { exclude: ['flag'] });
    assert.deepEqual(
      parsed.terms.map((t) => t.label),
      ['delay', 'Sepal.Length', 'x_1', 'g', 'h', 'odd name'],
    );
    assert.equal(parsed.dotColumn, 3);
  });

  it('suggests the nearest name for an unknown variable, with its column', () => {
    const error = fails('~ x + dealy', 'UNKNOWN_VARIABLE');
    // 'x' is unknown too and comes first: check the column and suggestion of a single typo instead.
    assert.match(error.message, /unknown variable 'x' at column 3/);
    const typo = fails('~ delay + dealy', 'UNKNOWN_VARIABLE');
    assert.equal(typo.message, "unknown variable 'dealy' at column 11; did you mean 'delay'?");
    assert.deepEqual(typo.details, { variable: 'dealy', column: 11, suggestion: 'delay' });
    assert.equal(typo.status, 400);
    fails('~ Sepal.Lenght', 'UNKNOWN_VARIABLE', /did you mean 'Sepal.Length'\?/);
    fails('~ DELAY', 'UNKNOWN_VARIABLE', /did you mean 'delay'\?/);
    const far = fails('~ zzzzzzzz', 'UNKNOWN_VARIABLE');
    assert.doesNotMatch(far.message, /did you mean/);
  });

  it('reports syntax errors with their column', () => {
    fails('', 'INVALID_FORMULA', /empty/);
    fails('delay', 'INVALID_FORMULA', /expected '~' at column 6/);
    fails('~ delay +', 'INVALID_FORMULA', /expected a term after '\+' at column 10/);
    fails('~ delay + + g', 'INVALID_FORMULA', /column 11/);
    fails('~ delay:', 'INVALID_FORMULA', /after ':' at column 9/);
    fails('~ delay g', 'INVALID_FORMULA', /found 'g' at column 9/);
    fails('~ `open', 'INVALID_FORMULA', /unclosed backquote at column 3/);
    fails('~ delay * g', 'INVALID_FORMULA', /operator '\*' .* at column 9/);
    fails('~ delay:F(x_1)', 'INVALID_FORMULA', /F\(\).* at column 9/);
    fails('~ delay ~ g', 'INVALID_FORMULA', /column 9/);
    fails('~ delay $', 'INVALID_FORMULA', /unexpected character '\$' at column 9/);
    fails('delay ~ .', 'INVALID_FORMULA', /'\.' cannot be used with a response/);
    fails('~ g:g', 'INVALID_FORMULA', /appears twice/);
  });

  it('rejects strings and numeric grouping as WRONG_VARIABLE_TYPE (422)', () => {
    fails('~ label', 'WRONG_VARIABLE_TYPE', /string/, 422);
    fails('~ delay:x_1', 'WRONG_VARIABLE_TYPE', /grouping by a numeric variable arrives with F\(\)/, 422);
    fails('delay ~ x_1', 'WRONG_VARIABLE_TYPE', /F\(\)/, 422);
  });

  it('measures edit distance with transpositions', () => {
    assert.equal(editDistance('dealy', 'delay'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
  });
});
