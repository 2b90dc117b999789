import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { type ErrorCode, SlipwayError } from '../../errors/index.js';
import type { WorkerFailure, WorkerRequest, WorkerResponse } from './worker-protocol.js';

/** How long a worker that is asked to stop may take before it is killed. */
const TERMINATE_GRACE_MS = 2000;

/** `Omit` applied to each member of a union rather than to the union as a whole. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A request without its id (the slot numbers it). */
type Payload = DistributiveOmit<WorkerRequest, 'id'>;

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout | undefined;
  readonly crashCode: ErrorCode;
}

/** Why a worker process was replaced: it died, it overran a deadline, or it could not start. */
export type WorkerRestartReason = 'crashed' | 'deadline' | 'start_failed';

export interface WorkerPoolOptions {
  readonly size: number;
  /** Longest one `run` may take; past it the worker is terminated and replaced. */
  readonly runTimeoutMs: number;
  readonly logger: Logger;
  /** Told each time a worker process is replaced, and why. */
  readonly onRestart?: (reason: WorkerRestartReason) => void;
  /** Starts one worker process; the default forks `onnx-worker`. Tests substitute failing starts. */
  readonly startWorker?: () => ChildProcess;
}

/**
 * A set of inference worker processes: `size` of them, more while a reservation asks for more (a
 * batch run scoring with every core). Loads go to every worker (each holds its own session); runs go
 * to the ready worker with the fewest calls in flight. A worker that dies or overruns its deadline is
 * killed and replaced, and the replacement reloads every model before it takes work, so one poisonous
 * request costs one request, not the server. Messages are structured clones (V8 serialization), so
 * typed arrays, including BigInt64Array, cross the pipe as they are.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  /** Bytes of every loaded model, so a replacement worker can reload them. */
  private readonly models = new Map<string, Uint8Array>();
  /** The sizes asked for by reservations still held. */
  private readonly reservations: number[] = [];
  /** Workers past the reserved size, finishing their calls before they stop. */
  private readonly retiring = new Set<Promise<void>>();
  private readonly start: () => ChildProcess;
  private closed = false;

  constructor(private readonly options: WorkerPoolOptions) {
    this.start = options.startWorker ?? startWorker;
    for (let i = 0; i < options.size; i += 1) this.slots.push(new Slot(i, this, this.start, false));
  }

  /** How many workers the pool has now. */
  get size(): number {
    return this.slots.length;
  }

  /**
   * Keeps at least `size` workers until the returned function is called. Workers added for it load
   * every model before they take a call; when the last reservation that needed them ends, they finish
   * the calls they have and stop.
   */
  reserve(size: number): () => Promise<void> {
    if (this.closed) throw new SlipwayError('UNAVAILABLE', 'The inference runtime is shutting down.');
    this.reservations.push(size);
    while (this.slots.length < size) this.slots.push(new Slot(this.slots.length, this, this.start, true));
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      this.reservations.splice(this.reservations.indexOf(size), 1);
      const keep = Math.max(this.options.size, ...this.reservations);
      for (const slot of this.slots.splice(keep)) {
        const retired = slot.retire();
        this.retiring.add(retired);
        void retired.finally(() => this.retiring.delete(retired));
      }
      await Promise.all(this.retiring);
    };
  }

  /** Waits until every worker has started. */
  async started(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.ready));
  }

  async inspect<T>(bytes: Uint8Array): Promise<T> {
    // A model that crashes the parser is a bad model, not a server fault.
    return this.pick().call<T>({ op: 'inspect', bytes }, undefined, 'INVALID_MODEL');
  }

  async load(key: string, bytes: Uint8Array): Promise<void> {
    this.models.set(key, bytes);
    try {
      await Promise.all(
        this.slots.map((slot) => slot.call({ op: 'load', key, bytes }, undefined, 'INVALID_MODEL')),
      );
    } catch (error) {
      this.models.delete(key);
      await this.unload(key);
      throw error;
    }
  }

  async unload(key: string): Promise<void> {
    this.models.delete(key);
    await Promise.all(this.slots.map((slot) => slot.call({ op: 'unload', key }).catch(() => undefined)));
  }

  run<T>(payload: Payload, timeoutMs = this.options.runTimeoutMs): Promise<T> {
    return this.pick().call<T>(payload, timeoutMs, 'UNAVAILABLE');
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.slots.map((slot) => slot.terminate()), ...this.retiring]);
  }

  /**
   * Called by a slot whose new worker has started, when it did not start with the pool: a worker
   * that replaced one that died, or one added for a reservation. Reloads every model into it.
   */
  async reload(slot: Slot, replacement: boolean): Promise<void> {
    if (this.closed || slot.isStopping) return;
    if (replacement)
      this.options.logger.warn({ worker: slot.index, models: this.models.size }, 'inference worker replaced');
    const reloads = [...this.models].map(([key, bytes]) =>
      slot.call({ op: 'load', key, bytes }, undefined, 'INTERNAL', true).catch((error: unknown) => {
        this.options.logger.error(
          { worker: slot.index, key, err: error },
          'reload into replacement worker failed',
        );
      }),
    );
    await Promise.all(reloads);
  }

  /** Called by a slot as it replaces its worker. */
  restarting(reason: WorkerRestartReason): void {
    if (!this.closed) this.options.onRestart?.(reason);
  }

  /** Called by a slot whose worker exited before it was ready; the slot retries after a delay. */
  startFailed(slot: Slot, details: Record<string, unknown>): void {
    this.options.logger.error({ worker: slot.index, ...details }, 'inference worker failed to start');
  }

  /** The ready worker with the fewest calls in flight (any worker, to wait on, when none is ready). */
  private pick(): Slot {
    if (this.closed) throw new SlipwayError('UNAVAILABLE', 'The inference runtime is shutting down.');
    let best = this.slots[0]!;
    for (const slot of this.slots) {
      if (slot.isReady !== best.isReady ? slot.isReady : slot.inFlight < best.inFlight) best = slot;
    }
    return best;
  }
}

/** One worker and the calls it has in flight. */
class Slot {
  ready!: Promise<void>;
  /** Whether `ready` has resolved: the worker has started and holds every model. */
  isReady = false;
  private worker!: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stopping = false;
  /** Set while no worker of this slot has started; resolves `ready`. */
  private starting: (() => void) | undefined;
  private failedStarts = 0;
  /** Counts outages, so that a stale `ready` never marks a newer worker ready. */
  private generation = 0;
  /** Calls waiting for the worker to be ready (see `inFlight`). */
  private waiting = 0;
  /** Told once no call is in flight (see `retire`). */
  private readonly whenIdle: (() => void)[] = [];

  constructor(
    readonly index: number,
    private readonly pool: WorkerPool,
    private readonly start: () => ChildProcess,
    added: boolean,
  ) {
    this.spawn(added ? 'added' : 'first');
  }

  /** Calls sent and not answered, and calls waiting for the worker to be ready. */
  get inFlight(): number {
    return this.pending.size + this.waiting;
  }

  /**
   * Sends one request. `bypassReady` is for the reloads that make a replacement worker ready.
   * `crashCode` is the error the caller sees if the worker dies during the call.
   */
  async call<T>(
    payload: Payload,
    timeoutMs?: number,
    crashCode: ErrorCode = 'UNAVAILABLE',
    bypassReady = false,
  ): Promise<T> {
    // Counted from the moment it is accepted, so that calls picked in the same tick spread over the
    // workers; a ready worker takes the call at once, without waiting a turn.
    if (!bypassReady && !this.isReady) {
      this.waiting += 1;
      try {
        await this.ready;
      } finally {
        this.waiting -= 1;
      }
    }
    // Stopped while this call waited for the worker to start: it never will.
    if (this.stopping) throw new SlipwayError('UNAVAILABLE', 'The inference runtime is shutting down.');
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => this.overran(id, timeoutMs), timeoutMs).unref();
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer, crashCode });
      this.worker.send({ ...payload, id } as WorkerRequest);
    });
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  async terminate(): Promise<void> {
    this.stopping = true;
    // Calls waiting for a worker that has not started yet wake up, and fail as stopped.
    const wake = this.starting;
    this.starting = undefined;
    wake?.();
    const exited = new Promise<void>((resolve) => {
      if (this.worker.exitCode !== null || this.worker.signalCode !== null) resolve();
      else this.worker.once('exit', () => resolve());
    });
    // Asked to go first (it exits as its channel closes, writing anything it must, such as a CPU
    // profile); killed if it is still busy a moment later.
    if (this.worker.connected) this.worker.disconnect();
    const kill = setTimeout(() => this.worker.kill('SIGKILL'), TERMINATE_GRACE_MS);
    kill.unref();
    await exited;
    clearTimeout(kill);
    this.failAll('UNAVAILABLE', 'The inference runtime is shutting down.');
  }

  /**
   * Waits for the calls in flight (the pool no longer sends this slot any), then stops the worker:
   * a worker added for a reservation that has ended.
   */
  async retire(): Promise<void> {
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.whenIdle.push(resolve));
    await this.terminate();
  }

  /**
   * Starts a worker: one of the pool's first, one `added` for a reservation, or a `replacement` for
   * one that died. The last two reload every model before they are ready.
   */
  private spawn(kind: 'first' | 'added' | 'replacement'): void {
    const worker = this.start();
    this.worker = worker;
    // One wait per outage: callers already waiting keep waiting across failed starts.
    if (!this.starting) {
      this.isReady = false;
      const generation = ++this.generation;
      const started = new Promise<void>((resolve) => {
        this.starting = resolve;
      });
      const loaded =
        kind === 'first' ? started : started.then(() => this.pool.reload(this, kind === 'replacement'));
      this.ready = loaded.then(() => {
        if (this.generation === generation) this.isReady = true;
      });
    }
    let becameReady = false;
    worker.on('message', (message: WorkerResponse) => {
      if ('ready' in message) {
        becameReady = true;
        this.failedStarts = 0;
        const resolve = this.starting;
        this.starting = undefined;
        return resolve?.();
      }
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.forget(message.id);
      if (pending.timer) clearTimeout(pending.timer);
      if (message.ok) pending.resolve(message.result);
      else pending.reject(toError(message.error));
    });
    // 'exit' follows a fatal 'error'; the exit handler does the recovery.
    worker.on('error', () => undefined);
    worker.on('exit', (code, signal) => {
      if (this.stopping) return;
      const reason = 'The inference worker stopped unexpectedly while handling this request.';
      if (becameReady) return this.replace(reason, 'crashed');
      // A worker that cannot even start (a broken install, no memory) must not be restarted in a hot loop.
      this.failedStarts += 1;
      const delayMs = Math.min(5000, 100 * 2 ** this.failedStarts);
      this.pool.startFailed(this, { code, signal, attempt: this.failedStarts, retry_in_ms: delayMs });
      setTimeout(() => {
        if (!this.stopping) this.replace(reason, 'start_failed');
      }, delayMs).unref();
    });
  }

  private overran(id: number, timeoutMs: number): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.forget(id);
    pending.reject(
      new SlipwayError('DEADLINE_EXCEEDED', `Inference took longer than ${timeoutMs} ms and was stopped.`, {
        timeout_ms: timeoutMs,
      }),
    );
    // onnxruntime cannot interrupt a running session; killing the process is the only way to get the
    // core back. Calls queued behind this one on the same worker are lost with it.
    this.replace(
      'The inference worker was restarted because another request overran its deadline; retry.',
      'deadline',
    );
  }

  /**
   * Kills the current process and starts a new one at once, so no further call is sent to a process
   * that is going away; calls still pending on the old one fail (UNAVAILABLE unless stated otherwise).
   */
  private replace(reason: string, why: WorkerRestartReason): void {
    this.pool.restarting(why);
    const old = this.worker;
    old.removeAllListeners('exit');
    old.removeAllListeners('message');
    old.kill('SIGKILL');
    this.failAll(undefined, reason);
    this.spawn('replacement');
  }

  /** Removes a call that has settled; tells `retire` when it was the last. */
  private forget(id: number): void {
    this.pending.delete(id);
    if (this.inFlight === 0) for (const resolve of this.whenIdle.splice(0)) resolve();
  }

  private failAll(code: ErrorCode | undefined, message: string): void {
    for (const [id, pending] of this.pending) {
      this.forget(id);
      if (pending.timer) clearTimeout(pending.timer);
      pending.reject(new SlipwayError(code ?? pending.crashCode, message));
    }
  }
}

function toError(failure: WorkerFailure): SlipwayError {
  return new SlipwayError(failure.code, failure.message, failure.details);
}

/**
 * A worker's JavaScript allocates few objects (a batch's tensors, a message's arrays) that die young:
 * a young generation of 4 MB semi-spaces instead of V8's 16 MB holds them as well and keeps each
 * worker about 35 MB smaller while a batch job runs, at no measured cost in speed (bench/batch-scoring.ts).
 */
const WORKER_HEAP = ['--max-semi-space-size=4'];

/**
 * Starts a worker process from the built JavaScript, or, when Slipway runs from its TypeScript
 * sources (tests, `tsx`), with the TypeScript loader.
 */
export function startWorker(): ChildProcess {
  const fromSources = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(new URL(`./onnx-worker${fromSources ? '.ts' : '.js'}`, import.meta.url));
  // Only V8's CPU profiler flags carry over (`make bench` profiles every process); nothing else of
  // the server's own flags reaches a worker.
  const profiler = process.execArgv.filter((flag) => flag.startsWith('--cpu-prof'));
  return fork(script, [], {
    serialization: 'advanced',
    execArgv: [...(fromSources ? ['--import', 'tsx'] : []), ...WORKER_HEAP, ...profiler],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}
