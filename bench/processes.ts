import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface StartOptions {
  /** On top of this process's environment; `undefined` removes a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
}

/** A process the bench started, with the file its output goes to. */
export interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  readonly log: string;
  /** Settles when the process exits, with its exit code (or the signal that ended it). */
  readonly exited: Promise<number | NodeJS.Signals>;
}

/**
 * Every process the bench starts, each in a process group of its own so that stopping it also stops
 * what it forked (uvicorn's and MLServer's workers, Slipway's inference workers, the cluster's
 * children). `stopAll` runs on every way out, Ctrl-C included; `killAllNow` is the synchronous last
 * resort for `process.on('exit')`.
 */
export class Processes {
  private readonly running = new Set<Started>();

  constructor(private readonly logDir: string) {
    mkdirSync(logDir, { recursive: true });
  }

  start(name: string, command: string, args: readonly string[], options: StartOptions = {}): Started {
    const log = join(this.logDir, `${name}.log`);
    const fd = openSync(log, 'a');
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    const exited = new Promise<number | NodeJS.Signals>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'SIGKILL'));
      child.once('error', (error) => {
        appendFileSync(log, `could not start ${command}: ${error.message}\n`);
        resolve(-1);
      });
    });
    const started: Started = { name, child, log, exited };
    this.running.add(started);
    void exited.then(() => this.running.delete(started));
    return started;
  }

  /** Runs a command to completion; rejects with the tail of its output when it fails. */
  async run(
    name: string,
    command: string,
    args: readonly string[],
    options: StartOptions = {},
  ): Promise<void> {
    const started = this.start(name, command, args, options);
    const code = await started.exited;
    if (code !== 0) throw new Error(`${name} exited with ${code}:\n${tail(started.log)}`);
  }

  /** SIGTERM to the process group, then SIGKILL whatever is left after `graceMs`. */
  async stop(started: Started, graceMs = 5000): Promise<void> {
    if (!this.running.has(started)) return;
    signalGroup(started.child, 'SIGTERM');
    const timedOut = await Promise.race([started.exited.then(() => false), sleep(graceMs, true)]);
    // The leader may be gone while its workers linger: the group gets SIGKILL either way.
    signalGroup(started.child, 'SIGKILL');
    if (timedOut) await started.exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running].map((started) => this.stop(started)));
  }

  killAllNow(): void {
    for (const started of this.running) signalGroup(started.child, 'SIGKILL');
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** The last lines of a log file, to show why a peer failed. */
export function tail(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

/** A TCP port on loopback that nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Polls `url` until it answers 200. Fails early when the process exits, and after `timeoutMs`,
 * with the tail of the process's output either way.
 */
export async function waitUntilReady(started: Started, url: string, timeoutMs = 90_000): Promise<void> {
  let exited: number | NodeJS.Signals | undefined;
  void started.exited.then((code) => {
    exited = code;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`${started.name} exited with ${exited}:\n${tail(started.log)}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.body?.cancel();
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await sleep(250);
  }
  throw new Error(
    `${started.name} was not ready at ${url} after ${timeoutMs / 1000} s:\n${tail(started.log)}`,
  );
}

/** What every bench script starts with: a stamped progress line, and a work folder with its processes. */
export interface BenchSession {
  /** A progress line on stderr, stamped with the time since the bench started. */
  progress(text: string): void;
  /** Everything the bench makes lives here and goes when it ends, however it ends. */
  readonly workDir: string;
  readonly processes: Processes;
}

/**
 * Opens a bench session: a temporary folder (prefixed `prefix`) holding the processes' logs, removed at
 * exit; SIGINT or SIGTERM stops every process before exiting with 130.
 */
export function benchSession(prefix: string): BenchSession {
  const started = Date.now();
  const progress = (text: string) => {
    const seconds = Math.round((Date.now() - started) / 1000);
    const stamp = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
    process.stderr.write(`[${stamp.padStart(5)}] ${text}\n`);
  };
  const workDir = mkdtempSync(join(tmpdir(), prefix));
  const processes = new Processes(join(workDir, 'logs'));
  process.on('exit', () => {
    processes.killAllNow();
    rmSync(workDir, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write('\n');
      progress(`${signal}: stopping`);
      void processes.stopAll().finally(() => process.exit(130));
    });
  }
  return { progress, workDir, processes };
}
