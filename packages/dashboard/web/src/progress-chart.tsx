import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** One reading of a batch's counts, taken by the page each time it polls. */
export interface Sample {
  /** Unix seconds. */
  at: number;
  done: number;
  /** Retries and 429 answers so far, over the finished items (the batch's `retries`, `rate_limited`). */
  retries: number;
  rateLimited: number;
}

/**
 * Items done over time, the rate between readings (items per minute), and the retries and 429
 * answers so far, from the samples this page took while it watched: the server keeps no history,
 * so a page opened late starts its chart late.
 */
export function ProgressChart({ samples }: { samples: Sample[] }) {
  const container = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);

  const data = (): uPlot.AlignedData => {
    const rates = samples.map((sample, index) => {
      const previous = samples[index - 1];
      if (!previous || sample.at <= previous.at) return null;
      return ((sample.done - previous.done) / (sample.at - previous.at)) * 60;
    });
    return [
      samples.map((sample) => sample.at),
      samples.map((sample) => sample.done),
      rates,
      samples.map((sample) => sample.retries),
      samples.map((sample) => sample.rateLimited),
    ];
  };

  useEffect(() => {
    if (!container.current) return;
    const width = Math.max(280, Math.min(container.current.clientWidth || 640, 900));
    chart.current = new uPlot(
      {
        width,
        height: 220,
        series: [
          {},
          { label: 'Items done', stroke: '#1d4ed8', width: 2 },
          { label: 'Items / min', stroke: '#b45309', width: 1.5, scale: 'rate' },
          { label: 'Retries', stroke: '#7c3aed', width: 1.5, dash: [6, 4] },
          { label: '429s', stroke: '#b91c1c', width: 1.5, dash: [2, 3] },
        ],
        axes: [{}, { label: 'items' }, { scale: 'rate', side: 1, label: 'per min', grid: { show: false } }],
      },
      data(),
      container.current,
    );
    return () => chart.current?.destroy();
  }, []);

  useEffect(() => {
    chart.current?.setData(data());
  }, [samples]);

  const last = samples.at(-1);

  return (
    <figure class="chart">
      <div
        ref={container}
        role="img"
        aria-label={`Items done over time: ${last?.done ?? 0} so far, ${last?.retries ?? 0} retries, ${last?.rateLimited ?? 0} answers 429`}
      />
      <figcaption>
        Progress while this page watched ({samples.length} readings): items done, items per minute, and the retries and
        429 answers of the finished items (<span data-count="retries">{last?.retries ?? 0}</span> retries,{' '}
        <span data-count="rate_limited">{last?.rateLimited ?? 0}</span> × 429 so far).
      </figcaption>
    </figure>
  );
}
