/** Stored bytes a chunk aims at: inside DESIGN.md's 8-32 MB, small enough to hold a few in memory. */
export const TARGET_CHUNK_BYTES = 16 << 20;
export const MIN_ROWS_PER_CHUNK = 1000;
export const MAX_ROWS_PER_CHUNK = 1_000_000;

/** Default rows per chunk for rows of about `bytesPerRow` bytes, clamped to [1000, 1 000 000]. */
export function rowsPerChunkFor(bytesPerRow: number): number {
  const rows = bytesPerRow > 0 ? Math.round(TARGET_CHUNK_BYTES / bytesPerRow) : MAX_ROWS_PER_CHUNK;
  return Math.min(MAX_ROWS_PER_CHUNK, Math.max(MIN_ROWS_PER_CHUNK, rows));
}
