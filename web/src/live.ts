import { useEffect, useState } from 'preact/hooks';
import { metricsText } from './api.js';
import { figuresBetween, parseSample, type Sample, type VersionFigures } from './figures.js';
import { LIVE_INTERVAL_MS } from './hooks.js';

export { figureKey, type VersionFigures } from './figures.js';

/**
 * Reads `/metrics` every LIVE_INTERVAL_MS while mounted and answers each version's figures over the last
 * interval (empty until the second read). A server whose metrics the token may not read answers nothing.
 */
export function useLiveFigures(): Map<string, VersionFigures> {
  const [figures, setFigures] = useState<Map<string, VersionFigures>>(new Map());
  useEffect(() => {
    let previous: Sample | null = null;
    let stopped = false;
    const read = async () => {
      if (document.visibilityState !== 'visible') return;
      try {
        const sample = parseSample(await metricsText(), performance.now());
        if (!stopped) setFigures(figuresBetween(previous, sample));
        previous = sample;
      } catch {
        // The figures are an extra: the board works without them.
      }
    };
    void read();
    const timer = setInterval(read, LIVE_INTERVAL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);
  return figures;
}
