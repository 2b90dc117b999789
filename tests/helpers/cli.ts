import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ROOT } from './server.js';

export const CLI = join(ROOT, 'src/cli/bin.ts');
/** tsx's loader by its own path, so the command also runs from folders outside the repository. */
const TSX = import.meta.resolve('tsx');

/** Where the command runs (default: the repository root) and what its standard input reads. */
export interface CliOptions {
  readonly cwd?: string;
  /** Piped into the command's standard input; it may never end (the command may stop reading). */
  readonly stdin?: Readable;
}

/** Runs the real `slipway` command (from sources) and collects what it printed and its exit code. */
export function slipway(
  args: string[],
  env: Record<string, string> = {},
  options: CliOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, SLIPWAY_LOG_LEVEL: 'silent', ...env },
    });
    if (options.stdin) {
      // The command may close its input before the source ends: that is not a test failure.
      child.stdin.on('error', () => {});
      options.stdin.pipe(child.stdin);
      child.on('close', () => options.stdin?.destroy());
    }
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
