/** Longest part of a client's value that an error message or a log line repeats. */
export const ECHO_LIMIT = 64;

/** A client's text cut to ECHO_LIMIT characters plus "…", unquoted (for field paths such as `instances[0].<key>`). */
export function clip(text: string): string {
  return text.length > ECHO_LIMIT ? `${text.slice(0, ECHO_LIMIT)}…` : text;
}

/**
 * A client-supplied value as an error message or log line repeats it: JSON-quoted (so control
 * characters and quotes cannot forge text around it) and cut to ECHO_LIMIT characters plus "…", so a
 * megabyte-long name neither floods the log nor is reflected back in full.
 */
export function echo(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(clip(value));
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined) text = String(value);
  return clip(text);
}
