import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ArtifactStore } from '../../src/artifacts/artifact-store.js';
import { artifactStoreForUri } from '../../src/artifacts/artifact-store-for-uri.js';
import { S3ArtifactStore } from '../../src/artifacts/s3/s3-artifact-store.js';
import { freshBucket, objectKeys, pendingUploads, s3Settings } from '../helpers/s3.js';

interface Opened {
  readonly store: ArtifactStore;
  /** What is left in the store's staging area (file or object names). */
  stagedLeftovers(): Promise<string[]>;
  close(): Promise<void>;
}

interface Backend {
  readonly name: string;
  /** Runs once before the suite (e.g. creates a bucket); returns the matching teardown. */
  readonly setup?: () => Promise<() => Promise<void>>;
  readonly open: () => Promise<Opened>;
}

let bucket: Awaited<ReturnType<typeof freshBucket>> | undefined;

/** The ArtifactStore contract, run against every implementation on real storage. */
const BACKENDS: Backend[] = [
  {
    name: 'local folder',
    open: async () => {
      const root = mkdtempSync(join(tmpdir(), 'slipway-artifacts-'));
      return {
        store: artifactStoreForUri(`file:${root}`),
        stagedLeftovers: async () => readdirSync(join(root, '.staging')),
        close: async () => rmSync(root, { recursive: true, force: true }),
      };
    },
  },
  {
    // A real S3-compatible server (MinIO, tests/helpers/s3-global.ts): a bucket for the suite, a
    // prefix for each test.
    name: 's3',
    setup: async () => {
      bucket = await freshBucket();
      return async () => bucket?.drop();
    },
    open: async () => {
      const { bucket: name, client } = bucket as NonNullable<typeof bucket>;
      const prefix = `t-${randomBytes(4).toString('hex')}/artifacts`;
      return {
        store: artifactStoreForUri(`s3://${name}/${prefix}`, { s3: s3Settings() }),
        stagedLeftovers: async () => [
          ...(await objectKeys(client, name, `${prefix}/.staging/`)),
          ...(await pendingUploads(client, name, `${prefix}/.staging/`)),
        ],
        close: async () => undefined,
      };
    },
  },
];

const bytes = (text: string) => Readable.from([Buffer.from(text)]);
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

for (const backend of BACKENDS) {
  describe(`ArtifactStore contract: ${backend.name}`, () => {
    let store: ArtifactStore;
    let opened: Opened;
    let teardown: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      teardown = await backend.setup?.();
    });
    afterAll(async () => teardown?.());
    beforeEach(async () => {
      opened = await backend.open();
      ({ store } = opened);
    });
    afterEach(async () => opened.close());

    it('stages with a hash and size, and publishes only on commit', async () => {
      const staged = await store.stage(bytes('model bytes'), { maxBytes: 100 });
      expect(staged).toMatchObject({ sha256: sha('model bytes'), sizeBytes: 11 });
      expect(Buffer.from(await store.readStaged(staged)).toString()).toBe('model bytes');
      expect(await store.exists('models/m/1/model.onnx')).toBe(false);
      await store.commit(staged, 'models/m/1/model.onnx');
      expect(Buffer.from(await store.read('models/m/1/model.onnx', sha('model bytes'))).toString()).toBe(
        'model bytes',
      );
    });

    it('never overwrites a committed artifact', async () => {
      await store.commit(await store.stage(bytes('one'), { maxBytes: 100 }), 'k/a');
      await expect(
        store.commit(await store.stage(bytes('two'), { maxBytes: 100 }), 'k/a'),
      ).rejects.toMatchObject({
        code: 'ALREADY_EXISTS',
      });
      expect(Buffer.from(await store.read('k/a')).toString()).toBe('one');
    });

    it('refuses more than maxBytes and leaves nothing staged', async () => {
      await expect(store.stage(bytes('x'.repeat(101)), { maxBytes: 100 })).rejects.toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
      });
      expect(await store.cleanupStaging()).toBe(0);
      expect(await opened.stagedLeftovers().catch(() => [])).toEqual([]);
    });

    it('detects an artifact whose bytes no longer match its sha256', async () => {
      await store.commit(await store.stage(bytes('original'), { maxBytes: 100 }), 'k/b');
      await expect(store.read('k/b', sha('something else'))).rejects.toMatchObject({
        code: 'CHECKSUM_MISMATCH',
      });
    });

    it('removes staged leftovers of interrupted uploads', async () => {
      await store.stage(bytes('abandoned'), { maxBytes: 100 });
      expect(await store.cleanupStaging()).toBe(1);
      expect(await opened.stagedLeftovers()).toEqual([]);
    });

    it('refuses keys that leave the store', async () => {
      const staged = await store.stage(bytes('x'), { maxBytes: 100 });
      for (const bad of ['../escape', '/etc/passwd', 'a/%2e%2e/b', 'a\\b']) {
        await expect(store.commit(staged, bad)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
        await expect(store.read(bad)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
        await expect(store.openRead(bad)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
        await expect(store.list(bad)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
        await expect(store.remove(bad)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      }
    });

    it('replaces a file only when asked, atomically', async () => {
      await store.commit(await store.stage(bytes('one'), { maxBytes: 100 }), 'run/a.txt');
      await store.commit(await store.stage(bytes('two'), { maxBytes: 100 }), 'run/a.txt', { replace: true });
      expect(Buffer.from(await store.read('run/a.txt')).toString()).toBe('two');
      // A folder is never replaced by a file.
      await expect(
        store.commit(await store.stage(bytes('x'), { maxBytes: 100 }), 'run', { replace: true }),
      ).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    });

    it('lists folders, streams files and removes files or whole folders', async () => {
      for (const [key, text] of [
        ['exp/1/b.txt', 'bb'],
        ['exp/1/a.txt', 'a'],
        ['exp/1/sub/c.txt', 'ccc'],
      ] as const) {
        await store.commit(await store.stage(bytes(text), { maxBytes: 100 }), key);
      }
      expect(await store.list('exp/1')).toEqual([
        { name: 'a.txt', isDir: false, sizeBytes: 1 },
        { name: 'b.txt', isDir: false, sizeBytes: 2 },
        { name: 'sub', isDir: true },
      ]);
      expect(await store.list('exp/none')).toEqual([]);
      expect((await store.list('')).map((e) => e.name)).toEqual(['exp']);
      expect(await store.isFolder('exp/1/sub')).toBe(true);
      expect(await store.isFolder('exp/1/a.txt')).toBe(false);
      const { stream, sizeBytes } = await store.openRead('exp/1/sub/c.txt');
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      expect([Buffer.concat(chunks).toString(), sizeBytes]).toEqual(['ccc', 3]);
      await expect(store.openRead('exp/1/missing')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await store.remove('exp/1/a.txt');
      expect((await store.list('exp/1')).map((e) => e.name)).toEqual(['b.txt', 'sub']);
      await store.remove('exp/1');
      expect(await store.list('exp')).toEqual([]);
      await store.remove('exp/never');
      // A key below a file is refused on write and absent on read, never an unexpected error.
      await store.commit(await store.stage(bytes('f'), { maxBytes: 100 }), 'file');
      await expect(
        store.commit(await store.stage(bytes('x'), { maxBytes: 100 }), 'file/below'),
      ).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      expect(await store.exists('file/below')).toBe(false);
      expect(await store.list('file/below')).toEqual([]);
      await store.remove('file/below');
    });
  });
}

/** What only the S3 store promises beyond the contract: streaming, clean refusals, big copies. */
describe('S3 artifact store on a real server', () => {
  let bucket: Awaited<ReturnType<typeof freshBucket>>;
  beforeAll(async () => {
    bucket = await freshBucket();
  });
  afterAll(async () => bucket.drop());

  const storeAt = (prefix: string, options: Partial<ConstructorParameters<typeof S3ArtifactStore>[0]> = {}) =>
    new S3ArtifactStore({ bucket: bucket.bucket, prefix, client: bucket.client, ...options });

  /** `total` bytes in 1 MiB chunks of one reused buffer: the source itself holds 1 MiB. */
  async function* megabytes(total: number): AsyncGenerator<Uint8Array> {
    const chunk = Buffer.alloc(1024 * 1024, 7);
    for (let sent = 0; sent < total; sent += chunk.length)
      yield chunk.subarray(0, Math.min(chunk.length, total - sent));
  }

  it('streams a 256 MB upload without holding it in memory', async () => {
    const size = 256 * 1024 * 1024;
    // One part in flight: the figure is then mostly the parts' garbage, not the upload.
    const store = storeAt('stream', { queueSize: 1 });
    // A warm-up upload first: loading and first use of the SDK's code are not the upload's.
    await store.discard(await store.stage(megabytes(8 * 1024 * 1024), { maxBytes: size }));
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const staged = await store.stage(megabytes(size), { maxBytes: size });
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    const growth = peak - before;
    console.log(`256 MB upload: peak RSS growth ${(growth / 1024 / 1024).toFixed(1)} MB`);
    expect(staged.sizeBytes).toBe(size);
    const expected = createHash('sha256');
    for await (const chunk of megabytes(size)) expected.update(chunk);
    expect(staged.sha256).toBe(expected.digest('hex'));
    // Parts of 5 MiB: some tens of MB whatever the size (the same at 1 GB), never the whole upload.
    expect(growth).toBeLessThan(96 * 1024 * 1024);
    await store.commit(staged, 'big/model.onnx');
    expect((await store.list('big'))[0]).toEqual({ name: 'model.onnx', isDir: false, sizeBytes: size });
  }, 120_000);

  it('refuses an upload past maxBytes mid-stream and leaves no object or multipart upload', async () => {
    const store = storeAt('refuse');
    // Past the first 8 MiB part: the multipart upload has started when the limit is hit.
    await expect(
      store.stage(megabytes(30 * 1024 * 1024), { maxBytes: 20 * 1024 * 1024 }),
    ).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    expect(await objectKeys(bucket.client, bucket.bucket, 'refuse/')).toEqual([]);
    expect(await pendingUploads(bucket.client, bucket.bucket, 'refuse/')).toEqual([]);
    expect(await store.cleanupStaging()).toBe(0);
  }, 60_000);

  it('aborts the multipart upload when the source fails', async () => {
    const store = storeAt('broken');
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield* megabytes(12 * 1024 * 1024);
      throw new Error('client went away');
    }
    await expect(store.stage(failing(), { maxBytes: 1e9 })).rejects.toThrow('client went away');
    expect(await objectKeys(bucket.client, bucket.bucket, 'broken/')).toEqual([]);
    expect(await pendingUploads(bucket.client, bucket.bucket, 'broken/')).toEqual([]);
  }, 60_000);

  it('commits objects past the single-copy limit with a multipart copy', async () => {
    // The 5 GiB limit scaled down: 12 MiB copied in parts of 5 MiB.
    const store = storeAt('copy', { maxSingleCopyBytes: 6 * 1024 * 1024, copyPartBytes: 5 * 1024 * 1024 });
    const size = 12 * 1024 * 1024;
    const staged = await store.stage(megabytes(size), { maxBytes: size });
    await store.commit(staged, 'm/1/model.onnx');
    const bytes = await store.read('m/1/model.onnx', staged.sha256);
    expect(bytes.length).toBe(size);
    expect(await objectKeys(bucket.client, bucket.bucket, 'copy/.staging/')).toEqual([]);
    await expect(
      store.commit(await store.stage(megabytes(size), { maxBytes: size }), 'm/1/model.onnx'),
    ).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
  }, 60_000);

  it('lets exactly one of two racing commits of a key win', async () => {
    const store = storeAt('race', { maxSingleCopyBytes: 0 });
    const [a, b] = await Promise.all([
      store.stage(bytes('from a'), { maxBytes: 100 }),
      store.stage(bytes('from b'), { maxBytes: 100 }),
    ]);
    const results = await Promise.allSettled([
      store.commit(a, 'k/model.onnx'),
      store.commit(b, 'k/model.onnx'),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const winner = results[0]?.status === 'fulfilled' ? 'from a' : 'from b';
    expect(Buffer.from(await store.read('k/model.onnx')).toString()).toBe(winner);
  });

  it('keeps the sha256 in the object metadata', async () => {
    const store = storeAt('meta');
    const staged = await store.stage(bytes('weights'), { maxBytes: 100 });
    await store.commit(staged, 'a/model.onnx');
    const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
    const head = await bucket.client.send(
      new HeadObjectCommand({ Bucket: bucket.bucket, Key: 'meta/a/model.onnx' }),
    );
    expect(head.Metadata?.sha256).toBe(sha('weights'));
  });
});
