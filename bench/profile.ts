import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * CPU profiles of Slipway during a bench, and what they say. A server started with `profileArgs(dir)`
 * writes one V8 `.cpuprofile` per process (the HTTP processes, the cluster primary, the inference
 * workers: every child inherits the flags) when it exits cleanly. `summarizeProfiles` reads them and
 * prints, per process, where its samples fell: the top frames by self time, and the share spent in
 * Slipway's code, its dependencies, Node.js itself, and idle. The `.cpuprofile` files open in Chrome's
 * DevTools (Performance) or speedscope as flame graphs.
 */

const REPO = fileURLToPath(new URL('..', import.meta.url));

/** Where a run's profiles go: `build/bench/<time>/<name>/`, kept after the bench (build/ is ignored by git). */
export function profileDir(name: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(REPO, 'build', 'bench', stamp, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Node.js flags that make a process (and every process it forks) write its CPU profile into `dir`. */
export function profileArgs(dir: string, intervalMicros = 1000): string[] {
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${intervalMicros}`];
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly hitCount?: number;
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples?: readonly number[];
}

/** Which kind of code a frame is: what a process spends its time on, in four words. */
function kindOf(frame: ProfileNode['callFrame']): 'slipway' | 'dependencies' | 'node' | 'idle' {
  const { url, functionName } = frame;
  if (functionName === '(idle)' || functionName === '(program)') return 'idle';
  if (url.includes('/node_modules/')) return 'dependencies';
  if (url.startsWith('file://') || url.startsWith('/')) return 'slipway';
  return 'node';
}

/** A process's role, read from the code it ran. */
function roleOf(profile: CpuProfile): string {
  const urls = profile.nodes.map((n) => n.callFrame.url);
  // A worker that ran nothing sampled may show onnxruntime-node's loading but not its own module.
  if (urls.some((url) => url.includes('onnx-worker') || url.includes('/onnxruntime-node/')))
    return 'inference worker';
  if (urls.some((url) => url === 'node:internal/cluster/primary')) return 'cluster primary';
  return 'HTTP process';
}

const frameName = (frame: ProfileNode['callFrame']) => {
  const where =
    frame.url === '' ? '' : ` ${relative(REPO, frame.url.replace(/^file:\/\//, ''))}:${frame.lineNumber + 1}`;
  return `${frame.functionName || '(anonymous)'}${where}`;
};

/**
 * A text summary of every `.cpuprofile` in `dir`, busiest process first: per process, its samples,
 * the split by kind of code, and its `top` frames by self time. Also written to `dir/summary.txt`.
 */
export function summarizeProfiles(dir: string, title: string, top = 12): string {
  const files = readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'));
  if (files.length === 0) return `${title}: no CPU profile was written (the server did not exit cleanly).`;
  const summaries = files.map((file) => {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const self = new Map<string, number>();
    const kinds = { slipway: 0, dependencies: 0, node: 0, idle: 0 };
    let total = 0;
    for (const node of profile.nodes) {
      const hits = node.hitCount ?? 0;
      if (hits === 0) continue;
      total += hits;
      kinds[kindOf(node.callFrame)] += hits;
      const name = frameName(node.callFrame);
      self.set(name, (self.get(name) ?? 0) + hits);
    }
    return { file, role: roleOf(profile), total, kinds, self };
  });
  const busy = (s: (typeof summaries)[number]) => s.total - s.kinds.idle;
  summaries.sort((a, b) => busy(b) - busy(a));
  const pct = (part: number, whole: number) => `${whole === 0 ? 0 : ((part / whole) * 100).toFixed(1)}%`;
  const lines = [`${title} (profiles in ${relative(REPO, dir)}/)`];
  for (const s of summaries) {
    lines.push(
      `  ${s.role} (${s.file}): ${s.total} samples; busy ${pct(busy(s), s.total)}: ` +
        `Slipway ${pct(s.kinds.slipway, s.total)}, dependencies ${pct(s.kinds.dependencies, s.total)}, ` +
        `Node.js ${pct(s.kinds.node, s.total)}, idle ${pct(s.kinds.idle, s.total)}`,
    );
    const frames = [...s.self.entries()]
      .filter(([name]) => !name.startsWith('(idle)') && !name.startsWith('(program)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top);
    for (const [name, hits] of frames) lines.push(`    ${pct(hits, s.total).padStart(6)}  ${name}`);
  }
  const text = lines.join('\n');
  writeFileSync(join(dir, 'summary.txt'), `${text}\n`);
  return text;
}
