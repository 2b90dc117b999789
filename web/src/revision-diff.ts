import type { Revision, Split } from './types.js';

/** What changed from one revision to the next: traffic shares, tags and shadow. */
export function revisionDiff(before: Revision | undefined, after: Revision): string[] {
  if (!before) return ['first revision'];
  const changes: string[] = [];
  const share = (r: Revision, v: number) => r.traffic.find((t) => t.version === v)?.percent ?? 0;
  const versions = [...new Set([...before.traffic, ...after.traffic].map((t) => t.version))].sort(
    (a, b) => a - b,
  );
  for (const v of versions) {
    const from = share(before, v);
    const to = share(after, v);
    if (from !== to) changes.push(`v${v} ${from}% → ${to}%`);
  }
  const tags = new Set([...Object.keys(before.tags), ...Object.keys(after.tags)]);
  for (const tag of [...tags].sort()) {
    const from = before.tags[tag];
    const to = after.tags[tag];
    if (from !== to) changes.push(`tag ${tag}: ${from ? `v${from}` : 'none'} → ${to ? `v${to}` : 'none'}`);
  }
  const shadow = (s: Split | null) => (s ? `v${s.version} at ${s.percent}%` : 'none');
  if (shadow(before.shadow) !== shadow(after.shadow)) {
    changes.push(`shadow ${shadow(before.shadow)} → ${shadow(after.shadow)}`);
  }
  return changes.length > 0 ? changes : ['no change in routing'];
}
