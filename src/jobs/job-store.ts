import type { Page, PageRequest } from '../domain/page.js';
import type { Job, JobRun, RunLogLine, RunStatus, RunTrigger } from './job.js';

export interface NewRun {
  readonly job: string;
  readonly logicalDate: string;
  readonly trigger: RunTrigger;
  readonly attempt: number;
  readonly scheduledFor: string | null;
  readonly notBefore: string;
  readonly actor: string;
}

/** Fields a run changes as it goes; only the given ones are written. */
export type RunPatch = Partial<
  Pick<
    JobRun,
    | 'status'
    | 'modelName'
    | 'modelVersion'
    | 'rowsRead'
    | 'rowsWritten'
    | 'rowsFailed'
    | 'rowsExpected'
    | 'startedAt'
    | 'finishedAt'
    | 'error'
    | 'holder'
  >
>;

export interface RunQuery extends PageRequest {
  readonly status?: RunStatus;
}

/**
 * Jobs, their runs, run logs, and the per-job lease that lets exactly one server process run a job at a
 * time. Lives in the registry database, so every replica sharing the registry shares it.
 */
export interface JobStore {
  /**
   * Creates or replaces a job; says which. With `replace: false` a job of that name already stored is
   * refused (ALREADY_EXISTS) by the same write, so two creations of one name cannot both succeed.
   */
  putJob(job: Job, options?: { readonly replace?: boolean }): Promise<{ created: boolean }>;
  getJob(name: string): Promise<Job>;
  findJob(name: string): Promise<Job | null>;
  listJobs(): Promise<Job[]>;
  /** Deletes a job and its history; refused while a run of it is running. */
  deleteJob(name: string): Promise<void>;

  /**
   * Queues a run. A scheduled run is created once per (job, schedule time) whatever the number of
   * replicas asking: the second caller gets null.
   */
  createRun(run: NewRun): Promise<JobRun | null>;
  getRun(job: string, id: string): Promise<JobRun>;
  listRuns(job: string, query?: RunQuery): Promise<Page<JobRun>>;
  /** Runs of a job that are queued or running. */
  activeRuns(job: string): Promise<JobRun[]>;
  /** The latest run of each logical date in a range (for backfill decisions). */
  latestRunsByDate(job: string, from: string, to: string): Promise<Map<string, JobRun>>;
  /** The latest schedule time a run was created for. */
  latestScheduledFor(job: string): Promise<string | null>;
  /** Updates a run; with `from`, only if its status is still that (returns false otherwise). */
  updateRun(id: string, patch: RunPatch, from?: RunStatus): Promise<boolean>;
  requestCancel(id: string): Promise<void>;
  /** Runs marked running whose lease has expired: their process died. */
  orphanedRuns(now: string): Promise<JobRun[]>;

  /**
   * Takes the job's lease for `runId` if nobody holds it or the holder's lease expired, then marks
   * the oldest due queued run (`runId`) running, atomically. Returns the run, or null if the lease is
   * held or nothing is due.
   */
  claimNextRun(job: string, holder: string, now: string, ttlMs: number): Promise<JobRun | null>;
  /** Extends the lease; false if this holder lost it. Also reports a requested cancellation. */
  renewLease(
    job: string,
    holder: string,
    now: string,
    ttlMs: number,
  ): Promise<{ held: boolean; cancel: boolean }>;
  releaseLease(job: string, holder: string): Promise<void>;

  appendLog(run: string, level: RunLogLine['level'], message: string): Promise<void>;
  listLogs(run: string, afterSeq?: number): Promise<RunLogLine[]>;
}
