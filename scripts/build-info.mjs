#!/usr/bin/env node
// Writes dist/build-info.json after the TypeScript build: the git revision the build came from and
// when it ran, for `slipway version`. Outside a git checkout (a build from a source tarball) the
// revision is SLIPWAY_REVISION if set, else null.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

function revision() {
  if (process.env.SLIPWAY_REVISION) return process.env.SLIPWAY_REVISION;
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return dirty ? `${head}-dirty` : head;
  } catch {
    return null;
  }
}

const info = { revision: revision(), builtAt: new Date().toISOString() };
writeFileSync(new URL('../dist/build-info.json', import.meta.url), `${JSON.stringify(info, null, 2)}\n`);
