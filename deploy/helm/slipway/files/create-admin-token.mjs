// The admin token bootstrap of the Slipway chart, run by a Helm hook Job in the Slipway image:
//
//   node create-admin-token.mjs <slipway command…>     e.g. node create-admin-token.mjs node /app/bin/slipway.js
//
// Unless the Secret $SECRET_NAME exists, it creates the token $TOKEN_NAME (role admin) in the registry with
// `slipway tokens create … --local`, which reads SLIPWAY_REGISTRY_URI like the servers, and stores its
// secret in that Secret (key `token`) through the Kubernetes API, with the pod's service account. The
// secret is written nowhere else: not in the Job's log.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

const [command, ...commandArgs] = process.argv.slice(2);
const secretName = required('SECRET_NAME');
const tokenName = required('TOKEN_NAME');
const api = process.env.KUBERNETES_API_URL ?? 'https://kubernetes.default.svc';
const account = process.env.SERVICE_ACCOUNT_DIR ?? '/var/run/secrets/kubernetes.io/serviceaccount';

const namespace = (await readFile(`${account}/namespace`, 'utf8')).trim();
const headers = {
  authorization: `Bearer ${(await readFile(`${account}/token`, 'utf8')).trim()}`,
  'content-type': 'application/json',
};
const secrets = `${api}/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;

const existing = await fetch(`${secrets}/${encodeURIComponent(secretName)}`, { headers });
if (existing.ok) {
  console.log(`Secret ${secretName} exists: the admin token was created before; nothing to do.`);
  process.exit(0);
}
if (existing.status !== 404) fail(`reading Secret ${secretName}: ${await describe(existing)}`);

const created = await run(command, [
  ...commandArgs,
  '--json',
  'tokens',
  'create',
  tokenName,
  '--role',
  'admin',
  '--local',
]);
const stored = await fetch(secrets, {
  method: 'POST',
  headers,
  body: JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: secretName,
      labels: { 'app.kubernetes.io/managed-by': 'slipway', 'app.kubernetes.io/component': 'admin-token' },
    },
    type: 'Opaque',
    stringData: { name: created.name, role: created.role, token: created.token },
  }),
});
if (!stored.ok) {
  fail(
    `token "${tokenName}" was created, but storing it in Secret ${secretName} failed (${await describe(stored)}). ` +
      `Revoke it (slipway tokens revoke ${tokenName}) and set adminToken.name to a new name.`,
  );
}
console.log(`Created token "${created.name}" (role ${created.role}) and stored it in Secret ${secretName}.`);

function run(file, args) {
  return new Promise((resolve) => {
    execFile(file, args, { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) {
        fail(
          `\`slipway tokens create ${tokenName} --role admin --local\` failed: ${stderr.trim() || error.message}\n` +
            `Token names are never reused: if "${tokenName}" exists but Secret ${secretName} is gone, set ` +
            'adminToken.name to a new name (and revoke the old token).',
        );
      }
      resolve(JSON.parse(stdout));
    });
  });
}

async function describe(response) {
  const body = await response.text().catch(() => '');
  return `HTTP ${response.status} ${body.slice(0, 300)}`.trim();
}

function required(name) {
  const value = process.env[name];
  if (!value) fail(`${name} is not set`);
  return value;
}

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}
