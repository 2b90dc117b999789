import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './server.js';

export const CLI = join(ROOT, 'src/cli/bin.ts');

/** Runs the real `slipway` command (from sources) and collects what it printed and its exit code. */
export function slipway(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, SLIPWAY_LOG_LEVEL: 'silent', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
