/**
 * The one kernel of the least-squares solver: fold a block of rows into an upper-triangular R with
 * Householder reflections, so that afterwards R^T R = R_old^T R_old + B^T B, i.e. R is the R factor
 * of the rows stacked so far. Used for a chunk's rows (a block at a time), for merging two partials
 * (the other R is the block) and for single correction rows.
 *
 * Layout: R is k x k row-major (`r[i * k + j]`, only i <= j is read or written); the block is
 * column-major with leading dimension `ld` (`block[j * ld + i]` is row i, column j), so the inner
 * loops of the reflection run down contiguous memory. The block is overwritten (its column j is
 * garbage once column j has been folded in).
 *
 * Why Householder and not Givens: one reflection per column annihilates a whole block column at once,
 * with one dot product and one axpy per later column, i.e. about rows * k^2 multiply-adds per block,
 * half of what row-by-row Givens rotations cost, and the loops are plain typed-array sweeps.
 *
 * Stacked-row form (as LAPACK's dtpqrt): for column j the reflector acts on R's row j and the block's
 * rows only, because R's rows below j are zero in columns <= j; its vector is v = [alpha - beta; b],
 * with alpha = R[j][j], b = the block column and beta = -sign(alpha) * ||[alpha; b]||, the sign that
 * avoids cancellation in alpha - beta.
 */

/**
 * Sum of squares of `block[from .. from+count)`, safe from overflow and underflow: the plain sum is
 * used when it is a normal finite number (the common case, one pass); otherwise the values are
 * rescaled by their largest magnitude first.
 */
function sumOfSquares(block: Float64Array, from: number, count: number): number {
  let sum = 0;
  for (let i = from; i < from + count; i++) {
    const x = block[i] as number;
    sum += x * x;
  }
  if (sum < 1e300 && (sum > 1e-290 || sum === 0)) return sum;
  let scale = 0;
  for (let i = from; i < from + count; i++) scale = Math.max(scale, Math.abs(block[i] as number));
  if (scale === 0 || !Number.isFinite(scale)) return scale === 0 ? 0 : sum;
  let scaled = 0;
  for (let i = from; i < from + count; i++) {
    const x = (block[i] as number) / scale;
    scaled += x * x;
  }
  return scaled * scale * scale;
}

/**
 * Folds `rows` rows of `block` into `r` (k x k). With `triangular`, the block is itself upper
 * triangular (row i is zero before column i: another partial's R), and only its first j + 1 rows take
 * part in column j's reflection, which keeps the block triangular and costs k^3 / 3 instead of k^3.
 */
export function absorbRows(
  r: Float64Array,
  k: number,
  block: Float64Array,
  ld: number,
  rows: number,
  triangular = false,
): void {
  for (let j = 0; j < k; j++) {
    const active = triangular ? Math.min(rows, j + 1) : rows;
    if (active === 0) continue;
    const colJ = j * ld;
    const sigma = sumOfSquares(block, colJ, active);
    if (sigma === 0) continue; // nothing to annihilate: R's row j stays as it is, bit for bit
    const diag = j * k + j;
    const alpha = r[diag] as number;
    const norm = Math.sqrt(alpha * alpha + sigma);
    const beta = alpha >= 0 ? -norm : norm;
    const v0 = alpha - beta;
    // H = I - (2 / v^T v) v v^T with v^T v = v0^2 + sigma.
    const scale = 2 / (v0 * v0 + sigma);
    r[diag] = beta;
    // Later columns two at a time: one sweep down column j serves two dot products and two updates
    // (measured ~1.3x faster than one column at a time on 200k x 11).
    let l = j + 1;
    for (; l + 1 < k; l += 2) {
      const colL = l * ld;
      const colM = colL + ld;
      const rowL = j * k + l;
      let s = v0 * (r[rowL] as number);
      let t = v0 * (r[rowL + 1] as number);
      for (let i = 0; i < active; i++) {
        const v = block[colJ + i] as number;
        s += v * (block[colL + i] as number);
        t += v * (block[colM + i] as number);
      }
      s *= scale;
      t *= scale;
      r[rowL] = (r[rowL] as number) - s * v0;
      r[rowL + 1] = (r[rowL + 1] as number) - t * v0;
      for (let i = 0; i < active; i++) {
        const v = block[colJ + i] as number;
        block[colL + i] = (block[colL + i] as number) - s * v;
        block[colM + i] = (block[colM + i] as number) - t * v;
      }
    }
    if (l < k) {
      const colL = l * ld;
      const rowL = j * k + l;
      let s = v0 * (r[rowL] as number);
      for (let i = 0; i < active; i++) s += (block[colJ + i] as number) * (block[colL + i] as number);
      s *= scale;
      r[rowL] = (r[rowL] as number) - s * v0;
      for (let i = 0; i < active; i++)
        block[colL + i] = (block[colL + i] as number) - s * (block[colJ + i] as number);
    }
  }
}

/** A row-major k x k upper-triangular matrix as a column-major block of k rows (for `absorbRows`). */
export function triangleAsBlock(r: Float64Array, k: number): Float64Array {
  const block = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = i; j < k; j++) block[j * k + i] = r[i * k + j] as number;
  return block;
}
