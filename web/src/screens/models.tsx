import { useState } from 'preact/hooks';
import { call, enc, query } from '../api.js';
import { useAction, useLoad } from '../hooks.js';
import { go, href } from '../router.js';
import type { Model, ModelVersion, TensorSpec } from '../types.js';
import {
  Badge,
  Bytes,
  ErrorNote,
  Head,
  KeyValues,
  Loading,
  num,
  RoleButton,
  TableBox,
  usePages,
  When,
} from '../ui.js';

export function ModelsScreen({ parts, params }: { parts: readonly string[]; params: URLSearchParams }) {
  const [name, sub, version] = parts;
  if (!name) return <ModelList />;
  if (sub === 'versions' && version) return <VersionDetail model={name} version={Number(version)} />;
  if (sub === 'compare')
    return <Compare model={name} a={Number(params.get('a'))} b={Number(params.get('b'))} />;
  return <ModelDetail name={name} />;
}

function ModelList() {
  const [search, setSearch] = useState('');
  const pages = usePages();
  const models = useLoad(
    () =>
      call<{ models: Model[]; next_page_token: string | null }>(
        'GET',
        `/api/v1/models${query({ search, limit: 50, page_token: pages.token })}`,
      ),
    `${search}:${pages.token ?? ''}`,
  );
  return (
    <main id="main" tabIndex={-1}>
      <h1>Models</h1>
      <div class="filters">
        <div>
          <label for="model-search">Search</label>
          <input
            id="model-search"
            type="search"
            value={search}
            onInput={(e) => {
              pages.reset();
              setSearch(e.currentTarget.value);
            }}
          />
        </div>
      </div>
      <ErrorNote error={models.error} />
      {models.data ? (
        <>
          <TableBox label="Models">
            <table>
              <Head columns={['model', 'description', 'latest', 'aliases', 'updated']} />
              <tbody>
                {models.data.models.map((m) => (
                  <tr key={m.name}>
                    <td>
                      <a href={href(['models', m.name])}>{m.name}</a>
                    </td>
                    <td>{m.description}</td>
                    <td>v{m.latest_version}</td>
                    <td>
                      {Object.entries(m.aliases)
                        .map(([a, v]) => `${a}→v${v}`)
                        .join(', ')}
                    </td>
                    <td>
                      <When at={m.updated_at} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
          {models.data.models.length === 0 ? <p class="muted">No models.</p> : null}
          {pages.pager(models.data.next_page_token)}
        </>
      ) : (
        <Loading />
      )}
    </main>
  );
}

const short = (sha: string) => sha.slice(0, 12);

function ModelDetail({ name }: { name: string }) {
  const model = useLoad(() => call<Model>('GET', `/api/v1/models/${enc(name)}`), name);
  const [status, setStatus] = useState('');
  const pages = usePages();
  const versions = useLoad(
    () =>
      call<{ versions: ModelVersion[]; next_page_token: string | null }>(
        'GET',
        `/api/v1/models/${enc(name)}/versions${query({ status, limit: 50, page_token: pages.token })}`,
      ),
    `${name}:${status}:${pages.token ?? ''}`,
  );
  const [picked, setPicked] = useState<number[]>([]);
  const toggle = (v: number) =>
    setPicked(picked.includes(v) ? picked.filter((p) => p !== v) : [...picked, v].slice(-2));
  const metricNames = [
    ...new Set((versions.data?.versions ?? []).flatMap((v) => Object.keys(v.metrics))),
  ].slice(0, 4);
  return (
    <main id="main" tabIndex={-1}>
      <p class="crumbs">
        <a href="#/models">Models</a> / {name}
      </p>
      <h1>{name}</h1>
      <ErrorNote error={model.error} />
      {model.data ? (
        <>
          <p>{model.data.description}</p>
          <Aliases model={model.data} reload={model.reload} />
        </>
      ) : null}
      <h2>Versions</h2>
      <div class="filters">
        <div>
          <label for="version-status">Status</label>
          <select
            id="version-status"
            value={status}
            onChange={(e) => {
              pages.reset();
              setStatus(e.currentTarget.value);
            }}
          >
            <option value="">any</option>
            <option value="READY">READY</option>
            <option value="PENDING">PENDING</option>
            <option value="FAILED">FAILED</option>
          </select>
        </div>
        <button
          type="button"
          disabled={picked.length !== 2}
          onClick={() => {
            const [a, b] = [...picked].sort((x, y) => x - y);
            go(['models', name, 'compare'], { a: a!, b: b! });
          }}
        >
          Compare{' '}
          {picked.length === 2 ? `v${Math.min(...picked)} and v${Math.max(...picked)}` : 'two versions'}
        </button>
      </div>
      <ErrorNote error={versions.error} />
      {versions.data ? (
        <>
          <TableBox label="Versions">
            <table>
              <thead>
                <tr>
                  <th scope="col">compare</th>
                  <th scope="col">version</th>
                  <th scope="col">status</th>
                  {metricNames.map((m) => (
                    <th scope="col" class="num" key={m}>
                      {m}
                    </th>
                  ))}
                  <th scope="col">size</th>
                  <th scope="col">sha256</th>
                  <th scope="col">uploader</th>
                  <th scope="col">aliases</th>
                  <th scope="col">created</th>
                </tr>
              </thead>
              <tbody>
                {versions.data.versions.map((v) => (
                  <tr key={v.version}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`Compare v${v.version}`}
                        checked={picked.includes(v.version)}
                        onChange={() => toggle(v.version)}
                      />
                    </td>
                    <td>
                      <a href={href(['models', name, 'versions', v.version])}>v{v.version}</a>
                    </td>
                    <td>
                      <Badge value={v.status} />
                    </td>
                    {metricNames.map((m) => (
                      <td class="num" key={m}>
                        {num(v.metrics[m], 4)}
                      </td>
                    ))}
                    <td>
                      <Bytes n={v.size_bytes} />
                    </td>
                    <td class="mono" title={v.sha256}>
                      {short(v.sha256)}
                    </td>
                    <td>{v.lineage.uploader}</td>
                    <td>{v.aliases.join(', ')}</td>
                    <td>
                      <When at={v.created_at} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
          {pages.pager(versions.data.next_page_token)}
        </>
      ) : (
        <Loading />
      )}
    </main>
  );
}

function Aliases({ model, reload }: { model: Model; reload: () => void }) {
  const [alias, setAlias] = useState('');
  const [version, setVersion] = useState(String(model.latest_version));
  const action = useAction();
  const base = `/api/v1/models/${enc(model.name)}/aliases`;
  return (
    <section aria-labelledby="aliases">
      <h2 id="aliases">Aliases</h2>
      {Object.keys(model.aliases).length === 0 ? <p class="muted">None.</p> : null}
      <ul class="plain">
        {Object.entries(model.aliases).map(([name, v]) => (
          <li key={name}>
            <strong>{name}</strong> → <a href={href(['models', model.name, 'versions', v])}>v{v}</a>{' '}
            <RoleButton
              needs="developer"
              class="link"
              onClick={() => action.run(() => call('DELETE', `${base}/${enc(name)}`), reload)}
            >
              Delete {name}
            </RoleButton>
          </li>
        ))}
      </ul>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(
            () => call('PUT', `${base}/${enc(alias)}`, { version: Number(version) }),
            () => {
              setAlias('');
              reload();
            },
          );
        }}
      >
        <div>
          <label for="alias-name">Alias</label>
          <input
            id="alias-name"
            value={alias}
            placeholder="champion"
            onInput={(e) => setAlias(e.currentTarget.value)}
          />
        </div>
        <div>
          <label for="alias-version">Version</label>
          <input
            id="alias-version"
            type="number"
            min={1}
            value={version}
            onInput={(e) => setVersion(e.currentTarget.value)}
          />
        </div>
        <RoleButton needs="developer" type="submit" disabled={alias === '' || action.busy}>
          Set alias
        </RoleButton>
      </form>
      <ErrorNote error={action.error} />
    </section>
  );
}

function Tensors({ specs, label }: { specs: TensorSpec[]; label: string }) {
  return (
    <table>
      <caption>{label}</caption>
      <Head columns={['name', 'datatype', 'shape']} />
      <tbody>
        {specs.map((s) => (
          <tr key={s.name}>
            <td>{s.name}</td>
            <td>{s.datatype}</td>
            <td>[{s.shape.join(', ')}]</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function VersionDetail({ model, version }: { model: string; version: number }) {
  const loaded = useLoad(
    () => call<ModelVersion>('GET', `/api/v1/models/${enc(model)}/versions/${version}`),
    `${model}/${version}`,
  );
  const v = loaded.data;
  return (
    <main id="main" tabIndex={-1}>
      <p class="crumbs">
        <a href="#/models">Models</a> / <a href={href(['models', model])}>{model}</a> / v{version}
      </p>
      <h1>
        {model} v{version} {v ? <Badge value={v.status} /> : null}
      </h1>
      <ErrorNote error={loaded.error} />
      {!v ? (
        <Loading />
      ) : (
        <div class="grid2">
          <section aria-labelledby="about">
            <h2 id="about">About</h2>
            <KeyValues
              label="About the version"
              values={{
                description: v.description || '—',
                task: v.task ?? '—',
                size: `${v.size_bytes.toLocaleString()} bytes`,
                sha256: v.sha256,
                uploader: v.lineage.uploader,
                created: new Date(v.created_at).toLocaleString(),
                aliases: v.aliases.join(', ') || '—',
                servable: v.servable ? 'yes' : 'no (stored only)',
              }}
            />
            <h2>Lineage</h2>
            <KeyValues
              label="Lineage"
              values={{
                dataset: v.lineage.dataset ?? '—',
                git_commit: v.lineage.git_commit ?? '—',
                run: v.lineage.run_id ?? '—',
              }}
            />
            {v.lineage.run_id ? (
              <p>
                <a href={href(['runs', v.lineage.run_id])}>Open the MLflow run</a>
              </p>
            ) : null}
          </section>
          <section aria-labelledby="metrics">
            <h2 id="metrics">Metrics</h2>
            <KeyValues label="Metrics" values={v.metrics} />
            <h2>Tags</h2>
            <KeyValues label="Tags" values={v.tags} />
          </section>
          <section aria-labelledby="signature">
            <h2 id="signature">Signature</h2>
            {v.signature ? (
              <TableBox label="Signature">
                <Tensors label="Inputs" specs={v.signature.inputs} />
                <Tensors label="Outputs" specs={v.signature.outputs} />
                {v.signature.labels ? <p>Labels: {v.signature.labels.join(', ')}</p> : null}
              </TableBox>
            ) : (
              <p class="muted">No signature (stored only).</p>
            )}
          </section>
        </div>
      )}
    </main>
  );
}

/** Two versions side by side: every metric of either, with the difference. */
function Compare({ model, a, b }: { model: string; a: number; b: number }) {
  const loaded = useLoad(
    () =>
      Promise.all([a, b].map((v) => call<ModelVersion>('GET', `/api/v1/models/${enc(model)}/versions/${v}`))),
    `${model}/${a}/${b}`,
  );
  const [left, right] = loaded.data ?? [];
  const names =
    left && right ? [...new Set([...Object.keys(left.metrics), ...Object.keys(right.metrics)])].sort() : [];
  return (
    <main id="main" tabIndex={-1}>
      <p class="crumbs">
        <a href="#/models">Models</a> / <a href={href(['models', model])}>{model}</a> / compare
      </p>
      <h1>
        {model}: v{a} and v{b}
      </h1>
      <ErrorNote error={loaded.error} />
      {!left || !right ? (
        <Loading />
      ) : (
        <TableBox label="Comparison">
          <table>
            <thead>
              <tr>
                <th scope="col">metric</th>
                <th scope="col" class="num">
                  v{a}
                </th>
                <th scope="col" class="num">
                  v{b}
                </th>
                <th scope="col" class="num">
                  v{b} − v{a}
                </th>
              </tr>
            </thead>
            <tbody>
              {names.map((n) => {
                const x = left.metrics[n];
                const y = right.metrics[n];
                return (
                  <tr key={n}>
                    <th scope="row">{n}</th>
                    <td class="num">{num(x, 4)}</td>
                    <td class="num">{num(y, 4)}</td>
                    <td class="num">{x !== undefined && y !== undefined ? num(y - x, 3) : '—'}</td>
                  </tr>
                );
              })}
              <tr>
                <th scope="row">size</th>
                <td class="num">
                  <Bytes n={left.size_bytes} />
                </td>
                <td class="num">
                  <Bytes n={right.size_bytes} />
                </td>
                <td class="num">{(right.size_bytes - left.size_bytes).toLocaleString()} B</td>
              </tr>
              <tr>
                <th scope="row">uploader</th>
                <td>{left.lineage.uploader}</td>
                <td>{right.lineage.uploader}</td>
                <td />
              </tr>
              <tr>
                <th scope="row">dataset</th>
                <td>{left.lineage.dataset ?? '—'}</td>
                <td>{right.lineage.dataset ?? '—'}</td>
                <td />
              </tr>
            </tbody>
          </table>
        </TableBox>
      )}
    </main>
  );
}
