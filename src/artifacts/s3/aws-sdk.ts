import { createRequire } from 'node:module';

/**
 * The AWS SDK, loaded the first time an `s3://` store is used: a server that keeps its artifacts in
 * local files never loads it (about 25 MB in each process). Its CommonJS build, loaded synchronously,
 * so that opening a store stays synchronous.
 */
const require = createRequire(import.meta.url);

let clientS3: typeof import('@aws-sdk/client-s3') | undefined;
let libStorage: typeof import('@aws-sdk/lib-storage') | undefined;

/** `@aws-sdk/client-s3`: the client and its commands. */
export function s3Sdk(): typeof import('@aws-sdk/client-s3') {
  clientS3 ??= require('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3');
  return clientS3;
}

/** `@aws-sdk/lib-storage`: streaming multipart uploads. */
export function s3Storage(): typeof import('@aws-sdk/lib-storage') {
  libStorage ??= require('@aws-sdk/lib-storage') as typeof import('@aws-sdk/lib-storage');
  return libStorage;
}
