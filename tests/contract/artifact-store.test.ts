import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArtifactStore } from '../../src/artifacts/artifact-store.js';
import { artifactStoreForUri } from '../../src/artifacts/artifact-store-for-uri.js';

/** The ArtifactStore contract, run against every implementation on real storage. */
const BACKENDS: { name: string; open: () => { store: ArtifactStore; root: string } }[] = [
  {
    name: 'local folder',
    open: () => {
      const root = mkdtempSync(join(tmpdir(), 'slipway-artifacts-'));
      return { store: artifactStoreForUri(`file:${root}`), root };
    },
  },
];

const bytes = (text: string) => Readable.from([Buffer.from(text)]);
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

for (const backend of BACKENDS) {
  describe(`ArtifactStore contract: ${backend.name}`, () => {
    let store: ArtifactStore;
    let root: string;
    beforeEach(() => {
      ({ store, root } = backend.open());
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

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
      expect(readdirSync(join(root, '.staging'))).toEqual([]);
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
