import { useState } from 'preact/hooks';
import { call, query } from '../api.js';
import { LIVE_INTERVAL_MS, useLoad } from '../hooks.js';
import { go } from '../router.js';
import type { AuditEvent } from '../types.js';
import { Badge, ErrorNote, Head, Loading, TableBox, usePages, When } from '../ui.js';

const FILTERS = ['actor', 'action', 'target'] as const;

/** The audit trail, newest first, filtered by actor, action (or a prefix ending in `.`) and target. */
export function AuditScreen({ params }: { params: URLSearchParams }) {
  const applied = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? '']));
  const [draft, setDraft] = useState(applied);
  const pages = usePages();
  const key = `${FILTERS.map((f) => applied[f]).join('|')}:${pages.token ?? ''}`;
  const events = useLoad(
    () =>
      call<{ events: AuditEvent[]; next_page_token: string | null }>(
        'GET',
        `/api/v1/audit${query({ ...applied, limit: 50, page_token: pages.token })}`,
      ),
    key,
    LIVE_INTERVAL_MS * 2,
  );
  return (
    <main id="main" tabIndex={-1}>
      <h1>Audit trail</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          pages.reset();
          const chosen = Object.fromEntries(Object.entries(draft).filter(([, v]) => v !== ''));
          go(['audit'], chosen);
        }}
      >
        {FILTERS.map((f) => (
          <div key={f}>
            <label for={`audit-${f}`}>
              {f === 'action' ? 'Action (or prefix, e.g. promotion.)' : f === 'actor' ? 'Actor' : 'Target'}
            </label>
            <input
              id={`audit-${f}`}
              value={draft[f]}
              onInput={(e) => setDraft({ ...draft, [f]: e.currentTarget.value })}
            />
          </div>
        ))}
        <button type="submit">Filter</button>
      </form>
      <ErrorNote error={events.error} />
      {events.data ? (
        <>
          <TableBox label="Audit events">
            <table>
              <Head columns={['#', 'when', 'actor', 'action', 'target', 'result', 'details']} />
              <tbody>
                {events.data.events.map((e) => (
                  <tr key={e.seq}>
                    <td>{e.seq}</td>
                    <td>
                      <When at={e.time} />
                    </td>
                    <td>{e.actor}</td>
                    <td>{e.action}</td>
                    <td>{e.target}</td>
                    <td>
                      <Badge value={e.result} />
                    </td>
                    <td class="small mono">
                      {e.details ? JSON.stringify(e.details) : ''}
                      {e.after ? ` → ${JSON.stringify(e.after)}` : ''}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
          {events.data.events.length === 0 ? <p class="muted">No events match.</p> : null}
          {pages.pager(events.data.next_page_token)}
        </>
      ) : (
        <Loading />
      )}
    </main>
  );
}
