import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TSchema } from 'typebox';
import type { ExecPlugin } from './pluginApi.ts';

/** The registered functions found in EXEC_PLUGINS_DIR, and what went wrong loading the others. */
export interface PluginSet {
  get(name: string): ExecPlugin | undefined;
  names(): string[];
  /** One line per module that could not be loaded or does not fit the contract (logged at start). */
  readonly problems: readonly string[];
}

const MODULE_FILE = /^[^._].*\.(ts|mts|js|mjs)$/;
const FUNCTION_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,99}$/;

/** Why `exports` is not an ExecPlugin, or null when it is one. */
function contractProblem(exports: Record<string, unknown>): string | null {
  const { name, argsSchema, run } = exports;
  if (typeof name !== 'string' || !FUNCTION_NAME.test(name))
    return "exports no valid 'name' (letters, digits, _ . -, starting with a letter)";
  if (typeof argsSchema !== 'object' || argsSchema === null)
    return `'${name}' exports no 'argsSchema' (a TypeBox schema)`;
  if (typeof run !== 'function') return `'${name}' exports no 'run(args, ctx)' function`;
  return null;
}

/**
 * Imports every module at the top of each folder (`.ts`, `.mts`, `.js`, `.mjs`; not `.d.ts`, nor names
 * starting with `.` or `_`, which plugins may use for their own helpers). A folder that does not exist
 * holds nothing; a module that fails to import, breaks the contract or repeats a name is left out and
 * reported in `problems`, so one broken plugin does not take the others down.
 */
export async function loadPlugins(dirs: readonly string[]): Promise<PluginSet> {
  const plugins = new Map<string, ExecPlugin>();
  const problems: string[] = [];
  for (const dir of dirs) {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    const files = entries
      .filter((e) => e.isFile() && MODULE_FILE.test(e.name) && !e.name.endsWith('.d.ts'))
      .map((e) => path.join(dir, e.name))
      .sort();
    for (const file of files) {
      let exports: Record<string, unknown>;
      try {
        exports = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      } catch (error) {
        problems.push(`${file}: failed to load: ${(error as Error).message ?? String(error)}`);
        continue;
      }
      const problem = contractProblem(exports);
      if (problem !== null) {
        problems.push(`${file}: ${problem}`);
        continue;
      }
      const plugin: ExecPlugin = {
        name: exports['name'] as string,
        argsSchema: exports['argsSchema'] as TSchema,
        run: exports['run'] as ExecPlugin['run'],
        ...(typeof exports['description'] === 'string' ? { description: exports['description'] } : {}),
      };
      if (plugins.has(plugin.name)) {
        problems.push(`${file}: '${plugin.name}' is already registered by another module; left out`);
        continue;
      }
      plugins.set(plugin.name, plugin);
    }
  }
  return {
    get: (name) => plugins.get(name),
    names: () => [...plugins.keys()].sort(),
    problems,
  };
}
