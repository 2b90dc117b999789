import { Writable } from 'node:stream';
import pino, { type LevelWithSilent, type Logger } from 'pino';

/** A logger whose JSON lines a test can read: the server's own account of what it did. */
export interface CapturedLog {
  readonly logger: Logger;
  /** Every line written so far, as written. */
  readonly text: string[];
  /** Every line written so far, parsed. */
  readonly lines: Record<string, unknown>[];
}

/** A pino logger at `level` that keeps its lines in memory instead of writing them out. */
export function captureLog(level: LevelWithSilent = 'info'): CapturedLog {
  const text: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        const line = chunk.toString('utf8');
        text.push(line);
        lines.push(JSON.parse(line));
        done();
      },
    }),
  );
  return { logger, text, lines };
}
