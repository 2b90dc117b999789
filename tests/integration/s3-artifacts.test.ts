import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshBucket, objectKeys, pendingUploads, s3Variables } from '../helpers/s3.js';
import { EXAMPLE, penguinManifest, startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * `SLIPWAY_ARTIFACT_URI=s3://…` on a real S3-compatible server (MinIO): a pushed model lands in the
 * bucket, and a second server with its own empty data folder, sharing only the registry and the
 * bucket, serves it too.
 */
describe('artifacts in S3', () => {
  let bucket: Awaited<ReturnType<typeof freshBucket>>;
  const shared = mkdtempSync(join(tmpdir(), 'slipway-s3-registry-'));
  const servers: TestServer[] = [];
  const settings = () => ({
    SLIPWAY_REGISTRY_URI: `sqlite:${join(shared, 'registry.db')}`,
    SLIPWAY_ARTIFACT_URI: `s3://${bucket.bucket}/slipway`,
    ...s3Variables(),
  });
  beforeAll(async () => {
    bucket = await freshBucket();
  });
  afterAll(async () => {
    for (const server of servers) await server.stop();
    await bucket.drop();
    rmSync(shared, { recursive: true, force: true });
  });

  const predict = async (server: TestServer) => {
    const response = await server.request('POST', '/v1/models/penguin-species:predict', {
      instances: penguinManifest().sample,
    });
    expect(response.status, response.text).toBe(200);
    for (const prediction of response.body.predictions) {
      expect(['Adelie', 'Chinstrap', 'Gentoo']).toContain(prediction.label);
    }
    return response.body.predictions;
  };

  it('stores pushed models in the bucket, where a server on another machine finds them', async () => {
    const first = await startServer(settings());
    servers.push(first);
    const file = join(EXAMPLE, 'model.onnx');
    const pushed = await first.push('penguin-species', file, penguinManifest());
    expect(pushed.status, pushed.text).toBe(201);

    // The file is in the bucket under the prefix, byte for byte, with nothing staged or pending once
    // the server's background writes (the drift reference profile) are done.
    const keys = await waitFor('no staged objects', async () => {
      const all = await objectKeys(bucket.client, bucket.bucket, 'slipway/');
      return all.some((key) => key.startsWith('slipway/.staging/')) ? undefined : all;
    });
    const model = keys.find((key) => key.endsWith('.onnx'));
    expect(model, keys.join(', ')).toBeDefined();
    expect(await pendingUploads(bucket.client, bucket.bucket, 'slipway/')).toEqual([]);
    const object = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.bucket, Key: model }));
    const stored = Buffer.from(await object.Body!.transformToByteArray());
    expect(createHash('sha256').update(stored).digest('hex')).toBe(
      createHash('sha256').update(readFileSync(file)).digest('hex'),
    );
    const fromFirst = await predict(first);

    // No local artifacts folder is involved: stop the first server (its data folder goes with it).
    await first.stop();
    servers.splice(servers.indexOf(first), 1);
    const second = await startServer(settings());
    servers.push(second);
    expect(await predict(second)).toEqual(fromFirst);
  }, 120_000);
});
