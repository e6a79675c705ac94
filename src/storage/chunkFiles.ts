import path from 'node:path';

/** File name of chunk `index` inside a dataset folder; zero-padded so a directory listing sorts in order. */
export function chunkFileName(index: number): string {
  return `${String(index).padStart(6, '0')}.arrow`;
}

export function chunkPath(datasetDir: string, index: number): string {
  return path.join(datasetDir, 'chunks', chunkFileName(index));
}
