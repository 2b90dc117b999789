import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { ensureConsoleBuilt } from '../helpers/browser.js';
import { CLI, slipway } from '../helpers/cli.js';
import { EXAMPLE, FIXTURES, ROOT, startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

describe('the slipway CLI', () => {
  let server: TestServer;
  let remote: string[];
  const scratch = mkdtempSync(join(tmpdir(), 'slipway-cli-'));
  beforeAll(async () => {
    server = await startServer();
    remote = ['--server', server.url];
  });
  afterAll(async () => {
    await server.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('pushes a model with its manifest, creating the model, and reports the version as JSON', async () => {
    const result = await slipway([
      ...remote,
      '--json',
      'models',
      'push',
      join(EXAMPLE, 'model.onnx'),
      '--manifest',
      join(EXAMPLE, 'manifest.json'),
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      model: 'penguin-species',
      version: 1,
      status: 'READY',
    });
  });

  it('lists and shows models as tables and as JSON', async () => {
    const table = await slipway([...remote, 'models', 'ls']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/MODEL\s+LATEST/);
    expect(table.stdout).toContain('penguin-species');
    const json = await slipway([...remote, '--json', 'models', 'show', 'penguin-species', '1']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      version: 1,
      signature: { labels: ['Adelie', 'Chinstrap', 'Gentoo'] },
    });
  });

  it('sets the champion alias', async () => {
    const result = await slipway([...remote, '--json', 'alias', 'set', 'penguin-species', 'champion', '1']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      alias: 'champion',
      version: 1,
      previous_version: null,
    });
  });

  it('predicts rows from a CSV file, typing cells by the model signature and reading empty cells as missing', async () => {
    const csv = join(scratch, 'rows.csv');
    writeFileSync(
      csv,
      'island,sex,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g\nTorgersen,male,39.1,18.7,181,3750\nBiscoe,,48.7,14.1,210,\n',
    );
    const result = await slipway([...remote, '--json', 'predict', 'penguin-species', csv]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).predictions.map((p: { label: string }) => p.label)).toEqual([
      'Adelie',
      'Gentoo',
    ]);
  });

  it('exits 4 for something that does not exist, 3 for a refused request, 2 for a usage error, 5 when unreachable', async () => {
    const missing = await slipway([...remote, 'models', 'show', 'ghost']);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('MODEL_NOT_FOUND');
    const refused = await slipway([
      ...remote,
      'models',
      'push',
      join(FIXTURES, 'zipmap-classifier.onnx'),
      '--name',
      'zm',
    ]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('zipmap');
    expect((await slipway([...remote, 'models', 'frobnicate'])).code).toBe(2);
    expect((await slipway([...remote, 'models', 'push', join(FIXTURES, 'identity.onnx')])).code).toBe(2);
    expect(
      (await slipway([...remote, 'models', 'push', join(scratch, 'missing.onnx'), '--name', 'm'])).code,
    ).toBe(2);
    expect(
      (await slipway([...remote, 'predict', 'penguin-species', join(scratch, 'missing.csv')])).code,
    ).toBe(2);
    expect((await slipway([...remote, 'models', 'show', 'm'])).code, 'a refused push changes nothing').toBe(
      4,
    );
    const port = new URL(server.url).port;
    const busy = await slipway(['serve', '--port', port, '--data-dir', join(scratch, 'busy')]);
    expect(busy.code, 'serve on a busy port exits').toBe(5);
    expect(busy.stderr).toContain('already in use');
    const unreachable = await slipway(['--server', 'http://127.0.0.1:9', '--json', 'models', 'ls']);
    expect(unreachable.code).toBe(5);
    expect(JSON.parse(unreachable.stdout).error).toContain('Cannot reach');
  }, 90_000);
});

describe('deploying with the slipway CLI: environments, promotions, traffic and rollback', () => {
  let server: TestServer;
  const scratch = mkdtempSync(join(tmpdir(), 'slipway-cli-deploy-'));
  const run = (...args: string[]) => slipway(['--server', server.url, ...args]);
  const pushPenguins = () =>
    run('models', 'push', join(EXAMPLE, 'model.onnx'), '--manifest', join(EXAMPLE, 'manifest.json'));
  let prodPromotion = '';
  beforeAll(async () => {
    // All-in-one, as `slipway serve` without --env: every environment, the plain paths serve prod.
    server = await startServer({}, { allInOne: true });
  });
  afterAll(async () => {
    await server.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('shows a pushed version deployed to dev in `status`', async () => {
    const pushed = await pushPenguins();
    expect(pushed.code, pushed.stderr).toBe(0);
    const status = await run('status');
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^ENVIRONMENT\s+MODEL\s+REVISION\s+TRAFFIC\s+HEALTH\s+ROLLOUT$/m);
    expect(status.stdout).toMatch(/^dev\s+penguin-species\s+1\s+v1 100%\s+READY\s+-$/m);
    expect(status.stdout).not.toMatch(/^staging/m);
  });

  it('registers a CSV validation dataset and promotes to staging, printing every gate', async () => {
    const csv = join(scratch, 'validation.csv');
    writeFileSync(
      csv,
      [
        'island,sex,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,species',
        'Torgersen,male,39.1,18.7,181,3750,Adelie',
        'Biscoe,female,46.1,13.2,211,4500,Gentoo',
        'Dream,female,46.5,17.9,192,3500,Chinstrap',
        'Biscoe,,48.7,14.1,210,,Gentoo',
      ].join('\n'),
    );
    const put = await run(
      '--json',
      'datasets',
      'put',
      'penguin-species',
      'validation',
      '--label',
      'species',
      '--file',
      csv,
    );
    expect(put.code, put.stderr).toBe(0);
    expect(JSON.parse(put.stdout)).toMatchObject({
      name: 'validation',
      label: 'species',
      rows: 4,
      replaced: false,
    });

    const promoted = await run(
      'promote',
      'penguin-species',
      '1',
      '--to',
      'staging',
      '--reason',
      'first release',
    );
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(promoted.stdout).toMatch(/^GATE\s+STATUS\s+MESSAGE$/m);
    expect(promoted.stdout).toMatch(/^smoke\s+passed\s/m);
    expect(promoted.stdout).toMatch(/^validation\s+passed\s+On "validation" \(4 rows\)/m);
    expect(promoted.stdout).toMatch(/^latency\s+passed\s/m);
    expect(promoted.stdout).toContain('penguin-species version 1 now serves all traffic in staging');
  });

  it('prints the gate table and exits 3 when a gate fails, leaving staging as it was', async () => {
    const rows = join(scratch, 'scorer.json');
    writeFileSync(rows, JSON.stringify(Array.from({ length: 20 }, (_, i) => ({ x: i % 2, y: i % 2 }))));
    expect((await run('models', 'push', join(FIXTURES, 'echo.onnx'), '--name', 'scorer')).code).toBe(0);
    expect((await run('datasets', 'put', 'scorer', 'validation', '--label', 'y', '--file', rows)).code).toBe(
      0,
    );
    expect((await run('deploy', 'scorer', '1', '--env', 'staging')).code).toBe(0);
    expect((await run('models', 'push', join(FIXTURES, 'plus-one.onnx'), '--name', 'scorer')).code).toBe(0);

    const refused = await run('promote', 'scorer', '2', '--to', 'staging');
    expect(refused.code).toBe(3);
    expect(refused.stdout).toMatch(/^validation\s+failed\s+On "validation" \(20 rows\): rmse 1/m);
    expect(refused.stderr).toContain('[GATE_FAILED]');
    const json = await run('--json', 'promote', 'scorer', '2', '--to', 'staging');
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({ code: 'GATE_FAILED', details: { gate: 'validation' } });
    const status = await run('status', '--env', 'staging');
    expect(status.stdout).toMatch(/^staging\s+scorer\s+1\s+v1 100%/m);
  }, 60_000);

  it('asks for the typed confirmation of prod: without it and without a terminal, exits 2 and sends nothing', async () => {
    const unconfirmed = await run('promote', 'penguin-species', '1', '--to', 'prod');
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('--confirm prod');
    const promotions = await run('--json', 'promotions', '--env', 'prod');
    expect(JSON.parse(promotions.stdout).promotions).toEqual([]);
  });

  it('with --confirm prod the promotion awaits approval, and `approve` deploys it', async () => {
    const waiting = await run('promote', 'penguin-species', '1', '--to', 'prod', '--confirm', 'prod');
    expect(waiting.code, waiting.stderr).toBe(0);
    expect(waiting.stdout).toContain('awaits approval by an approver');
    prodPromotion = /slipway approve (prm_\w+)/.exec(waiting.stdout)?.[1] ?? '';
    expect(prodPromotion).not.toBe('');
    const listed = await run('promotions', '--status', 'awaiting_approval');
    expect(listed.stdout).toMatch(
      new RegExp(`^${prodPromotion}\\s+penguin-species\\s+1\\s+prod\\s+AWAITING_APPROVAL`, 'm'),
    );

    const approved = await run('approve', prodPromotion, '--reason', 'looks good');
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain('penguin-species version 1 now serves all traffic in prod');
    const shown = await run('promotions', 'show', prodPromotion);
    expect(shown.stdout).toContain('(SUCCEEDED)');
    expect(shown.stdout).toMatch(/^approval\s+passed\s+Approved by local: looks good\.$/m);
  });

  it('pauses, resumes and aborts a canary rollout, restoring the traffic from before it', async () => {
    expect((await pushPenguins()).code, 'version 2').toBe(0);
    expect((await run('promote', 'penguin-species', '2', '--to', 'staging')).code).toBe(0);
    const waiting = await run(
      '--json',
      'promote',
      'penguin-species',
      '2',
      '--to',
      'prod',
      '--confirm',
      'prod',
      '--canary',
    );
    expect(waiting.code, waiting.stderr).toBe(0);
    const { id, status } = JSON.parse(waiting.stdout);
    expect(status).toBe('AWAITING_APPROVAL');
    const started = await run('approve', id);
    expect(started.stdout).toContain('step 1 of 3 (10%)');
    const rolling = await run('status', '--env', 'prod');
    expect(rolling.stdout).toMatch(
      new RegExp(
        `^prod\\s+penguin-species\\s+2\\s+v2 10%, v1 90%\\s+READY\\s+ROLLING_OUT v2 step 1 of 3 \\(10%\\) ${id}$`,
        'm',
      ),
    );
    expect((await run('rollout', 'pause', id)).stdout).toContain('is paused at step 1 of 3 (10%)');
    expect((await run('rollout', 'resume', id)).code).toBe(0);
    const aborted = await run('rollout', 'abort', id, '--reason', 'not today');
    expect(aborted.code, aborted.stderr).toBe(0);
    expect(aborted.stdout).toContain('is ABORTED: aborted by local: not today. prod serves v1 100% again.');
  }, 60_000);

  it('sets traffic, tags and shadow, then `rollback` restores the previous split and `history` shows it', async () => {
    const split = await run(
      'traffic',
      'penguin-species',
      '--env',
      'prod',
      '1=90',
      'v2=10',
      '--tag',
      'beta=2',
      '--shadow',
      '2=5',
    );
    expect(split.code, split.stderr).toBe(0);
    expect(split.stdout).toContain('revision 4: v1 90%, v2 10%; tags beta=v2; shadow v2 5%');
    expect(
      (await run('traffic', 'penguin-species', '--env', 'prod', '1=90', '2=20')).code,
      'sums to 110',
    ).toBe(3);
    expect((await run('traffic', 'penguin-species', '--env', 'prod', '1=ninety')).code).toBe(2);

    const rolledBack = await run(
      'rollback',
      'penguin-species',
      '--env',
      'prod',
      '--reason',
      'canary share too early',
    );
    expect(rolledBack.code, rolledBack.stderr).toBe(0);
    expect(rolledBack.stdout).toContain('revision 5 serves v1 100%');
    const history = await run('history', 'penguin-species', '--env', 'prod');
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(/^REV\s+KIND\s+TRAFFIC\s+ACTOR\s+WHEN\s+REASON$/m);
    expect(history.stdout).toMatch(/^5\s+rollback\s+v1 100%\s+local\s+\S+\s+canary share too early$/m);
    expect(history.stdout).toMatch(/^4\s+traffic\s+v1 90%, v2 10%; tags beta=v2; shadow v2 5%\s+local/m);
    expect(history.stdout).toMatch(/^1\s+promotion\s+v1 100%/m);
  }, 60_000);

  it('lists the audit trail of a deployment as JSON and as a table', async () => {
    const json = await run('--json', 'audit', '--target', 'penguin-species-prod', '--limit', '200');
    expect(json.code, json.stderr).toBe(0);
    const events = JSON.parse(json.stdout).events as {
      action: string;
      actor: string;
      details: { reason?: string };
    }[];
    const actions = events.map((e) => e.action);
    for (const action of [
      'promotion.request',
      'gate.smoke',
      'promotion.approve',
      'rollout.abort',
      'revision.traffic',
      'revision.rollback',
    ]) {
      expect(actions).toContain(action);
    }
    expect(events[0]).toMatchObject({
      action: 'revision.rollback',
      actor: 'local',
      details: { reason: 'canary share too early' },
    });
    const table = await run('audit', '--action', 'revision.', '--target', 'penguin-species-prod');
    expect(table.stdout).toMatch(/^TIME\s+ACTOR\s+ACTION\s+TARGET\s+RESULT\s+REASON$/m);
    expect(table.stdout).toMatch(
      /\slocal\s+revision\.rollback\s+penguin-species-prod\s+ok\s+canary share too early$/m,
    );
  });
});

describe('the slipway CLI with authentication on', () => {
  let server: TestServer;
  let remote: string[];
  beforeAll(async () => {
    server = await startServer({ SLIPWAY_AUTH: 'on' });
    remote = ['--server', server.url];
  });
  afterAll(() => server.stop());

  it('refuses a request without a token with exit 6', async () => {
    const missing = await slipway([...remote, 'status']);
    expect(missing.code).toBe(6);
    expect(missing.stderr).toContain('[UNAUTHENTICATED]');
  });

  it('bootstraps an admin token with `tokens create --local`, which then creates and revokes tokens', async () => {
    const local = (...args: string[]) => slipway([...args, '--local', '--data-dir', server.dataDir]);
    const created = await local('--json', 'tokens', 'create', 'root', '--role', 'admin');
    expect(created.code, created.stderr).toBe(0);
    const root = JSON.parse(created.stdout) as { name: string; role: string; token: string };
    expect(root).toMatchObject({ name: 'root', role: 'admin', token: expect.stringMatching(/^slw_/) });
    const human = await local('tokens', 'create', 'spare', '--role', 'viewer');
    expect(human.stdout).toContain('not shown again');
    const again = await local('tokens', 'create', 'root', '--role', 'admin');
    expect(again.code, 'a taken name').toBe(3);

    const dev = await slipway([
      ...remote,
      '--token',
      root.token,
      '--json',
      'tokens',
      'create',
      'dana',
      '--role',
      'developer',
    ]);
    expect(dev.code, dev.stderr).toBe(0);
    const dana = JSON.parse(dev.stdout).token as string;
    // SLIPWAY_TOKEN is the default; --token overrides it.
    const listed = await slipway([...remote, 'tokens', 'ls'], { SLIPWAY_TOKEN: root.token });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^root\s+admin\s/m);
    expect(listed.stdout).toMatch(/^dana\s+developer\s/m);
    const weaker = await slipway([...remote, '--token', dana, 'tokens', 'ls'], { SLIPWAY_TOKEN: root.token });
    expect(weaker.code, 'a developer may not list tokens').toBe(6);
    expect(weaker.stderr).toContain('[PERMISSION_DENIED]');
    expect((await slipway([...remote, '--token', dana, 'status'])).code).toBe(0);

    expect((await slipway([...remote, '--token', root.token, 'tokens', 'revoke', 'dana'])).code).toBe(0);
    expect((await slipway([...remote, '--token', dana, 'status'])).code, 'a revoked token').toBe(6);
  }, 60_000);
});

describe('README.md', () => {
  it('documents every CLI exit code', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| (\d+) \| /gm)].map((m) => Number(m[1]));
    expect(documented).toEqual(Object.values(EXIT));
  });
});

describe('slipway demo', () => {
  let child: ChildProcess | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'slipway-demo-'));
  afterAll(() => {
    child?.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  });

  interface Printed {
    url: string;
    console: string;
    docs: string;
    predict: Record<string, string>;
    curl: string;
    status: string;
    job: { name: string; run: number; logical_date: string; table: string; runs: string };
  }

  /** Starts `slipway --json demo` on the data folder and waits for what it prints. */
  function startDemo(): Promise<Printed> {
    startDemo.last = startDemoProcess();
    return startDemo.last;
  }
  startDemo.last = undefined as Promise<Printed> | undefined;

  function startDemoProcess(): Promise<Printed> {
    child = spawn(
      process.execPath,
      ['--import', 'tsx', CLI, '--json', 'demo', '--port', '0', '--data-dir', dataDir],
      {
        cwd: ROOT,
        env: { ...process.env, SLIPWAY_LOG_LEVEL: 'silent' },
      },
    );
    let stdout = '';
    return new Promise<Printed>((resolve, reject) => {
      child!.stdout!.on('data', (chunk) => {
        stdout += chunk;
        try {
          resolve(JSON.parse(stdout));
        } catch {
          // Not the whole document yet.
        }
      });
      child!.on('exit', (code) => reject(new Error(`demo exited with ${code}`)));
    });
  }

  async function stopDemo(): Promise<void> {
    const running = child!;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
    child = undefined;
  }

  const predict = (url: string, body: string) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  it('starts a local server with the example model promoted to prod, and prints a curl that returns a prediction', async () => {
    ensureConsoleBuilt();
    const printed = await startDemo();
    expect((await fetch(printed.docs)).status).toBe(200);
    const page = await fetch(printed.console);
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    const body = /-d '(.*)'$/.exec(printed.curl)![1]!;
    const url = /(http:\/\/\S+:predict)/.exec(printed.curl)![1]!;
    expect(url, 'the plain paths serve prod').toBe(`${printed.url}/v1/models/penguin-species:predict`);
    const response = await predict(url, body);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { predictions: unknown[] }).predictions).toHaveLength(2);
    expect(printed.predict.dev).toBe(`${printed.url}/envs/dev/v1/models/penguin-species:predict`);
    expect((await predict(printed.predict.dev!, body)).status).toBe(200);
    expect(printed.status).toContain('status');

    const status = await slipway(['--server', printed.url, '--json', 'status']);
    const deployments = JSON.parse(status.stdout).deployments as {
      environment: string;
      revision: { number: number; traffic: unknown };
    }[];
    const deployed = deployments.filter((d) => (d as { model?: string }).model === 'penguin-species');
    expect(deployed.map((d) => [d.environment, d.revision.number, d.revision.traffic])).toEqual([
      ['dev', 1, [{ version: 1, percent: 100 }]],
      ['staging', 1, [{ version: 1, percent: 100 }]],
      ['prod', 1, [{ version: 1, percent: 100 }]],
    ]);
    expect(
      deployments.filter((d) => (d as { model?: string }).model === 'flight-delay').map((d) => d.environment),
    ).toEqual(['dev', 'staging', 'prod']);
    const staging = await slipway(['--server', printed.url, '--json', 'promotions', '--env', 'staging']);
    const promotion = (
      JSON.parse(staging.stdout).promotions as {
        model: string;
        gates: { gate: string; status: string; measurements?: { rows?: number } }[];
      }[]
    ).find((p) => p.model === 'penguin-species');
    expect(promotion!.gates.find((g) => g.gate === 'validation')).toMatchObject({
      status: 'passed',
      measurements: { rows: 344 },
    });
  }, 60_000);

  it('declares the daily flight-delay-prod job and scores one day of flights into a partition of the DuckDB table', async () => {
    const printed = await startDemo.last!;
    expect(printed.job).toMatchObject({
      name: 'flight-delay-prod',
      logical_date: '2001-06-30',
      table: 'flight_delay_scores',
    });
    const run = await waitFor('the demo run', async () => {
      const body = (await (
        await fetch(`${printed.url}/api/v1/jobs/flight-delay-prod/runs/${printed.job.run}`)
      ).json()) as {
        status: string;
        rows_written: number;
      };
      return ['queued', 'running'].includes(body.status) ? undefined : body;
    });
    expect(run).toMatchObject({
      status: 'succeeded',
      model: { name: 'flight-delay', version: 1 },
      rows_failed: 0,
    });
    expect(run.rows_written).toBeGreaterThan(10_000);
    const job = (await (await fetch(`${printed.url}/api/v1/jobs/flight-delay-prod`)).json()) as Record<
      string,
      unknown
    >;
    expect(job).toMatchObject({
      schedule: '0 2 * * *',
      environment: 'prod',
      write_mode: 'replace_partition',
    });
  }, 60_000);

  it('runs again on the same data folder without repeating what is done', async () => {
    await stopDemo();
    const printed = await startDemo();
    const promotions = await slipway(['--server', printed.url, '--json', 'promotions']);
    expect(
      (JSON.parse(promotions.stdout).promotions as { environment: string; status: string }[])
        .map((p) => `${p.environment}:${p.status}`)
        .sort(),
    ).toEqual([
      'dev:SUCCEEDED',
      'dev:SUCCEEDED',
      'prod:SUCCEEDED',
      'prod:SUCCEEDED',
      'staging:SUCCEEDED',
      'staging:SUCCEEDED',
    ]);
    const runs = (await (await fetch(`${printed.url}/api/v1/jobs/flight-delay-prod/runs`)).json()) as {
      runs: unknown[];
    };
    expect(runs.runs).toHaveLength(1);
    const response = await predict(
      `${printed.url}/v1/models/penguin-species:predict`,
      /-d '(.*)'$/.exec(printed.curl)![1]!,
    );
    expect(response.status).toBe(200);
  }, 60_000);
});
