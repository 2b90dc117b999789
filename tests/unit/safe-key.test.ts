import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LocalArtifactStore } from '../../src/artifacts/local/local-artifact-store.js';
import { resolveKey } from '../../src/artifacts/safe-key.js';
import { SlipwayError } from '../../src/errors/index.js';

const ROOT = resolve(tmpdir(), 'slipway-root');

/** Ways of spelling "go up a folder" that have broken real artifact servers. */
const TRAVERSALS = [
  '..',
  '%2e%2e',
  '%2E%2E',
  '%252e%252e',
  '%252E%252E',
  '.%2e',
  '%2e.',
  '..%2f..',
  '..%252f..',
  '..%5c..',
  '..\\..',
  '%2e%2e%2f',
  '%c0%ae%c0%ae',
];
const SEGMENTS = [
  'models',
  'a',
  'b.onnx',
  'x',
  '.',
  '',
  ...TRAVERSALS,
  'etc',
  'passwd',
  '%00',
  'a\u0000b',
  'C:',
  'c:\\windows',
  '\\\\host\\share',
];

const keyArbitrary = fc.oneof(
  fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 8 }).map((parts) => parts.join('/')),
  fc.tuple(fc.constantFrom('/', '//', '\\', 'file:///', 'C:/', '/etc/'), fc.string()).map(([a, b]) => a + b),
  fc.string({ maxLength: 40 }),
  fc
    .array(fc.constantFrom(...SEGMENTS, 'ok'), { minLength: 1, maxLength: 6 })
    .map((parts) => parts.join('\\')),
);

describe('artifact key safety', () => {
  it('never resolves a key outside the root, whatever its spelling (property)', () => {
    fc.assert(
      fc.property(keyArbitrary, (key) => {
        let path: string;
        try {
          path = resolveKey(ROOT, key);
        } catch (error) {
          expect(error).toBeInstanceOf(SlipwayError);
          expect((error as SlipwayError).code).toBe('INVALID_ARGUMENT');
          return;
        }
        expect(path.startsWith(ROOT + sep)).toBe(true);
        expect(resolve(path)).toBe(path);
        // Even a later layer that percent-decodes twice must not find a way up.
        const decodedTwice = (() => {
          try {
            return decodeURIComponent(decodeURIComponent(key));
          } catch {
            return key;
          }
        })();
        expect(decodedTwice.split(/[\\/]/)).not.toContain('..');
      }),
      { numRuns: 20_000 },
    );
  });

  it.each([
    '../etc/passwd',
    'models/../../etc/passwd',
    '%2e%2e/etc/passwd',
    '%252e%252e/%252e%252e/etc/passwd',
    '/etc/passwd',
    'C:/Windows/system.ini',
    'models\\..\\..\\x',
    'a/\u0000/b',
    'a//b',
    './a',
    '',
  ])('refuses %j', (key) => {
    expect(() => resolveKey(ROOT, key)).toThrow(SlipwayError);
  });

  it.each([
    ['256 ASCII bytes', 'a'.repeat(256)],
    ['a long middle segment', `models/${'x'.repeat(300)}/model.onnx`],
    ['86 three-byte characters (258 bytes)', '€'.repeat(86)],
    ['64 four-byte characters (256 bytes)', '😀'.repeat(64)],
    ['a segment too long once percent-decoded is still its encoded length', `%41${'b'.repeat(253)}`],
  ])('refuses a segment longer than a file name may be: %s', (_name, segment) => {
    expect(() => resolveKey(ROOT, `mlflow/1/${segment}`)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'path' } }),
    );
  });

  it.each([
    ['255 ASCII bytes', 'a'.repeat(255)],
    ['85 three-byte characters (255 bytes)', '€'.repeat(85)],
    ['63 four-byte characters (252 bytes)', '😀'.repeat(63)],
  ])('accepts a segment of at most 255 bytes: %s', (_name, segment) => {
    expect(resolveKey(ROOT, `mlflow/1/${segment}`)).toBe(join(ROOT, 'mlflow', '1', segment));
  });

  it('answers a long segment with INVALID_ARGUMENT on every store operation, never ENAMETOOLONG', async () => {
    const store = new LocalArtifactStore(mkdtempSync(join(tmpdir(), 'slipway-long-')));
    const key = `mlflow/${'n'.repeat(256)}`;
    const refused = { code: 'INVALID_ARGUMENT' };
    const staged = await store.stage(Readable.from([Buffer.from('bytes')]), { maxBytes: 100 });
    await expect(store.commit(staged, key)).rejects.toMatchObject(refused);
    await expect(store.read(key)).rejects.toMatchObject(refused);
    await expect(store.exists(key)).rejects.toMatchObject(refused);
    await expect(store.openRead(key)).rejects.toMatchObject(refused);
    await expect(store.list(key)).rejects.toMatchObject(refused);
    await expect(store.isFolder(key)).rejects.toMatchObject(refused);
    await expect(store.remove(key)).rejects.toMatchObject(refused);
  });

  it('accepts ordinary keys inside the root', () => {
    expect(resolveKey(ROOT, 'models/penguin-species/3/model.onnx')).toBe(
      join(ROOT, 'models/penguin-species/3/model.onnx'),
    );
    expect(resolveKey(ROOT, 'models/a%20b/1/model.onnx')).toBe(join(ROOT, 'models/a%20b/1/model.onnx'));
  });

  it('refuses to read or write through a symlink planted inside the store', async () => {
    const root = mkdtempSync(join(tmpdir(), 'slipway-links-'));
    const outside = mkdtempSync(join(tmpdir(), 'slipway-outside-'));
    writeFileSync(join(outside, 'secret'), 'secret');
    mkdirSync(join(root, 'models'), { recursive: true });
    symlinkSync(outside, join(root, 'models', 'evil'));
    symlinkSync(join(outside, 'secret'), join(root, 'models', 'file-link'));
    const store = new LocalArtifactStore(root);
    await expect(store.read('models/evil/secret')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.read('models/file-link')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const staged = await store.stage(Readable.from([Buffer.from('bytes')]), { maxBytes: 100 });
    await expect(store.commit(staged, 'models/evil/new-file')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
