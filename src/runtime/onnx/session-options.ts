import type ort from 'onnxruntime-node';

/**
 * How every inference worker opens a session. Tabular models are tiny: one intra-op thread per
 * session and one session per worker beats onnxruntime's default pool of all cores, and spinning idle
 * threads would steal CPU from the other workers. (The benchmark's in-process ceiling uses these too.)
 */
export const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3,
  extra: { session: { intra_op: { allow_spinning: '0' } } },
};
