import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * The promises the pipelines make, read from the workflow files (scripts/actionlint.sh checks that
 * they are valid GitHub Actions; this checks what they do).
 */
const ROOT = join(import.meta.dirname, '../..');
/** A GitHub Actions expression as written in a workflow. */
const gh = (expression: string) => `\${{ ${expression} }}`;
// biome-ignore lint/suspicious/noExplicitAny: workflows are free-form YAML.
const workflow = (path: string): any => parse(readFileSync(join(ROOT, path), 'utf8'));
// biome-ignore lint/suspicious/noExplicitAny: steps are free-form YAML.
const steps = (job: any): any[] => job.steps ?? [];
// biome-ignore lint/suspicious/noExplicitAny: steps are free-form YAML.
const using = (job: any, action: string) => steps(job).filter((s) => String(s.uses ?? '').startsWith(action));

describe("Slipway's own pipelines", () => {
  it('test every pull request and push with make test, on Node.js 20 and 24', () => {
    const ci = workflow('.github/workflows/ci.yaml');
    expect(Object.keys(ci.on)).toEqual(expect.arrayContaining(['pull_request', 'push']));
    expect(ci.jobs.test.strategy.matrix.node).toEqual(['20', '24']);
    expect(steps(ci.jobs.test).some((s) => s.run === 'make test')).toBe(true);
  });

  it('release only on vX.Y.Z tags, as X.Y.Z, X.Y and latest, scanned, with a CycloneDX SBOM', () => {
    const release = workflow('.github/workflows/release.yaml');
    expect(release.on).toEqual({ push: { tags: ['v[0-9]+.[0-9]+.[0-9]+'] } });
    const job = release.jobs.image;
    const [meta] = using(job, 'docker/metadata-action');
    expect(meta.with.tags.trim().split('\n')).toEqual([
      'type=semver,pattern={{version}}',
      'type=semver,pattern={{major}}.{{minor}}',
      'type=raw,value=latest',
    ]);
    expect(meta.with.images).toBe(gh('env.IMAGE'));
    expect(job.env.IMAGE).toBe(`${gh('vars.IMAGE_REGISTRY')}/${gh('vars.IMAGE_NAME')}`);
    const names = steps(job).map((s) => String(s.uses ?? s.run));
    const scan = names.findIndex((n) => n.startsWith('aquasecurity/trivy-action'));
    const pushes = using(job, 'docker/build-push-action').filter((s) => s.with.push === true);
    expect(pushes).toHaveLength(1);
    // The scan gates the push: a critical finding stops the release before anything is published.
    expect(scan).toBeGreaterThan(-1);
    expect(scan).toBeLessThan(steps(job).indexOf(pushes[0]));
    const [trivy] = using(job, 'aquasecurity/trivy-action');
    expect(trivy.with).toMatchObject({ severity: 'CRITICAL', 'exit-code': '1' });
    const [sbom] = using(job, 'anchore/sbom-action');
    expect(sbom.with.format).toBe('cyclonedx-json');
    const [published] = using(job, 'softprops/action-gh-release');
    expect(published.with.files).toBe(sbom.with['output-file']);
    expect(release.permissions).toEqual({ contents: 'read' });
  });
});

describe("pipelines for Slipway's users", () => {
  const dir = 'examples/github-actions';

  it('deploy a pull request to dev through the reusable deploy workflow', () => {
    const pr = workflow(`${dir}/pull-request.yaml`);
    expect(Object.keys(pr.on)).toEqual(['pull_request']);
    expect(pr.jobs.dev.uses).toBe('./.github/workflows/slipway-deploy.yaml');
    expect(pr.jobs.dev.with.environment).toBe('dev');
    const deploy = workflow(`${dir}/slipway-deploy.yaml`);
    expect(Object.keys(deploy.on)).toEqual(['workflow_call']);
    const runs = steps(deploy.jobs.deploy).map((s) => String(s.run ?? ''));
    expect(runs.some((r) => r.includes('models push'))).toBe(true);
    expect(runs.some((r) => r.includes('slipway deploy'))).toBe(true);
  });

  it('promote to staging and prod by hand only', () => {
    for (const file of ['promote-staging.yaml', 'promote-prod.yaml']) {
      expect(Object.keys(workflow(`${dir}/${file}`).on), file).toEqual(['workflow_dispatch']);
    }
    expect(workflow(`${dir}/promote-staging.yaml`).jobs.staging.with.environment).toBe('staging');
  });

  it('promote to prod only after "production" is typed, in the protected environment, waiting for the canary', () => {
    const prod = workflow(`${dir}/promote-prod.yaml`);
    expect(prod.on.workflow_dispatch.inputs.confirm.required).toBe(true);
    const check = String(steps(prod.jobs.confirm)[0].run);
    expect(check).toContain('"$TYPED" != "production"');
    expect(check).toContain('exit 1');
    expect(prod.jobs.prod.needs).toBe('confirm');
    expect(prod.jobs.prod.with).toMatchObject({
      environment: 'prod',
      confirm: 'prod',
      canary: true,
      'github-environment': 'production',
    });
    const promote = workflow(`${dir}/slipway-promote.yaml`);
    expect(promote.jobs.promote.environment).toBe(gh('inputs.github-environment'));
    const wait = steps(promote.jobs.promote).find((s) => s.name === 'Wait for the promotion to end');
    expect(wait.run).toContain('SUCCEEDED) exit 0');
    expect(wait.run).toMatch(/FAILED\|REJECTED\|ROLLED_BACK\|ABORTED\)[\s\S]*exit 1/);
  });
});
