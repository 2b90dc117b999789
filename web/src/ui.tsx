import type { ButtonHTMLAttributes, ComponentChildren, JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError } from './api.js';
import { satisfies, useSession } from './session.js';
import type { Role } from './types.js';

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p class="muted" role="status">
      {what}…
    </p>
  );
}

/** An error as the server said it, with its code (which docs/errors.md explains). */
export function ErrorNote({ error }: { error: Error | undefined }) {
  if (!error) return null;
  const code = error instanceof ApiError ? error.code : null;
  return (
    <p class="error" role="alert">
      {code ? <code>{code}</code> : null} {error.message}
    </p>
  );
}

const TONES: Record<string, string> = {
  READY: 'good',
  SUCCEEDED: 'good',
  passed: 'good',
  succeeded: 'good',
  ok: 'good',
  healthy: 'good',
  ROLLING_OUT: 'busy',
  GATING: 'busy',
  LOADING: 'busy',
  running: 'busy',
  queued: 'busy',
  AWAITING_APPROVAL: 'wait',
  PAUSED: 'wait',
  PENDING: 'wait',
  inconclusive: 'wait',
  skipped: 'quiet',
  NOT_LOADED_HERE: 'quiet',
  NONE: 'quiet',
  cancelled: 'quiet',
  ABORTED: 'quiet',
  FAILED: 'bad',
  failed: 'bad',
  REJECTED: 'bad',
  ROLLED_BACK: 'bad',
  drift: 'bad',
  denied: 'bad',
};

export function Badge({ value }: { value: string }) {
  return <span class={`badge ${TONES[value] ?? 'quiet'}`}>{value.replaceAll('_', ' ').toLowerCase()}</span>;
}

export function When({ at }: { at: string | null | undefined }) {
  if (!at) return <span class="muted">—</span>;
  const date = new Date(at);
  return (
    <time dateTime={at} title={at}>
      {date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' })}
    </time>
  );
}

export function Bytes({ n }: { n: number }) {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return (
    <span>
      {unit === 0 ? value : value.toFixed(1)} {units[unit]}
    </span>
  );
}

export function num(value: number | null | undefined, digits = 3): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  if (Number.isInteger(value)) return value.toLocaleString();
  // p-values and the like: a long run of zeros says less than an exponent.
  if (Math.abs(value) < 1e-4) return value.toExponential(2);
  return Number(value.toPrecision(digits)).toLocaleString(undefined, { maximumSignificantDigits: digits });
}

/**
 * A button for an action a role may take. Without the role it is disabled and says which role it needs,
 * in its text and its title.
 */
export function RoleButton({
  needs: role,
  children,
  class: className,
  ...rest
}: { needs: Role; children: ComponentChildren } & ButtonHTMLAttributes<HTMLButtonElement>) {
  const session = useSession();
  const allowed = satisfies(session.role, role);
  return (
    <button
      type="button"
      {...rest}
      class={className}
      disabled={!allowed || Boolean(rest.disabled)}
      title={
        allowed ? (rest.title as string | undefined) : `Needs the ${role} role; you have ${session.role}`
      }
    >
      {children}
      {allowed ? null : <span class="needs"> (needs {role})</span>}
    </button>
  );
}

/** A table that scrolls sideways on a narrow screen; the region takes keyboard focus so it can scroll. */
export function TableBox({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard.
    <section class="table-box" aria-label={label} tabIndex={0}>
      {children}
    </section>
  );
}

/** Pages through a list whose answers carry `next_page_token`: a stack of the tokens that led here. */
export function usePages(): {
  token: string | undefined;
  pager: (next: string | null | undefined) => JSX.Element;
  reset: () => void;
} {
  const [stack, setStack] = useState<string[]>([]);
  const token = stack[stack.length - 1];
  return {
    token,
    reset: () => setStack([]),
    pager: (next) => (
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={stack.length === 0} onClick={() => setStack(stack.slice(0, -1))}>
          Previous
        </button>
        <span class="muted">Page {stack.length + 1}</span>
        <button type="button" disabled={!next} onClick={() => next && setStack([...stack, next])}>
          Next
        </button>
      </nav>
    ),
  };
}

export function KeyValues({ values, label }: { values: Record<string, unknown>; label: string }) {
  const entries = Object.entries(values);
  if (entries.length === 0) return <p class="muted">None.</p>;
  return (
    <dl class="kv" aria-label={label}>
      {entries.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{typeof v === 'number' ? num(v, 4) : typeof v === 'string' ? v : JSON.stringify(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Split({ traffic }: { traffic: readonly { version: number; percent: number }[] }) {
  return (
    <span class="split">
      {traffic.map((t) => (
        <span key={t.version} class="share">
          v{t.version} <strong>{t.percent}%</strong>
        </span>
      ))}
    </span>
  );
}

/** A table's header row; a column written with a leading `#` holds numbers (aligned right). */
export function Head({ columns }: { columns: readonly string[] }) {
  return (
    <thead>
      <tr>
        {columns.map((c) =>
          c.startsWith('#') ? (
            <th scope="col" class="num" key={c}>
              {c.slice(1)}
            </th>
          ) : (
            <th scope="col" key={c}>
              {c}
            </th>
          ),
        )}
      </tr>
    </thead>
  );
}

/** The environment's name, typed: where a policy confirms, an action waits for it. */
export function ConfirmField({
  id,
  name,
  value,
  onInput,
}: {
  id: string;
  name: string;
  value: string;
  onInput: (value: string) => void;
}) {
  return (
    <>
      <label for={id}>
        Type <strong>{name}</strong> to confirm
      </label>
      <input id={id} autoComplete="off" value={value} onInput={(e) => onInput(e.currentTarget.value)} />
    </>
  );
}
