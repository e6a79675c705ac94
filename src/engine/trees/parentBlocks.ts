import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { JobIO } from '../jobIO.ts';

/**
 * Where the coordinator keeps a split node's merged histogram until the pass that derives its larger
 * child from it (histogram subtraction, levelGrowth.ts). On the queue: files in the job's folder, which
 * every worker shares, so the next pass's coordinator may run in any process (the runner removes the
 * folder when the job ends). Without a job folder (in-process runs): this process's memory.
 *
 * A block lost on the way (a crash between passes) is not an error: the pass is run again with every
 * histogram built by the tasks.
 */
export interface ParentBlocks {
  /** Keeps a copy of `block` (the caller may reuse its memory). */
  put(tree: number, node: number, block: Float64Array): Promise<void>;
  /**
   * The block, removed from the store; null when it is not there. Valid until the next `put` to this
   * store (a pass takes its parents' blocks before it puts its own, and the memory store then reuses
   * their memory).
   */
  take(tree: number, node: number): Promise<Float64Array | null>;
  /** Drops whatever is left (the fit is done). */
  clear(): Promise<void>;
}

const FOLDER = 'treeHistograms';
const memory = new Map<string, Float64Array>();

/** Blocks in this process's memory (in-process runs, and local fits: trees/localData.ts). */
export function memoryBlocks(nonce: string): ParentBlocks {
  const key = (tree: number, node: number) => `${nonce}/${tree}-${node}`;
  // Blocks handed out by take, and free ones: a local fit puts and takes thousands of equal blocks,
  // and reusing them spares the collector that much external memory.
  let taken: Float64Array[] = [];
  const free: Float64Array[] = [];
  return {
    async put(tree, node, block) {
      if (taken.length > 0) {
        free.push(...taken);
        taken = [];
      }
      let own = free.pop();
      if (own === undefined || own.length !== block.length) own = new Float64Array(block.length);
      own.set(block);
      memory.set(key(tree, node), own);
    },
    async take(tree, node) {
      const block = memory.get(key(tree, node)) ?? null;
      memory.delete(key(tree, node));
      if (block !== null) taken.push(block);
      return block;
    },
    async clear() {
      for (const k of [...memory.keys()]) if (k.startsWith(`${nonce}/`)) memory.delete(k);
      taken = [];
      free.length = 0;
    },
  };
}

export async function parentBlocks(io: JobIO, nonce: string): Promise<ParentBlocks> {
  let folder: string;
  try {
    folder = await io.folder(FOLDER);
  } catch {
    return memoryBlocks(nonce);
  }
  const file = (tree: number, node: number) => path.join(folder, `${tree}-${node}.f64`);
  return {
    async put(tree, node, block) {
      await writeFile(file(tree, node), new Uint8Array(block.buffer, block.byteOffset, block.byteLength));
    },
    async take(tree, node) {
      try {
        const bytes = await readFile(file(tree, node));
        // Copied into an aligned buffer: Buffer memory may not be 8-byte aligned.
        const block = new Float64Array(bytes.byteLength / 8);
        new Uint8Array(block.buffer).set(bytes);
        await rm(file(tree, node), { force: true });
        return block;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    async clear() {
      await rm(folder, { recursive: true, force: true });
    },
  };
}
