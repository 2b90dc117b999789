import { createHash, randomUUID } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ListObjectsV2CommandOutput, S3Client } from '@aws-sdk/client-s3';
import { SlipwayError } from '../../errors/index.js';
import type {
  ArtifactEntry,
  ArtifactStore,
  CommitOptions,
  StagedArtifact,
  StageOptions,
} from '../artifact-store.js';
import { checkKey } from '../safe-key.js';
import { s3Sdk, s3Storage } from './aws-sdk.js';

const STAGING = '.staging';
/** S3 caps an object key at 1024 bytes of UTF-8, prefix included. */
const MAX_OBJECT_KEY_BYTES = 1024;
/** CopyObject copies at most 5 GiB in one request; larger objects are copied part by part. */
const MAX_SINGLE_COPY_BYTES = 5 * 1024 ** 3;
/** S3's smallest multipart part (but the last); an upload has at most 10,000 parts. */
const MIN_PART_BYTES = 5 * 1024 * 1024;
/** Metadata key (x-amz-meta-sha256) holding the sha256 of a committed object. */
const SHA256_METADATA = 'sha256';

/** Where the store connects. Unset fields come from the AWS SDK's default provider chain. */
export interface S3Settings {
  /** e.g. `http://127.0.0.1:9000` for MinIO; implies path-style addressing. Unset: AWS itself. */
  readonly endpoint?: string | undefined;
  readonly region?: string | undefined;
  readonly accessKeyId?: string | undefined;
  readonly secretAccessKey?: string | undefined;
  readonly sessionToken?: string | undefined;
}

export interface S3ArtifactStoreOptions {
  readonly bucket: string;
  /** Folder of the bucket the store lives in (no leading or trailing slash); `""` = the whole bucket. */
  readonly prefix: string;
  readonly client: S3Client;
  /** Bytes of each multipart upload part (S3's minimum is 5 MiB). */
  readonly partBytes?: number;
  /** Parts uploaded at once; an upload holds about (queueSize + 1) × partBytes in memory. */
  readonly queueSize?: number;
  /** Objects above this are committed with a multipart copy (UploadPartCopy); S3's limit is 5 GiB. */
  readonly maxSingleCopyBytes?: number;
  /** Part size of a multipart copy. */
  readonly copyPartBytes?: number;
}

/** An S3 client for the settings: a custom endpoint means an S3-compatible server, addressed path-style. */
export function s3ClientFor(settings: S3Settings): S3Client {
  const credentials =
    settings.accessKeyId && settings.secretAccessKey
      ? {
          accessKeyId: settings.accessKeyId,
          secretAccessKey: settings.secretAccessKey,
          ...(settings.sessionToken ? { sessionToken: settings.sessionToken } : {}),
        }
      : undefined;
  return new (s3Sdk().S3Client)({
    ...(settings.endpoint ? { endpoint: settings.endpoint, forcePathStyle: true } : {}),
    ...(settings.region ? { region: settings.region } : {}),
    ...(credentials ? { credentials } : {}),
  });
}

/**
 * `ArtifactStore` on S3 (or an S3-compatible server such as MinIO), under `s3://<bucket>/<prefix>`.
 *
 * - `stage` streams the upload as a multipart upload (lib-storage `Upload`) to
 *   `<prefix>/.staging/<uuid>`, hashing and counting bytes on the way; past `maxBytes` it aborts the
 *   multipart upload, so nothing is left behind. Memory stays at about (queueSize + 1) × partBytes.
 * - `commit` copies the staged object to its key server-side with the sha256 in its metadata, then
 *   deletes the staged object. Without `replace` the copy is a multipart copy (UploadPartCopy, parts
 *   of 512 MiB) completed with `If-None-Match: *`, so of two servers committing the same key exactly
 *   one wins (S3 and MinIO honour the condition there; MinIO ignores it on CopyObject). A server that
 *   answers 501 to conditional writes gets a plain copy after a HeadObject check, which leaves a small
 *   race between the check and the copy. With `replace` it is one CopyObject (up to S3's 5 GiB
 *   limit; a multipart copy past it).
 * - S3 has no folders: a folder is a key prefix ending in `/`, listed with `Delimiter: '/'`.
 * - A lifecycle rule on `<prefix>/.staging/` (see RUNBOOK.md) removes what a crash leaves behind
 *   even if `cleanupStaging` never runs.
 */
export class S3ArtifactStore implements ArtifactStore {
  private readonly bucket: string;
  private readonly base: string;
  private readonly client: S3Client;
  private readonly partBytes: number;
  private readonly queueSize: number;
  private readonly maxSingleCopyBytes: number;
  private readonly copyPartBytes: number;
  private conditionalWrites = true;

  constructor(options: S3ArtifactStoreOptions) {
    this.bucket = options.bucket;
    this.base = options.prefix === '' ? '' : `${options.prefix}/`;
    this.client = options.client;
    this.partBytes = options.partBytes ?? MIN_PART_BYTES;
    this.queueSize = options.queueSize ?? 2;
    this.maxSingleCopyBytes = options.maxSingleCopyBytes ?? MAX_SINGLE_COPY_BYTES;
    this.copyPartBytes = options.copyPartBytes ?? 512 * 1024 * 1024;
  }

  async stage(source: Readable | AsyncIterable<Uint8Array>, options: StageOptions): Promise<StagedArtifact> {
    const id = randomUUID();
    const key = this.stagedKey(id);
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
              { limit_bytes: options.maxBytes },
            ),
          );
          return;
        }
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const upload = new (s3Storage().Upload)({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: meter },
      // Parts grow with the limit so that the largest allowed upload fits in 10,000 parts.
      partSize: Math.max(this.partBytes, Math.ceil(options.maxBytes / 10_000)),
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    const piping = pipeline(source, meter);
    const uploading = upload.done().catch((error: unknown) => {
      meter.destroy(error as Error);
      throw error;
    });
    const [piped, uploaded] = await Promise.allSettled([piping, uploading]);
    if (piped.status === 'rejected' || uploaded.status === 'rejected') {
      await upload.abort().catch(() => undefined);
      await this.abortUploads(key);
      await this.deleteObject(key).catch(() => undefined);
      // The limit's own error wins over what the aborted upload or the torn-down pipe report.
      if (piped.status === 'rejected' && piped.reason instanceof SlipwayError) throw piped.reason;
      throw uploaded.status === 'rejected' ? uploaded.reason : (piped as PromiseRejectedResult).reason;
    }
    return { id, sha256: hash.digest('hex'), sizeBytes: size };
  }

  async readStaged(staged: StagedArtifact): Promise<Uint8Array> {
    const bytes = await this.getBytes(this.stagedKey(staged.id));
    if (!bytes) throw new SlipwayError('FAILED_PRECONDITION', 'The staged upload is gone.');
    return bytes;
  }

  async commit(staged: StagedArtifact, key: string, options: CommitOptions = {}): Promise<void> {
    const target = this.objectKey(key, { write: true });
    const source = this.stagedKey(staged.id);
    // A file where a folder of the key should be: the key cannot exist beside it.
    const segments = key.split('/');
    const ancestors = segments.slice(1).map((_, i) => segments.slice(0, i + 1).join('/'));
    const [blocked, folder, present] = await Promise.all([
      Promise.all(ancestors.map((a) => this.headObject(this.base + a))).then((heads) => heads.some(Boolean)),
      this.isFolder(key),
      this.headObject(target),
    ]);
    if (blocked) {
      throw new SlipwayError(
        'ALREADY_EXISTS',
        `A file is in the way of "${key}": one of its folders is a file.`,
      );
    }
    if (folder) throw new SlipwayError('ALREADY_EXISTS', `"${key}" is a folder; a file cannot replace it.`);
    const exists = () =>
      new SlipwayError('ALREADY_EXISTS', `An artifact already exists at "${key}"; artifacts are immutable.`);
    if (present && !options.replace) throw exists();
    const ifNoneMatch = !options.replace && this.conditionalWrites;
    try {
      await this.copy(source, target, staged, ifNoneMatch);
    } catch (error) {
      if (ifNoneMatch && status(error) === 501) {
        // The server does not implement conditional writes: the HeadObject check above stands alone.
        this.conditionalWrites = false;
        await this.copy(source, target, staged, false);
      } else if (ifNoneMatch && (status(error) === 412 || name(error) === 'PreconditionFailed')) {
        throw exists();
      } else if (isNotFound(error)) {
        throw new SlipwayError('FAILED_PRECONDITION', 'The staged upload is gone.');
      } else {
        throw error;
      }
    }
    await this.deleteObject(source);
  }

  async discard(staged: StagedArtifact): Promise<void> {
    await this.deleteObject(this.stagedKey(staged.id));
  }

  async read(key: string, expectedSha256?: string): Promise<Uint8Array> {
    const bytes = await this.getBytes(this.objectKey(key));
    if (!bytes) throw missing(key);
    if (expectedSha256 !== undefined) {
      const actual = createHash('sha256').update(bytes).digest('hex');
      if (actual !== expectedSha256) {
        throw new SlipwayError(
          'CHECKSUM_MISMATCH',
          `Artifact "${key}" has sha256 ${actual}; the registry recorded ${expectedSha256}.`,
          { key },
        );
      }
    }
    return bytes;
  }

  async exists(key: string): Promise<boolean> {
    const object = this.objectKey(key);
    return (await this.headObject(object)) || (await this.isFolder(key));
  }

  async openRead(key: string): Promise<{ stream: Readable; sizeBytes: number }> {
    const object = this.objectKey(key);
    try {
      const output = await this.client.send(
        new (s3Sdk().GetObjectCommand)({ Bucket: this.bucket, Key: object }),
      );
      return { stream: output.Body as Readable, sizeBytes: output.ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error)) throw missing(key);
      throw error;
    }
  }

  async list(prefix: string): Promise<ArtifactEntry[]> {
    const folder = prefix === '' ? this.base : `${this.objectKey(prefix)}/`;
    const listed: ArtifactEntry[] = [];
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.client.send(
        new (s3Sdk().ListObjectsV2Command)({
          Bucket: this.bucket,
          Prefix: folder,
          Delimiter: '/',
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const common of page.CommonPrefixes ?? []) {
        const name = (common.Prefix ?? '').slice(folder.length, -1);
        if (name === '' || (prefix === '' && name === STAGING)) continue;
        listed.push({ name, isDir: true });
      }
      for (const object of page.Contents ?? []) {
        const name = (object.Key ?? '').slice(folder.length);
        if (name === '') continue;
        listed.push({ name, isDir: false, sizeBytes: object.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return listed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async isFolder(key: string): Promise<boolean> {
    const page = await this.client.send(
      new (s3Sdk().ListObjectsV2Command)({
        Bucket: this.bucket,
        Prefix: `${this.objectKey(key)}/`,
        MaxKeys: 1,
      }),
    );
    return (page.KeyCount ?? page.Contents?.length ?? 0) > 0;
  }

  async remove(key: string): Promise<void> {
    const object = this.objectKey(key, { write: true });
    await this.deleteObject(object);
    await this.deleteUnder(`${object}/`);
  }

  async cleanupStaging(olderThan?: number): Promise<number> {
    const prefix = `${this.base}${STAGING}/`;
    const removed = await this.deleteUnder(prefix, olderThan);
    return removed + (await this.abortUploads(prefix, olderThan));
  }

  /** The object key of an artifact key, refusing unsafe keys (and, for writes, the staging area). */
  private objectKey(key: string, options: { write?: boolean } = {}): string {
    checkKey(key);
    if (options.write && (key === STAGING || key.startsWith(`${STAGING}/`))) {
      throw new SlipwayError('INVALID_ARGUMENT', 'Artifact path is not allowed: it names the staging area.', {
        field: 'path',
      });
    }
    const object = this.base + key;
    if (Buffer.byteLength(`${object}/`, 'utf8') > MAX_OBJECT_KEY_BYTES) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `Artifact path is not allowed: with the store's prefix it is longer than S3's ${MAX_OBJECT_KEY_BYTES} bytes.`,
        { field: 'path' },
      );
    }
    return object;
  }

  private stagedKey(id: string): string {
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new SlipwayError('INVALID_ARGUMENT', 'Unknown staged artifact.');
    return `${this.base}${STAGING}/${id}`;
  }

  private async copy(source: string, target: string, staged: StagedArtifact, ifNoneMatch: boolean) {
    const common = {
      Bucket: this.bucket,
      Key: target,
      Metadata: { [SHA256_METADATA]: staged.sha256 },
      ContentType: 'application/octet-stream',
    };
    const copySource = `${this.bucket}/${source.split('/').map(encodeURIComponent).join('/')}`;
    // A conditional write needs a multipart copy: S3 and MinIO honour If-None-Match on
    // CompleteMultipartUpload, but MinIO ignores it on CopyObject.
    if (!ifNoneMatch && staged.sizeBytes <= this.maxSingleCopyBytes) {
      await this.client.send(
        new (s3Sdk().CopyObjectCommand)({ ...common, CopySource: copySource, MetadataDirective: 'REPLACE' }),
      );
      return;
    }
    const { UploadId } = await this.client.send(new (s3Sdk().CreateMultipartUploadCommand)(common));
    try {
      const parts: { ETag: string; PartNumber: number }[] = [];
      const partBytes = Math.max(this.copyPartBytes, Math.ceil(staged.sizeBytes / 10_000));
      let part = 1;
      for (let start = 0; start === 0 || start < staged.sizeBytes; start += partBytes, part += 1) {
        const end = Math.min(start + partBytes, staged.sizeBytes) - 1;
        const whole = start === 0 && end === staged.sizeBytes - 1;
        const output = await this.client.send(
          new (s3Sdk().UploadPartCopyCommand)({
            Bucket: this.bucket,
            Key: target,
            UploadId,
            PartNumber: part,
            CopySource: copySource,
            ...(whole ? {} : { CopySourceRange: `bytes=${start}-${end}` }),
          }),
        );
        parts.push({ ETag: output.CopyPartResult?.ETag ?? '', PartNumber: part });
        if (whole) break;
      }
      await this.client.send(
        new (s3Sdk().CompleteMultipartUploadCommand)({
          Bucket: this.bucket,
          Key: target,
          UploadId,
          MultipartUpload: { Parts: parts },
          ...(ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
      );
    } catch (error) {
      await this.client
        .send(new (s3Sdk().AbortMultipartUploadCommand)({ Bucket: this.bucket, Key: target, UploadId }))
        .catch(() => undefined);
      throw error;
    }
  }

  private async getBytes(object: string): Promise<Uint8Array | undefined> {
    try {
      const output = await this.client.send(
        new (s3Sdk().GetObjectCommand)({ Bucket: this.bucket, Key: object }),
      );
      return Buffer.from(
        await (output.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  private async headObject(object: string): Promise<boolean> {
    try {
      await this.client.send(new (s3Sdk().HeadObjectCommand)({ Bucket: this.bucket, Key: object }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  private async deleteObject(object: string): Promise<void> {
    await this.client.send(new (s3Sdk().DeleteObjectCommand)({ Bucket: this.bucket, Key: object }));
  }

  /** Deletes every object whose key starts with `prefix` (last modified before `olderThan`); returns how many. */
  private async deleteUnder(prefix: string, olderThan?: number): Promise<number> {
    let removed = 0;
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.client.send(
        new (s3Sdk().ListObjectsV2Command)({
          Bucket: this.bucket,
          Prefix: prefix,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      const keys = (page.Contents ?? []).flatMap((o) =>
        o.Key && (olderThan === undefined || (o.LastModified?.getTime() ?? 0) < olderThan)
          ? [{ Key: o.Key }]
          : [],
      );
      if (keys.length > 0) {
        const output = await this.client.send(
          new (s3Sdk().DeleteObjectsCommand)({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }),
        );
        if (output.Errors?.length) {
          throw new Error(`S3 refused to delete ${output.Errors.length} objects under "${prefix}".`);
        }
        removed += keys.length;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return removed;
  }

  /** Aborts incomplete multipart uploads whose key starts with `prefix` (begun before `olderThan`); returns how many. */
  private async abortUploads(prefix: string, olderThan?: number): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new (s3Sdk().ListMultipartUploadsCommand)({
          Bucket: this.bucket,
          Prefix: prefix,
          ...(keyMarker ? { KeyMarker: keyMarker } : {}),
          ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
        }),
      );
      for (const upload of page.Uploads ?? []) {
        if (olderThan !== undefined && (upload.Initiated?.getTime() ?? 0) >= olderThan) continue;
        await this.client
          .send(
            new (s3Sdk().AbortMultipartUploadCommand)({
              Bucket: this.bucket,
              Key: upload.Key,
              UploadId: upload.UploadId,
            }),
          )
          .catch((error: unknown) => {
            if (!isNotFound(error)) throw error;
          });
        aborted += 1;
      }
      if (!page.IsTruncated) return aborted;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }
}

function missing(key: string): SlipwayError {
  return new SlipwayError('FAILED_PRECONDITION', `Artifact "${key}" is missing from the artifact store.`, {
    key,
  });
}

function status(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function name(error: unknown): string | undefined {
  return (error as { name?: string })?.name;
}

function isNotFound(error: unknown): boolean {
  return status(error) === 404 || ['NotFound', 'NoSuchKey', 'NoSuchUpload'].includes(name(error) ?? '');
}
