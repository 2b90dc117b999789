import { lazyRequire } from '../../lazy-require.js';

/**
 * The AWS SDK, loaded the first time an `s3://` store is used: a server that keeps its artifacts in
 * local files never loads it (about 25 MB in each process).
 */

/** `@aws-sdk/client-s3`: the client and its commands. */
export const s3Sdk = lazyRequire<typeof import('@aws-sdk/client-s3')>('@aws-sdk/client-s3');

/** `@aws-sdk/lib-storage`: streaming multipart uploads. */
export const s3Storage = lazyRequire<typeof import('@aws-sdk/lib-storage')>('@aws-sdk/lib-storage');
