/** Numbers as R writes them, where the text becomes data (factor labels, as.character). */

function nonFinite(x: number): string | null {
  if (Number.isNaN(x)) return 'NA';
  if (x === Number.POSITIVE_INFINITY) return 'Inf';
  if (x === Number.NEGATIVE_INFINITY) return '-Inf';
  return null;
}

function exponentText(exponent: number): string {
  const sign = exponent < 0 ? '-' : '+';
  return `e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

function stripZeros(mantissa: string): string {
  return mantissa.includes('.') ? mantissa.replace(/0+$/, '').replace(/\.$/, '') : mantissa;
}

/**
 * C's `%.{digits}g` (what R's formatC(x, digits, format = "g") and so cut()'s labels use): `digits`
 * significant digits, scientific when the exponent is below -4 or at least `digits`, trailing zeros dropped.
 */
export function formatG(x: number, digits: number): string {
  const special = nonFinite(x);
  if (special !== null) return special;
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const p = Math.max(1, digits);
  const [mantissa, exp] = x.toExponential(p - 1).split('e') as [string, string];
  const exponent = Number(exp);
  if (exponent < -4 || exponent >= p) return `${stripZeros(mantissa)}${exponentText(exponent)}`;
  return stripZeros(x.toFixed(p - 1 - exponent));
}

/**
 * R's as.character() of a double: the fewest significant digits (at most 15) that give back the value
 * to 15 digits, written fixed unless scientific notation is shorter (R's formatReal with scipen = 0).
 */
export function formatNumber(x: number): string {
  const special = nonFinite(x);
  if (special !== null) return special;
  if (x === 0) return '0';
  const [mantissa, exp] = x.toExponential(14).split('e') as [string, string];
  const exponent = Number(exp);
  const significant = stripZeros(mantissa).replace('-', '').replace('.', '').length;
  const negative = x < 0 ? 1 : 0;
  const decimals = Math.max(0, significant - 1 - exponent);
  const fixedWidth = negative + (exponent >= 0 ? exponent + 1 : 1) + (decimals > 0 ? decimals + 1 : 0);
  const sciWidth = negative + (significant > 1 ? significant + 1 : 1) + (Math.abs(exponent) >= 100 ? 5 : 4);
  if (fixedWidth <= sciWidth) return x.toFixed(decimals);
  return `${stripZeros(mantissa)}${exponentText(exponent)}`;
}
