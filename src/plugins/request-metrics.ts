import { Counter, type Metric, type Registry } from 'prom-client';

const REQUESTS_HELP = 'HTTP requests answered, by method, route and status';
const DURATION_HELP =
  'Time from the request arriving to the response being sent, by method, route and status';
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One (method, route, status) series: its requests and their durations, by bucket (not cumulated). */
type Series = { labels: Record<string, string>; count: number; sum: number; buckets: number[] };

/**
 * `http_requests_total` and `http_request_duration_seconds`, both from one set of plain counters per series,
 * turned into prom-client's form when scraped. prom-client's own Counter and Histogram hash the label values
 * and validate them on every increment, even through a labelled child (~1.5 % of a cached catalog read in
 * docs/performance.md's profiles). Counting here is a map lookup and a few additions.
 */
export function createRequestSeries(registry: Registry) {
  // Bounded by the routes served (unmatched URLs share one label) times their methods and statuses.
  const series = new Map<string, Series>();
  const all = () => [...series.values()];
  const reset = () => series.clear();
  // A public Counter, refilled from the series at each scrape. Its own reset() leaves `series` alone; the
  // histogram's below clears it, so Registry.resetMetrics() still starts both over.
  new Counter({
    name: 'http_requests_total',
    help: REQUESTS_HELP,
    labelNames: ['method', 'route', 'status_code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, count } of series.values()) this.inc(labels, count);
    },
  });
  const name = 'http_request_duration_seconds';
  registerComputed(registry, name, 'histogram', DURATION_HELP, reset, () =>
    all().flatMap(({ labels, count, sum, buckets }) => {
      let cumulated = 0;
      return [
        ...DURATION_BUCKETS.map((le, index) => {
          cumulated += buckets[index] ?? 0;
          return { labels: { le, ...labels }, value: cumulated, metricName: `${name}_bucket` };
        }),
        { labels: { le: '+Inf', ...labels }, value: count, metricName: `${name}_bucket` },
        { labels, value: sum, metricName: `${name}_sum` },
        { labels, value: count, metricName: `${name}_count` },
      ];
    }),
  );
  return {
    observe(method: string, route: string, status: number, seconds: number) {
      const key = `${method} ${route} ${status}`;
      let found = series.get(key);
      if (!found) {
        const labels = { method, route, status_code: String(status) };
        found = { labels, count: 0, sum: 0, buckets: DURATION_BUCKETS.map(() => 0) };
        series.set(key, found);
      }
      found.count += 1;
      found.sum += seconds;
      // The first bucket the duration fits in; past the last one, only +Inf (the count) holds it.
      const index = DURATION_BUCKETS.findIndex((bound) => seconds <= bound);
      if (index >= 0) found.buckets[index] = (found.buckets[index] ?? 0) + 1;
    },
  };
}

type ComputedValue = { labels: Record<string, string | number>; value: number; metricName?: string };

/**
 * Registers a histogram whose buckets, sum and count are computed when scraped. Counters and gauges do this
 * with prom-client's public `collect()` (as above), but its Histogram has no way to set them, only
 * `observe()` one duration at a time. prom-client's registry reads only a metric's name, type, `get()` and
 * `reset()`, but its typings accept only its own classes, hence the cast.
 */
function registerComputed(
  registry: Registry,
  name: string,
  type: 'histogram',
  help: string,
  reset: () => void,
  values: () => ComputedValue[],
) {
  const metric = {
    name,
    help,
    type,
    get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
    reset,
  };
  registry.registerMetric(metric as unknown as Metric);
}
