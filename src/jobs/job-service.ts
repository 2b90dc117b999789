import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Cron } from 'croner';
import type { Logger } from 'pino';
import type { AuditStore } from '../audit/audit-store.js';
import type { AlertSink } from '../domain/alert.js';
import type { Page } from '../domain/page.js';
import { type RequestContext, requireRole } from '../domain/roles.js';
import { SlipwayError } from '../errors/index.js';
import type { Metrics } from '../observability/metrics.js';
import {
  assertDate,
  compileJob,
  dateIn,
  FINISHED,
  type Job,
  type JobRun,
  type JobSpec,
  type Reprocess,
  type RunLogLine,
  type RunTrigger,
  renderQuery,
} from './job.js';
import type { JobRunner, RunProgress } from './job-runner.js';
import type { JobStore, RunQuery } from './job-store.js';
import { isWarehouseReference, maskConnectionString, namesOutsidePlace } from './warehouse/references.js';
import { checkSourceQuery } from './warehouse/source-query.js';

/** Backfills and catch-up never queue more than this many runs at once. */
export const MAX_QUEUED_DATES = 1000;
/** Backoff doubles per attempt up to an hour (or the job's own first delay, if longer). */
const MAX_RETRY_DELAY_MS = 3_600_000;

/** Why a run in progress is stopped (the abort reason of its controller). */
const STOP = { cancel: 'cancel', shutdown: 'shutdown', lost: 'lost' } as const;
const PROGRESS_EVERY_MS = 1000;

export interface JobServiceOptions {
  readonly store: JobStore;
  readonly audit: Pick<AuditStore, 'record'>;
  readonly runner: JobRunner;
  /** Warehouse names declared in slipway.yaml (references are checked against them on create). */
  readonly warehouses: Readonly<Record<string, string>>;
  /** How long a run's lease lasts without renewal; a dead process's run is failed after this. */
  readonly leaseMs: number;
  readonly metrics?: Pick<Metrics, 'jobRunEnded'>;
  /** Told of each run that ends failed (not cancelled), once its status is written. */
  readonly alerts?: AlertSink;
  readonly logger: Logger;
}

/**
 * Jobs and their runs: the API's operations, and the scheduler. Every server process that schedules
 * (the control server's leader) ticks once a second: it fails runs whose process died, queues runs for
 * schedule times that have come, and starts the next due run of each job whose lease it can take. The
 * lease lives in the registry database, so however many replicas tick, one runs a job at a time.
 */
export class JobService {
  private readonly holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly local = new Map<
    string,
    { run: JobRun; controller: AbortController; done: Promise<void> }
  >();
  private readonly crons = new Map<string, { key: string; cron: Cron }>();
  private readonly startedAt = new Date();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;

  constructor(private readonly options: JobServiceOptions) {}

  // ---- jobs ----------------------------------------------------------------------------------

  /** Creates a job from its spec; a job of that name already stored is refused (ALREADY_EXISTS). */
  async createJob(spec: JobSpec, context: RequestContext): Promise<Job> {
    return (await this.storeJob(spec, context, 'api', false)).job;
  }

  /** Creates or replaces a job from its spec; says whether it was created. */
  putJob(
    spec: JobSpec,
    context: RequestContext,
    origin: Job['origin'] = 'api',
  ): Promise<{ job: Job; created: boolean }> {
    return this.storeJob(spec, context, origin, true);
  }

  private async storeJob(
    spec: JobSpec,
    context: RequestContext,
    origin: Job['origin'],
    replace: boolean,
  ): Promise<{ job: Job; created: boolean }> {
    await this.checkSpec(spec, context);
    // A creation has no previous job to keep the history of: the store refuses one that exists.
    const previous = replace ? await this.options.store.findJob(spec.name) : null;
    const stored = compileJob(spec, context.actor.name, origin, previous ?? undefined);
    const { created } = await this.options.store.putJob(stored, { replace });
    if (
      !previous ||
      JSON.stringify({ ...previous, updatedAt: '' }) !== JSON.stringify({ ...stored, updatedAt: '' })
    ) {
      await this.audit(context, created ? 'job.create' : 'job.update', stored.name, { origin });
    }
    return { job: stored, created };
  }

  /**
   * What a spec needs beyond its shape before it is stored: warehouse references that name a
   * warehouse and stay out of Slipway's own data, and a query the source-query check accepts (with
   * `{{ logical_date }}` rendered, as a run renders it).
   */
  private async checkSpec(spec: JobSpec, context: RequestContext): Promise<void> {
    for (const [field, reference] of [
      ['source.warehouse', spec.source.warehouse],
      ['sink.warehouse', spec.sink.warehouse],
    ] as const) {
      if (reference === undefined) continue;
      if (!isWarehouseReference(reference, this.options.warehouses)) {
        throw new SlipwayError(
          'INVALID_ARGUMENT',
          `${field} "${maskConnectionString(reference)}" is neither "default", a warehouse declared in slipway.yaml (${Object.keys(this.options.warehouses).join(', ') || 'none declared'}), nor a duckdb:, files: or postgres:// URI.`,
          { field },
        );
      }
      // The query sandbox keeps a job inside its warehouse; who may choose where the warehouse is
      // (any folder, any database server) is the operator's decision, so it takes the admin role.
      if (namesOutsidePlace(reference, this.options.warehouses)) {
        requireRole(
          context.actor,
          'admin',
          `${field} "${maskConnectionString(reference)}" names a database server or a folder outside the data folder, which`,
        );
      }
      await this.options.runner.checkWarehouse(reference).catch((error: unknown) => {
        if (error instanceof SlipwayError) {
          throw new SlipwayError(error.code, `${field}: ${error.message}`, { ...error.details, field });
        }
        throw error;
      });
    }
    await checkSourceQuery(renderQuery(spec.source.query, '2000-01-01'));
  }

  getJob(name: string): Promise<Job> {
    return this.options.store.getJob(name);
  }

  listJobs(): Promise<Job[]> {
    return this.options.store.listJobs();
  }

  async deleteJob(name: string, context: RequestContext): Promise<void> {
    await this.options.store.deleteJob(name);
    this.crons.delete(name);
    await this.audit(context, 'job.delete', name, {});
  }

  async setPaused(name: string, paused: boolean, context: RequestContext): Promise<Job> {
    const job = await this.options.store.getJob(name);
    const updated: Job = { ...job, paused, updatedAt: new Date().toISOString() };
    await this.options.store.putJob(updated);
    await this.audit(context, paused ? 'job.pause' : 'job.resume', name, {});
    return updated;
  }

  // ---- runs ----------------------------------------------------------------------------------

  /** Queues a run of one logical date (default: today in the job's time zone). */
  async trigger(name: string, logicalDate: string | undefined, context: RequestContext): Promise<JobRun> {
    const job = await this.options.store.getJob(name);
    const date =
      logicalDate === undefined ? dateIn(new Date(), job.timezone) : assertDate(logicalDate, 'logical_date');
    const run = await this.queue(job, date, 'manual', context.actor.name);
    await this.audit(context, 'job.run', name, { run: run.id, logical_date: date });
    this.kick();
    return run;
  }

  /**
   * Queues one run per date from `from` to `to` (inclusive), oldest first unless `backwards`. Dates
   * with a queued or running run are never queued twice; `reprocess` says which dates that already
   * ran are run again: none, failed ones, or all completed ones.
   */
  async backfill(
    name: string,
    range: { from: string; to: string; reprocess?: Reprocess; backwards?: boolean },
    context: RequestContext,
  ): Promise<{ queued: JobRun[]; skipped: { date: string; reason: string }[] }> {
    const job = await this.options.store.getJob(name);
    const from = assertDate(range.from, 'from');
    const to = assertDate(range.to, 'to');
    if (from > to)
      throw new SlipwayError('INVALID_ARGUMENT', `from ${from} is after to ${to}.`, { field: 'from' });
    const dates: string[] = [];
    for (
      let day = new Date(`${from}T00:00:00Z`);
      day.toISOString().slice(0, 10) <= to;
      day.setUTCDate(day.getUTCDate() + 1)
    ) {
      dates.push(day.toISOString().slice(0, 10));
      if (dates.length > MAX_QUEUED_DATES) {
        throw new SlipwayError(
          'INVALID_ARGUMENT',
          `A backfill covers at most ${MAX_QUEUED_DATES} dates; split the range.`,
          {
            field: 'to',
          },
        );
      }
    }
    if (range.backwards) dates.reverse();
    const reprocess = range.reprocess ?? 'none';
    const latest = await this.options.store.latestRunsByDate(name, from, to);
    const queued: JobRun[] = [];
    const skipped: { date: string; reason: string }[] = [];
    for (const date of dates) {
      const last = latest.get(date);
      const reason =
        last === undefined
          ? null
          : !FINISHED.has(last.status)
            ? `run #${last.seq} is ${last.status}`
            : reprocess === 'completed' || (reprocess === 'failed' && last.status !== 'succeeded')
              ? null
              : `already ${last.status} (reprocess ${reprocess})`;
      if (reason) skipped.push({ date, reason });
      else queued.push(await this.queue(job, date, 'backfill', context.actor.name));
    }
    await this.audit(context, 'job.backfill', name, {
      from,
      to,
      reprocess,
      queued: queued.length,
      skipped: skipped.length,
    });
    this.kick();
    return { queued, skipped };
  }

  /** Cancels a queued run at once; asks a running one to stop (it stops within a batch). */
  async cancel(name: string, id: string, context: RequestContext): Promise<JobRun> {
    const run = await this.getRun(name, id);
    if (FINISHED.has(run.status)) {
      throw new SlipwayError('FAILED_PRECONDITION', `Run #${run.seq} of ${name} is already ${run.status}.`, {
        run: run.id,
        status: run.status,
      });
    }
    if (run.status === 'queued') {
      const now = new Date().toISOString();
      const done = await this.options.store.updateRun(
        run.id,
        { status: 'cancelled', finishedAt: now, error: `cancelled by ${context.actor.name}` },
        'queued',
      );
      if (!done) return this.cancel(name, id, context);
    } else {
      await this.options.store.requestCancel(run.id);
      this.local.get(name)?.controller.abort(STOP.cancel);
    }
    await this.options.store.appendLog(run.id, 'warn', `cancellation requested by ${context.actor.name}`);
    await this.audit(context, 'job.cancel', name, { run: run.id });
    return this.options.store.getRun(name, run.id);
  }

  listRuns(name: string, query?: RunQuery): Promise<Page<JobRun>> {
    return this.options.store.getJob(name).then(() => this.options.store.listRuns(name, query));
  }

  /** A run of a job; an unknown job is reported as such, not as a missing run. */
  async getRun(name: string, id: string): Promise<JobRun> {
    await this.options.store.getJob(name);
    return this.options.store.getRun(name, id);
  }

  async logs(name: string, id: string, afterSeq?: number): Promise<{ run: JobRun; lines: RunLogLine[] }> {
    const run = await this.getRun(name, id);
    return { run, lines: await this.options.store.listLogs(run.id, afterSeq) };
  }

  /**
   * Declares the jobs of slipway.yaml: created or updated; jobs made over the API are left alone.
   * Every spec is checked first, so a bad entry declares none and its error names the entry.
   */
  async declare(specs: readonly JobSpec[], context: RequestContext): Promise<void> {
    for (const [i, spec] of specs.entries()) {
      await this.checkSpec(spec, context).catch((error: unknown) => {
        if (!(error instanceof SlipwayError)) throw error;
        throw new SlipwayError(error.code, `slipway.yaml: jobs.${i} (${spec.name}): ${error.message}`, {
          ...error.details,
          field: `jobs.${i}`,
        });
      });
    }
    for (const spec of specs) await this.putJob(spec, context, 'config');
  }

  // ---- scheduler -----------------------------------------------------------------------------

  /** Starts ticking; `intervalMs` is how often schedules, orphans and queues are checked. */
  start(intervalMs = 1000): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
    this.kick();
  }

  /** Stops ticking and cancels runs in progress here (they end as cancelled and can be run again). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const { controller } of this.local.values()) controller.abort(STOP.shutdown);
    await Promise.allSettled([...this.local.values()].map((l) => l.done));
    await this.ticking;
  }

  /** Runs one tick now unless one is in progress. */
  private kick(): void {
    if (this.ticking || !this.timer) return;
    this.ticking = this.tick()
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'job scheduler tick failed'))
      .finally(() => {
        this.ticking = null;
      });
  }

  /** One pass of the scheduler: fail orphaned runs, queue due schedule times, start due runs. */
  private async tick(now = new Date()): Promise<void> {
    await this.failOrphans(now);
    await this.schedule(now);
    for (const job of await this.options.store.listJobs()) {
      if (!this.local.has(job.name)) {
        const run = await this.options.store.claimNextRun(
          job.name,
          this.holder,
          now.toISOString(),
          this.options.leaseMs,
        );
        if (run) this.execute(job, run);
      }
    }
  }

  /** Runs marked running whose lease expired belong to a process that died: fail them (and retry). */
  private async failOrphans(now: Date): Promise<void> {
    for (const run of await this.options.store.orphanedRuns(now.toISOString())) {
      if (this.local.get(run.job)?.run.id === run.id) continue;
      const error = 'the server process running it stopped before it finished (its lease expired)';
      const failed = await this.options.store.updateRun(
        run.id,
        { status: 'failed', finishedAt: now.toISOString(), error },
        'running',
      );
      if (!failed) continue;
      const ranFor = run.startedAt ? (now.getTime() - Date.parse(run.startedAt)) / 1000 : 0;
      this.options.metrics?.jobRunEnded(run.job, 'failed', ranFor, {
        scored: run.rowsWritten,
        rejected: run.rowsFailed,
      });
      await this.options.store.appendLog(run.id, 'error', error);
      const job = await this.options.store.findJob(run.job);
      const retry = job ? await this.retryLater(job, run, now) : null;
      this.alertFailed(job, run, error, retry);
    }
  }

  /**
   * Queues a run for each schedule time that has come since the job's watermark (the later of when
   * its schedule was set and its latest scheduled run), as the catch-up policy says: `all` of them,
   * only the `latest`, or (`none`) only times after this process started. Safe to call from every
   * replica: a schedule time gets one run whoever asks first.
   */
  async schedule(now: Date): Promise<void> {
    for (const job of await this.options.store.listJobs()) {
      if (!job.paused) await this.queueDue(job, now);
    }
  }

  private async queueDue(job: Job, now: Date): Promise<void> {
    if (job.schedule === null) return;
    const key = `${job.schedule}|${job.timezone}`;
    let entry = this.crons.get(job.name);
    if (entry?.key !== key) {
      entry = { key, cron: new Cron(job.schedule, { timezone: job.timezone, paused: true }) };
      this.crons.set(job.name, entry);
    }
    const since = [job.scheduleSince, await this.options.store.latestScheduledFor(job.name)];
    // `none` never replays what was missed while no server ran: only times after this process started.
    if (job.catchup === 'none') since.push(this.startedAt.toISOString());
    const watermark = new Date(
      since
        .filter((s): s is string => s !== null)
        .sort()
        .at(-1)!,
    );
    const due: Date[] = [];
    for (let next = entry.cron.nextRun(watermark); next && next <= now; next = entry.cron.nextRun(next)) {
      due.push(next);
      if (due.length > MAX_QUEUED_DATES) due.shift();
    }
    const chosen = job.catchup === 'all' ? due : due.slice(-1);
    for (const at of chosen) {
      const run = await this.options.store.createRun({
        job: job.name,
        logicalDate: dateIn(at, job.timezone),
        trigger: 'schedule',
        attempt: 1,
        scheduledFor: at.toISOString(),
        notBefore: at.toISOString(),
        actor: 'slipway',
      });
      if (run)
        await this.options.store.appendLog(
          run.id,
          'info',
          `scheduled for ${at.toISOString()} by "${job.schedule}" (${job.timezone})`,
        );
    }
  }

  private execute(job: Job, run: JobRun): void {
    const controller = new AbortController();
    const done = this.supervise(job, run, controller).finally(() => this.local.delete(job.name));
    this.local.set(job.name, { run, controller, done });
  }

  private async supervise(job: Job, run: JobRun, controller: AbortController): Promise<void> {
    const { store, runner, leaseMs, logger } = this.options;
    const log = (level: RunLogLine['level'], message: string) => {
      void store
        .appendLog(run.id, level, message)
        .catch((error: unknown) => logger.warn({ err: error }, 'could not write a run log line'));
    };
    const heartbeat = setInterval(
      () => {
        void store
          .renewLease(job.name, this.holder, new Date().toISOString(), leaseMs)
          .then(({ held, cancel }) => {
            if (!held) controller.abort(STOP.lost);
            else if (cancel) controller.abort(STOP.cancel);
          })
          .catch((error: unknown) => logger.warn({ err: error }, 'could not renew a job lease'));
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    let lastProgress = 0;
    let progress: RunProgress = { rowsRead: 0, rowsWritten: 0, rowsFailed: 0 };
    const started = Date.now();
    log(
      'info',
      `run #${run.seq} (attempt ${run.attempt}, ${run.trigger}) of ${run.logicalDate} started on ${this.holder}`,
    );
    try {
      const outcome = await runner.execute({
        job,
        run,
        signal: controller.signal,
        log,
        resolved: (version) =>
          void store.updateRun(run.id, { modelName: version.model, modelVersion: version.version }),
        expected: (rows) => void store.updateRun(run.id, { rowsExpected: rows }).catch(() => undefined),
        progress: (now) => {
          progress = now;
          if (Date.now() - lastProgress < PROGRESS_EVERY_MS) return;
          lastProgress = Date.now();
          void store.updateRun(run.id, now).catch(() => undefined);
        },
      });
      const seconds = (Date.now() - started) / 1000;
      // The last line is written before the status changes, so whoever follows the log until the
      // run ends sees it.
      await store.appendLog(
        run.id,
        'info',
        `succeeded in ${seconds.toFixed(1)} s (${Math.round(outcome.rowsRead / Math.max(seconds, 0.001))} rows/s)`,
      );
      await store.updateRun(run.id, {
        status: 'succeeded',
        finishedAt: new Date().toISOString(),
        rowsRead: outcome.rowsRead,
        rowsWritten: outcome.rowsWritten,
        rowsFailed: outcome.rowsFailed,
      });
      this.options.metrics?.jobRunEnded(job.name, 'succeeded', seconds, {
        scored: outcome.rowsWritten,
        rejected: outcome.rowsFailed,
      });
    } catch (error) {
      // Why the run stopped: a cancellation asked for, the server shutting down, the lease lost to a
      // replica that took the job over, or an error of the run itself.
      const reason = controller.signal.aborted ? (controller.signal.reason as string) : null;
      const message =
        reason === STOP.cancel
          ? 'cancelled'
          : reason === STOP.shutdown
            ? 'the server stopped during the run'
            : reason === STOP.lost
              ? 'the lease expired and another server process took the job over'
              : error instanceof Error
                ? error.message
                : String(error);
      await store
        .appendLog(run.id, reason === STOP.cancel ? 'warn' : 'error', message)
        .catch(() => undefined);
      // Only if the run is still ours: a replica that took the lease over has already failed it.
      const recorded = await store.updateRun(
        run.id,
        {
          status: reason === STOP.cancel ? 'cancelled' : 'failed',
          finishedAt: new Date().toISOString(),
          error: message,
          ...progress,
        },
        'running',
      );
      if (recorded) {
        this.options.metrics?.jobRunEnded(
          job.name,
          reason === STOP.cancel ? 'cancelled' : 'failed',
          (Date.now() - started) / 1000,
          { scored: progress.rowsWritten, rejected: progress.rowsFailed },
        );
      }
      if (!(error instanceof SlipwayError) && reason === null)
        logger.error({ err: error, job: job.name, run: run.id }, 'job run failed');
      if (recorded && reason !== STOP.cancel) {
        this.alertFailed(job, run, message, await this.retryLater(job, run, new Date()));
      }
    } finally {
      clearInterval(heartbeat);
      await store.releaseLease(job.name, this.holder).catch(() => undefined);
    }
  }

  /**
   * Queues the next attempt of a failed run, with exponential backoff, while attempts remain; answers
   * the run queued, if any.
   */
  private async retryLater(job: Job, run: JobRun, now: Date): Promise<JobRun | null> {
    if (run.attempt > job.retries) return null;
    const delayMs = Math.min(
      job.retryDelaySeconds * 1000 * 2 ** (run.attempt - 1),
      Math.max(MAX_RETRY_DELAY_MS, job.retryDelaySeconds * 1000),
    );
    const retry = await this.options.store.createRun({
      job: job.name,
      logicalDate: run.logicalDate,
      trigger: 'retry',
      attempt: run.attempt + 1,
      scheduledFor: null,
      notBefore: new Date(now.getTime() + delayMs).toISOString(),
      actor: 'slipway',
    });
    if (retry) {
      await this.options.store.appendLog(
        run.id,
        'info',
        `retrying as run #${retry.seq} in ${Math.round(delayMs / 1000)} s (attempt ${retry.attempt} of ${job.retries + 1})`,
      );
    }
    return retry;
  }

  /** Tells the alert sink of a failed run (`job` is null when it was deleted meanwhile). */
  private alertFailed(job: Job | null, run: JobRun, error: string, retry: JobRun | null): void {
    this.options.alerts?.notify({
      kind: 'job_run_failed',
      time: new Date().toISOString(),
      job: run.job,
      run: { id: run.id, seq: run.seq, logicalDate: run.logicalDate },
      attempt: run.attempt,
      maxAttempts: job ? job.retries + 1 : run.attempt,
      retry: retry ? { seq: retry.seq, notBefore: retry.notBefore } : null,
      error,
    });
  }

  private async queue(job: Job, logicalDate: string, trigger: RunTrigger, actor: string): Promise<JobRun> {
    const run = await this.options.store.createRun({
      job: job.name,
      logicalDate,
      trigger,
      attempt: 1,
      scheduledFor: null,
      notBefore: new Date().toISOString(),
      actor,
    });
    return run!;
  }

  private async audit(
    context: RequestContext,
    action: string,
    job: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.options.audit.record({
      actor: context.actor.name,
      action,
      target: `job:${job}`,
      result: 'ok',
      requestId: context.requestId,
      details,
    });
  }
}
