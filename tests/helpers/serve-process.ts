import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './server.js';

const CLI = join(ROOT, 'src/cli/bin.ts');

/**
 * Starts `slipway serve` (all-in-one, local mode) as its own process, so a test can kill it with
 * SIGKILL, and returns its URL (and its gRPC address when SLIPWAY_GRPC_PORT turns gRPC on).
 */
export async function serveProcess(
  dataDir: string,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; url: string; grpc: string | null }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, '--json', 'serve', '--port', '0', '--data-dir', dataDir],
    {
      cwd: ROOT,
      env: { ...process.env, SLIPWAY_LOG_LEVEL: 'silent', SLIPWAY_AUTH: 'off', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let stdout = '';
  const started = await new Promise<{ url: string; grpc?: string }>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      // The address is printed once, as one JSON object, when every HTTP process listens.
      const end = stdout.indexOf('\n}');
      if (end >= 0) resolve(JSON.parse(stdout.slice(0, end + 2)));
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}`)));
  });
  return { child, url: started.url, grpc: started.grpc ?? null };
}

/** Kills a process with SIGKILL (no chance to clean up) and waits until it is gone. */
export const killed = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
