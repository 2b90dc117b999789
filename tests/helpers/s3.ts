import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { type S3Settings, s3ClientFor } from '../../src/artifacts/s3/s3-artifact-store.js';

/** Endpoint, region and credentials of the run's S3 server (tests/helpers/s3-global.ts). */
export function s3Settings(): Required<Omit<S3Settings, 'sessionToken'>> {
  return inject('s3');
}

/** The same settings as the AWS_* variables a server's config reads. */
export function s3Variables() {
  const s3 = s3Settings();
  return {
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
}

/** A fresh bucket on the run's S3 server, a client for it, and a function that empties and drops it. */
export async function freshBucket(): Promise<{
  bucket: string;
  client: S3Client;
  drop: () => Promise<void>;
}> {
  const client = s3ClientFor(s3Settings());
  const bucket = `slipway-${randomBytes(6).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    bucket,
    client,
    drop: async () => {
      for (const key of await objectKeys(client, bucket, '')) {
        await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: key }] } }));
      }
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      client.destroy();
    },
  };
}

/** Every object key under `prefix`. */
export async function objectKeys(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    keys.push(...(page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : [])));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Keys of the incomplete multipart uploads under `prefix`. */
export async function pendingUploads(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (page.Uploads ?? []).flatMap((u) => (u.Key ? [u.Key] : []));
}
