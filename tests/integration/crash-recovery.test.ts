import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killed, serveProcess as serve } from '../helpers/serve-process.js';
import { EXAMPLE, uploadForm } from '../helpers/server.js';

describe('a server killed in the middle of an upload', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slipway-crash-'));
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('restarts with no partial artifact, no version, and numbering intact', async () => {
    const first = await serve(dataDir);
    child = first.child;
    await fetch(`${first.url}/api/v1/models`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'penguin-species' }),
    });

    // Send the multipart head and the first megabyte of a 64 MB file, then stop sending.
    const boundary = 'slipway-crash-test';
    const upload = request(`${first.url}/api/v1/models/penguin-species/versions`, {
      method: 'POST',
      headers: {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'x-slipway-client': 'slipway-tests',
        'content-length': String(64 * 1024 * 1024 + 200),
      },
    });
    upload.on('error', () => undefined);
    upload.write(
      `--${boundary}\r\nContent-Disposition: form-data; name="model"; filename="m.onnx"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    upload.write(Buffer.alloc(1024 * 1024, 7));
    const staging = join(dataDir, 'artifacts', '.staging');
    const staged = () => (existsSync(staging) ? readdirSync(staging) : []);
    for (let i = 0; i < 100 && staged().length === 0; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(staged().length).toBe(1);
    await killed(first.child);

    const second = await serve(dataDir);
    child = second.child;
    expect(staged()).toEqual([]);
    const versions = (await (await fetch(`${second.url}/api/v1/models/penguin-species/versions`)).json()) as {
      versions: unknown[];
    };
    expect(versions.versions).toEqual([]);

    const pushed = await fetch(`${second.url}/api/v1/models/penguin-species/versions`, {
      method: 'POST',
      headers: { 'x-slipway-client': 'slipway-tests' },
      body: uploadForm(join(EXAMPLE, 'model.onnx')),
    });
    expect(pushed.status).toBe(201);
    expect(((await pushed.json()) as { version: number }).version).toBe(1);
  });
});
