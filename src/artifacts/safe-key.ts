import { isAbsolute, join, sep } from 'node:path';
import { echo, SlipwayError } from '../errors/index.js';

const MAX_KEY_LENGTH = 1024;
/** File systems cap a file or folder name at 255 bytes (ENAMETOOLONG past it). */
const MAX_SEGMENT_BYTES = 255;

/**
 * Resolves an artifact key to a path under `root`, or throws INVALID_ARGUMENT. Keys are taken
 * literally (never URL-decoded), and anything that could mean "elsewhere" to this or any later layer
 * is refused rather than normalised: empty, `.` or `..` segments, absolute paths, drive letters,
 * backslashes, NUL and control characters, segments that would become `.`/`..` or gain a slash
 * after one or two rounds of percent-decoding, and segments longer than a file name may be (255
 * bytes of UTF-8). Symlinks are checked by the store on access.
 */
export function resolveKey(root: string, key: string): string {
  checkKey(key);
  const path = join(root, ...key.split('/'));
  if (!path.startsWith(root.endsWith(sep) ? root : root + sep)) refuseKey(key, 'it leaves the artifact root');
  return path;
}

/**
 * Checks a key by the rules of `resolveKey` without a file system behind it (object stores use the
 * checked key as the object name, under their prefix); returns it unchanged or throws INVALID_ARGUMENT.
 */
export function checkKey(key: string): string {
  const refuse = (why: string): never => refuseKey(key, why);
  if (typeof key !== 'string' || key.length === 0) refuse('it is empty');
  if (key.length > MAX_KEY_LENGTH) refuse(`it is longer than ${MAX_KEY_LENGTH} characters`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this rejects.
  if (/[\u0000-\u001f\u007f]/.test(key)) refuse('it contains a control character');
  if (key.includes('\\')) refuse('it contains a backslash');
  if (key.startsWith('/') || isAbsolute(key) || /^[A-Za-z]:/.test(key)) refuse('it is absolute');
  for (const segment of key.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') refuse('it has an empty, "." or ".." segment');
    if (Buffer.byteLength(segment, 'utf8') > MAX_SEGMENT_BYTES)
      refuse(
        `a segment is longer than ${MAX_SEGMENT_BYTES} bytes; expected names of at most ${MAX_SEGMENT_BYTES}`,
      );
    let decoded = segment;
    for (let round = 0; round < 2 && decoded.includes('%'); round += 1) {
      try {
        decoded = decodeURIComponent(decoded);
      } catch {
        break;
      }
      if (decoded === '.' || decoded === '..' || /[/\\]/.test(decoded) || decoded.includes('\0'))
        refuse('it has an encoded separator or ".." segment');
    }
  }
  return key;
}

function refuseKey(key: string, why: string): never {
  throw new SlipwayError('INVALID_ARGUMENT', `Artifact path ${echo(key)} is not allowed: ${why}.`, {
    field: 'path',
  });
}
