import {
  type LocalCluster,
  type LocalClusterOptions,
  startLocalCluster,
} from '../../src/cli/local-cluster.js';
import { freshDatabase } from './postgres.js';
import { freshBucket, s3Settings } from './s3.js';

/**
 * Replicas behind HAProxy (src/cli/local-cluster.ts, what `make demo-cluster` runs) on the test run's
 * PostgreSQL and S3 servers, with a database and a bucket of their own that `stop` drops. Replicas run
 * the TypeScript sources through tsx, one inference worker each, logging warnings only.
 */
export async function startTestCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const database = await freshDatabase();
  const storage = await freshBucket();
  try {
    const cluster = await startLocalCluster({
      ...options,
      registryUri: database.url,
      bucket: { ...s3Settings(), bucket: storage.bucket },
      env: { SLIPWAY_LOG_LEVEL: 'warn', SLIPWAY_INFERENCE_WORKERS: '1', ...options.env },
    });
    return {
      ...cluster,
      stop: async () => {
        await cluster.stop();
        await Promise.all([database.drop(), storage.drop()]);
      },
    };
  } catch (error) {
    await Promise.all([database.drop(), storage.drop()]);
    throw error;
  }
}
