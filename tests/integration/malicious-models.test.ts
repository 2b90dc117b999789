import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE, FIXTURES, penguinManifest, startServer, type TestServer } from '../helpers/server.js';

const MALICIOUS = join(FIXTURES, 'malicious');
const expected = JSON.parse(readFileSync(join(MALICIOUS, 'expected.json'), 'utf8')) as {
  file: string;
  code: string;
  reason: string;
}[];

describe('malicious and broken uploads', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
    expect(
      (await server.push('penguin-species', join(EXAMPLE, 'model.onnx'), penguinManifest())).status,
    ).toBe(201);
  });
  afterAll(() => server.stop());

  it.each(expected)(
    'refuses $file with 422 $code/$reason and keeps serving',
    async ({ file, code, reason }) => {
      const response = await server.push('target', join(MALICIOUS, file));
      expect(response.status, response.text).toBe(422);
      expect(response.body).toMatchObject({ code, details: { reason } });
      const health = await server.request('GET', '/health');
      expect(health.status).toBe(200);
      expect(health.body.status).toBe('healthy');
    },
  );

  it('refuses a ZipMap classifier with advice to export with zipmap=False', async () => {
    const response = await server.push('target', join(FIXTURES, 'zipmap-classifier.onnx'));
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({
      code: 'UNSUPPORTED_MODEL',
      details: { reason: 'NON_TENSOR_OUTPUT' },
    });
    expect(response.body.error).toContain("'zipmap': False");
  });

  it('registered nothing for any refused upload, and left no staged bytes behind', async () => {
    const versions = await server.request('GET', '/api/v1/models/target/versions');
    expect(versions.body.versions).toEqual([]);
    expect(readdirSync(join(server.dataDir, 'artifacts/.staging'))).toEqual([]);
  });

  it('still predicts correctly after the whole corpus', async () => {
    const response = await server.request('POST', '/v1/models/penguin-species:predict', {
      instances: penguinManifest().sample,
    });
    expect(response.status).toBe(200);
    expect(response.body.predictions).toHaveLength(penguinManifest().sample.length);
  });
});
