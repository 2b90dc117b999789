import { createHash, randomUUID } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SlipwayError } from '../../errors/index.js';
import type {
  ArtifactEntry,
  ArtifactStore,
  CommitOptions,
  StagedArtifact,
  StageOptions,
} from '../artifact-store.js';
import { resolveKey } from '../safe-key.js';

const STAGING = '.staging';

/**
 * `ArtifactStore` on the local filesystem. A write goes to `<root>/.staging/<uuid>.part`, is fsynced,
 * then renamed into place and its directory fsynced, so after a crash a key holds either nothing or
 * the complete file, never a torn one.
 */
export class LocalArtifactStore implements ArtifactStore {
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async stage(source: Readable | AsyncIterable<Uint8Array>, options: StageOptions): Promise<StagedArtifact> {
    await mkdir(join(this.root, STAGING), { recursive: true });
    const id = randomUUID();
    const path = this.stagedPath(id);
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > options.maxBytes) {
          done(
            new SlipwayError(
              'PAYLOAD_TOO_LARGE',
              `The upload is larger than the limit of ${options.maxBytes} bytes.`,
              {
                limit_bytes: options.maxBytes,
              },
            ),
          );
          return;
        }
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      // 'wx' refuses to follow or reuse an existing path; the name is a fresh UUID anyway.
      await pipeline(source, meter, createWriteStream(path, { flags: 'wx', mode: 0o640 }));
      await fsyncPath(path, constants.O_RDWR);
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    }
    return { id, sha256: hash.digest('hex'), sizeBytes: size };
  }

  readStaged(staged: StagedArtifact): Promise<Uint8Array> {
    return readFile(this.stagedPath(staged.id));
  }

  async commit(staged: StagedArtifact, key: string, options: CommitOptions = {}): Promise<void> {
    const target = await this.pathFor(key);
    await this.assertNoSymlinks(target);
    await mkdir(dirname(target), { recursive: true }).catch((error: NodeJS.ErrnoException) => {
      // A file where a folder of the key should be: the key cannot exist beside it.
      if (error.code === 'ENOTDIR' || error.code === 'EEXIST') {
        throw new SlipwayError(
          'ALREADY_EXISTS',
          `A file is in the way of "${key}": one of its folders is a file.`,
        );
      }
      throw error;
    });
    const present = await lstat(target).catch(() => undefined);
    if (present?.isDirectory()) {
      throw new SlipwayError('ALREADY_EXISTS', `"${key}" is a folder; a file cannot replace it.`);
    }
    if (present && !options.replace) {
      throw new SlipwayError(
        'ALREADY_EXISTS',
        `An artifact already exists at "${key}"; artifacts are immutable.`,
      );
    }
    await rename(this.stagedPath(staged.id), target);
    await fsyncPath(dirname(target), constants.O_RDONLY);
  }

  async discard(staged: StagedArtifact): Promise<void> {
    await rm(this.stagedPath(staged.id), { force: true });
  }

  async read(key: string, expectedSha256?: string): Promise<Uint8Array> {
    const path = await this.pathFor(key);
    await this.assertNoSymlinks(path);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `Artifact "${key}" is missing from the artifact store.`,
          { key },
        );
      }
      throw error;
    }
    if (expectedSha256 !== undefined) {
      const actual = createHash('sha256').update(bytes).digest('hex');
      if (actual !== expectedSha256) {
        throw new SlipwayError(
          'CHECKSUM_MISMATCH',
          `Artifact "${key}" has sha256 ${actual}; the registry recorded ${expectedSha256}.`,
          {
            key,
          },
        );
      }
    }
    return bytes;
  }

  async exists(key: string): Promise<boolean> {
    const path = await this.pathFor(key);
    await this.assertNoSymlinks(path);
    return exists(path);
  }

  async openRead(key: string): Promise<{ stream: Readable; sizeBytes: number }> {
    const path = await this.pathFor(key);
    await this.assertNoSymlinks(path);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) {
      throw new SlipwayError('FAILED_PRECONDITION', `Artifact "${key}" is missing from the artifact store.`, {
        key,
      });
    }
    return { stream: createReadStream(path), sizeBytes: info.size };
  }

  async list(prefix: string): Promise<ArtifactEntry[]> {
    const path = prefix === '' ? this.root : await this.pathFor(prefix);
    if (prefix !== '') await this.assertNoSymlinks(path);
    const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
    const listed: ArtifactEntry[] = [];
    for (const entry of entries) {
      if (prefix === '' && entry.name === STAGING) continue;
      if (entry.isDirectory()) listed.push({ name: entry.name, isDir: true });
      else if (entry.isFile()) {
        const info = await stat(join(path, entry.name)).catch(() => undefined);
        if (info) listed.push({ name: entry.name, isDir: false, sizeBytes: info.size });
      }
    }
    return listed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async isFolder(key: string): Promise<boolean> {
    const path = await this.pathFor(key);
    await this.assertNoSymlinks(path);
    return (await lstat(path).catch(() => undefined))?.isDirectory() ?? false;
  }

  async remove(key: string): Promise<void> {
    const path = await this.pathFor(key);
    await this.assertNoSymlinks(path);
    if (key === STAGING || key.startsWith(`${STAGING}/`)) {
      throw new SlipwayError('INVALID_ARGUMENT', 'Artifact path is not allowed: it names the staging area.', {
        field: 'path',
      });
    }
    await rm(path, { recursive: true, force: true }).catch((error: NodeJS.ErrnoException) => {
      // A "folder" of the key is a file: there is nothing under it to remove.
      if (error.code !== 'ENOTDIR') throw error;
    });
  }

  async cleanupStaging(olderThan?: number): Promise<number> {
    const dir = join(this.root, STAGING);
    const entries = await readdir(dir).catch(() => [] as string[]);
    const stale = await Promise.all(
      entries.map(async (name) => {
        if (olderThan === undefined) return name;
        const modified = await lstat(join(dir, name)).then(
          (s) => s.mtimeMs,
          () => Number.POSITIVE_INFINITY,
        );
        return modified < olderThan ? name : null;
      }),
    );
    const removed = stale.filter((name): name is string => name !== null);
    await Promise.all(removed.map((name) => rm(join(dir, name), { force: true })));
    return removed.length;
  }

  private stagedPath(id: string): string {
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new SlipwayError('INVALID_ARGUMENT', 'Unknown staged artifact.');
    return join(this.root, STAGING, `${id}.part`);
  }

  private async pathFor(key: string): Promise<string> {
    return resolveKey(this.root, key);
  }

  /**
   * Refuses a path if it, or any folder between the root and it, is a symlink, or if the real root
   * does not contain it: a link planted inside the store must not lead reads or writes outside.
   */
  private async assertNoSymlinks(path: string): Promise<void> {
    const realRoot = await realpath(this.root).catch(() => this.root);
    let current = this.root;
    for (const segment of path.slice(this.root.length + 1).split(sep)) {
      current = join(current, segment);
      const stat = await lstat(current).catch(() => undefined);
      if (!stat) return;
      if (stat.isSymbolicLink()) {
        throw new SlipwayError(
          'INVALID_ARGUMENT',
          'Artifact path is not allowed: it passes through a symbolic link.',
          {
            field: 'path',
          },
        );
      }
    }
    const real = await realpath(path).catch(() => undefined);
    if (real !== undefined && !real.startsWith(realRoot + sep)) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        'Artifact path is not allowed: it leaves the artifact root.',
        { field: 'path' },
      );
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** Flushes a file's bytes, or (for a folder) a rename's directory entry, to the disk. */
async function fsyncPath(path: string, flags: number): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
