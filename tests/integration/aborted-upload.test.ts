import { existsSync, readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLog } from '../helpers/log.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A client that goes away in the middle of an upload is the client's doing: the server logs it below
 * error level, answers no 500, and keeps neither the staged file nor a PENDING version.
 */
const { logger, lines } = captureLog('debug');
let server: TestServer;

beforeAll(async () => {
  server = await startServer({ SLIPWAY_LOG_LEVEL: 'debug' }, { logger });
  expect((await server.request('POST', '/api/v1/models', { name: 'm' })).status).toBe(201);
});
afterAll(() => server.stop());

const staging = () => join(server.dataDir, 'artifacts', '.staging');
const staged = () => (existsSync(staging()) ? readdirSync(staging()) : []);

/** Sends the head of a multipart upload and `bytes` of the file, then closes the connection. */
async function abortUpload(bytes: number): Promise<string> {
  const boundary = 'slipway-abort-test';
  const upload = httpRequest(`${server.url}/api/v1/models/m/versions`, {
    method: 'POST',
    headers: {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(64 * 1024 * 1024),
      'x-slipway-client': 'slipway-tests',
      'x-request-id': `abort-${bytes}`,
    },
  });
  upload.on('error', () => undefined);
  upload.write(
    `--${boundary}\r\nContent-Disposition: form-data; name="model"; filename="m.onnx"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  upload.write(Buffer.alloc(bytes, 7));
  if (bytes > 0)
    await waitFor('the upload to be staged', async () => (staged().length > 0 ? true : undefined));
  upload.destroy();
  return `abort-${bytes}`;
}

describe('an upload the client abandons', () => {
  it.each([1024 * 1024, 4 * 1024 * 1024])(
    'after %i bytes of the file leaves nothing behind and logs no error',
    async (bytes) => {
      const id = await abortUpload(bytes);
      const mine = () => lines.filter((line) => line.reqId === id);
      await waitFor('the server to log the request', async () =>
        mine().some((line) => typeof line.code === 'string') ? true : undefined,
      );
      await waitFor('the staged file to go', async () => (staged().length === 0 ? true : undefined));
      const versions = await server.request('GET', '/api/v1/models/m/versions');
      expect(versions.body.versions).toEqual([]);
      expect(mine().find((line) => typeof line.code === 'string')).toMatchObject({
        level: 30,
        code: 'CLIENT_CLOSED_REQUEST',
      });
      const severe = mine().filter((line) => (line.level as number) >= 40);
      expect(severe, JSON.stringify(mine(), null, 1)).toEqual([]);
      expect(
        mine().some((line) => (line.res as { statusCode?: number } | undefined)?.statusCode === 500),
      ).toBe(false);
    },
  );

  it('refuses a form that ends inside a part with 400, keeping nothing', async () => {
    const boundary = 'slipway-truncated';
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="model"; filename="m.onnx"\r\n\r\n${'x'.repeat(1000)}`;
    const response = await server.request('POST', '/api/v1/models/m/versions', body, {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'x-slipway-client': 'slipway-tests',
    });
    expect([response.status, response.body.code]).toEqual([400, 'INVALID_ARGUMENT']);
    expect(staged()).toEqual([]);
    expect((await server.request('GET', '/api/v1/models/m/versions')).body.versions).toEqual([]);
  });

  it('still takes the next upload', async () => {
    const form = new FormData();
    form.set('model', new Blob([Buffer.from('not onnx')]), 'model.onnx');
    const response = await server.request('POST', '/api/v1/models/m/versions', form);
    expect(response.status).toBe(422);
  });
});
