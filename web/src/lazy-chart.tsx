import { useEffect, useState } from 'preact/hooks';
import type { Series } from './chart.js';

type Chart = typeof import('./chart.js').default;
let loaded: Promise<Chart> | null = null;

/** The chart, loaded with its library only when a screen first draws one (the first screen has none). */
export function LineChart(props: {
  series: readonly Series[];
  xLabel: string;
  summary: string;
  height?: number;
}) {
  const [Chart, setChart] = useState<Chart | null>(null);
  useEffect(() => {
    loaded ??= import('./chart.js').then((m) => m.default);
    let live = true;
    void loaded.then((c) => live && setChart(() => c));
    return () => {
      live = false;
    };
  }, []);
  return Chart ? <Chart {...props} /> : <p class="muted chart-loading">{props.summary}</p>;
}

export type { Series };
