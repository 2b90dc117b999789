import { SlipwayError } from '../errors/index.js';

/** The opaque `page_token` of a listing: the offset of the next page, base64url-encoded JSON. */
export function encodePageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64url');
}

/** The offset a token carries; INVALID_ARGUMENT for anything this server did not issue. */
export function decodePageToken(token: string): number {
  try {
    const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { offset?: unknown };
    if (!Number.isInteger(decoded.offset) || (decoded.offset as number) < 0) throw new Error('bad offset');
    return decoded.offset as number;
  } catch {
    throw new SlipwayError('INVALID_ARGUMENT', 'page_token is not a token this server issued.', {
      field: 'page_token',
    });
  }
}
