import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/** How often live figures and rollout progress are fetched again. */
export const LIVE_INTERVAL_MS = 2000;

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: Error | undefined;
  readonly loading: boolean;
  /** Loads again now (after an action changed something). */
  readonly reload: () => void;
}

/**
 * Loads `load()` when `key` changes, and again every `intervalMs` (0: once) while the tab is visible.
 * Answers that arrive after a newer key was asked for are dropped.
 */
export function useLoad<T>(load: () => Promise<T>, key: string, intervalMs = 0): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean; key: string }>({
    loading: true,
    key,
  });
  const latest = useRef(load);
  latest.current = load;
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    latest.current().then(
      (data) => {
        if (mine === generation.current) setState({ data, loading: false, key });
      },
      (error: Error) => {
        if (mine === generation.current) setState((s) => ({ ...s, error, loading: false, key }));
      },
    );
  }, [key]);
  useEffect(() => {
    setState((s) => (s.key === key ? s : { loading: true, key }));
    run();
    if (intervalMs <= 0) return undefined;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') run();
    }, intervalMs);
    return () => clearInterval(timer);
  }, [key, intervalMs, run]);
  const fresh = state.key === key;
  return {
    data: fresh ? state.data : undefined,
    error: fresh ? state.error : undefined,
    loading: !fresh || state.loading,
    reload: run,
  };
}

/** Runs an action, keeping its error and whether it is in flight; `then` runs after success. */
export function useAction(): {
  busy: boolean;
  error: Error | undefined;
  run: (action: () => Promise<unknown>, then?: () => void) => Promise<boolean>;
  clear: () => void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | undefined>();
  const run = useCallback(async (action: () => Promise<unknown>, then?: () => void) => {
    setBusy(true);
    setError(undefined);
    try {
      await action();
      then?.();
      return true;
    } catch (e) {
      setError(e as Error);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, clear: () => setError(undefined) };
}
