import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** One line of a chart: its name and its points (x: a step, or a time in seconds). */
export interface Series {
  readonly label: string;
  readonly points: readonly (readonly [number, number])[];
}

const COLOURS = ['#0b4f6c', '#b5451b', '#1d6b35', '#6a3d9a', '#8a6d00', '#a4161a'];

/**
 * A line chart (uPlot, drawn on a canvas): the series' points merged on one x axis. The chart is
 * described in text beside it for screen readers (`summary`).
 */
export default function LineChart({
  series,
  xLabel,
  summary,
  height = 220,
}: {
  series: readonly Series[];
  xLabel: string;
  summary: string;
  height?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element) return undefined;
    const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
    const columns = series.map((s) => {
      const byX = new Map(s.points.map((p) => [p[0], p[1]]));
      return xs.map((x) => byX.get(x) ?? null);
    });
    const width = Math.max(240, Math.min(element.clientWidth || 600, 900));
    const plot = new uPlot(
      {
        width,
        height,
        scales: { x: { time: false } },
        axes: [{ label: xLabel }, {}],
        legend: { show: true },
        series: [
          { label: xLabel },
          ...series.map((s, i) => ({
            label: s.label,
            stroke: COLOURS[i % COLOURS.length],
            width: 2,
            spanGaps: true,
            points: { show: xs.length < 60 },
          })),
        ],
      },
      [xs, ...columns] as uPlot.AlignedData,
      element,
    );
    return () => plot.destroy();
  }, [series, xLabel, height]);
  return (
    <figure class="chart">
      <div ref={box} role="img" aria-label={summary} />
    </figure>
  );
}
