import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { MAX_INPUT_BYTES } from '../../src/cli/rows.js';
import { slipway } from '../helpers/cli.js';
import { EXAMPLE, startServer, type TestServer } from '../helpers/server.js';

/**
 * Client commands against a real server: they read only what a client needs (server URL, token, the
 * local port), and refuse a bad local input (a folder, an endless stream) with exit 2 before, or
 * instead of, sending it.
 */
/** A warehouse whose password is a variable nobody sets: a server refuses to start on it. */
const BROKEN_YAML =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: slipway.yaml's own ${VAR} syntax.
  'warehouses:\n  analytics: postgres://scorer:${SLIPWAY_TEST_NEVER_SET}@db.internal:5432/analytics\n';

describe('slipway client commands', () => {
  let server: TestServer;
  const scratch = mkdtempSync(join(tmpdir(), 'slipway-client-'));
  // A folder whose server configuration cannot compile: slipway.yaml names a variable nobody set.
  const broken = join(scratch, 'project');
  // Nothing from the test's own environment may point the command at a server or break its config.
  const clean = { SLIPWAY_SERVER: '', SLIPWAY_TOKEN: '', SLIPWAY_HOST: '', SLIPWAY_PORT: '' };

  beforeAll(async () => {
    server = await startServer();
    mkdirSync(broken);
    writeFileSync(join(broken, 'slipway.yaml'), BROKEN_YAML);
    const pushed = await slipway([
      '--server',
      server.url,
      'models',
      'push',
      join(EXAMPLE, 'model.onnx'),
      '--manifest',
      join(EXAMPLE, 'manifest.json'),
    ]);
    expect(pushed.code, pushed.stderr).toBe(EXIT.OK);
  });
  afterAll(async () => {
    await server.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  describe('in a folder whose slipway.yaml the server could not compile', () => {
    const port = () => new URL(server.url).port;
    const cases: { name: string; env: () => Record<string, string>; dotenv?: () => string }[] = [
      { name: 'SLIPWAY_SERVER in the environment', env: () => ({ SLIPWAY_SERVER: server.url }) },
      { name: 'SLIPWAY_SERVER in .env', env: () => ({}), dotenv: () => `SLIPWAY_SERVER=${server.url}\n` },
      { name: 'SLIPWAY_PORT in the environment', env: () => ({ SLIPWAY_PORT: port() }) },
      {
        name: 'SLIPWAY_HOST and SLIPWAY_PORT in .env (any-address host)',
        env: () => ({}),
        dotenv: () => `SLIPWAY_HOST=0.0.0.0\nSLIPWAY_PORT=${port()}\n`,
      },
    ];
    for (const { name, env, dotenv } of cases) {
      it(`models ls reaches the server named by ${name}`, async () => {
        const folder = join(scratch, name.replace(/[^a-z]+/gi, '-'));
        mkdirSync(folder);
        writeFileSync(join(folder, 'slipway.yaml'), BROKEN_YAML);
        if (dotenv) writeFileSync(join(folder, '.env'), dotenv());
        const result = await slipway(['--json', 'models', 'ls'], { ...clean, ...env() }, { cwd: folder });
        expect(result.code, result.stderr + result.stdout).toBe(EXIT.OK);
        expect(JSON.parse(result.stdout).models.map((m: { name: string }) => m.name)).toEqual([
          'penguin-species',
        ]);
      });
    }

    it('models ls works there, while the server configuration of that folder is refused', async () => {
      const ls = await slipway(
        ['--json', 'models', 'ls'],
        { ...clean, SLIPWAY_SERVER: server.url },
        { cwd: broken },
      );
      expect(ls.code, ls.stderr + ls.stdout).toBe(EXIT.OK);
      // The folder is broken for a server indeed: `tokens create --local` compiles its configuration.
      const local = await slipway(['tokens', 'create', 'x', '--role', 'viewer', '--local'], clean, {
        cwd: broken,
      });
      expect(local.code).toBe(EXIT.USAGE);
      expect(local.stderr).toContain('SLIPWAY_TEST_NEVER_SET');
    });
  });

  it('models push of a folder exits 2 with a message and no stack trace, sending nothing', async () => {
    const result = await slipway([
      '--server',
      server.url,
      'models',
      'push',
      EXAMPLE,
      '--name',
      'folder-push',
    ]);
    expect(result.code).toBe(EXIT.USAGE);
    expect(result.stderr).toMatch(/^error: .*not a file/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect((await server.request('GET', '/api/v1/models/folder-push')).status).toBe(404);
  });

  describe('predict from an endless input stops at the limit and exits 2 within seconds', () => {
    const forever = (piece: string) =>
      new Readable({
        read() {
          this.push(piece.repeat(4096));
        },
      });
    const cases: { name: string; file: string; stdin?: () => Readable }[] = [
      { name: '/dev/zero', file: '/dev/zero' },
      { name: '/dev/urandom', file: '/dev/urandom' },
      { name: "yes '{}' piped into -", file: '-', stdin: () => forever('{}\n') },
      { name: 'an endless CSV piped into -', file: '-', stdin: () => forever('1,2,3\n') },
    ];
    for (const { name, file, stdin } of cases) {
      it(name, async () => {
        const started = Date.now();
        const result = await slipway(
          ['--server', server.url, 'predict', 'penguin-species', file],
          {},
          stdin ? { stdin: stdin() } : {},
        );
        expect(result.code, result.stderr).toBe(EXIT.USAGE);
        expect(result.stderr).toContain(String(MAX_INPUT_BYTES));
        expect(result.stderr).not.toMatch(/\n\s+at /);
        expect(Date.now() - started).toBeLessThan(20_000);
      });
    }
  });
});
