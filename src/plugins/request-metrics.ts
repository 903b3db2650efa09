import { Counter, Histogram, type Registry } from 'prom-client';

const DURATION_NAME = 'http_request_duration_seconds';
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
type Label = 'method' | 'route' | 'status_code';

/**
 * `http_request_duration_seconds`, a prom-client Histogram observed once per answered request, and
 * `http_requests_total`, read from its counts when scraped (one count per request, kept once). The labelled
 * child of each (method, route, status) is found once and kept, so a request costs a map lookup and the
 * histogram's own observe.
 */
export function createRequestSeries(registry: Registry) {
  const durations = new Histogram<Label>({
    name: DURATION_NAME,
    help: 'Time from the request arriving to the response being sent, by method, route and status',
    labelNames: ['method', 'route', 'status_code'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  new Counter<Label>({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status_code'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const { metricName, labels, value } of (await durations.get()).values) {
        if (metricName === `${DURATION_NAME}_count`) this.inc(labels, value);
      }
    },
  });
  // Bounded by the routes served (unmatched URLs share one label) times their methods and statuses.
  const children = new Map<string, ReturnType<typeof durations.labels>>();
  return {
    observe(method: string, route: string, status: number, seconds: number) {
      const key = `${method} ${route} ${status}`;
      let child = children.get(key);
      if (!child) {
        child = durations.labels({ method, route, status_code: String(status) });
        children.set(key, child);
      }
      child.observe(seconds);
    },
  };
}
