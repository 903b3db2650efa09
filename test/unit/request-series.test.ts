import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createRequestSeries } from '../../src/plugins/request-metrics.js';

const LABELS = 'method="GET",route="/CompanyProducts",status_code="200"';

function linesOf(text: string, prefix: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(prefix));
}

describe('request series', () => {
  it('when durations are observed, then the histogram is cumulative, its +Inf and count are every request, and its sum adds them', async () => {
    const registry = new Registry();
    const series = createRequestSeries(registry);
    for (const seconds of [0.001, 0.005, 0.02, 0.3, 20])
      series.observe('GET', '/CompanyProducts', 200, seconds);
    series.observe('POST', '/PhoneRecharges', 201, 0.04);
    const text = await registry.metrics();

    expect(text).toContain('# TYPE http_requests_total counter');
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
    expect(linesOf(text, 'http_requests_total{')).toEqual([
      `http_requests_total{${LABELS}} 5`,
      'http_requests_total{method="POST",route="/PhoneRecharges",status_code="201"} 1',
    ]);
    // A bound holds the durations up to and including it (0.005 is in le="0.005").
    expect(linesOf(text, `http_request_duration_seconds_bucket{le="`).slice(0, 12)).toEqual(
      [
        ['0.005', 2],
        ['0.01', 2],
        ['0.025', 3],
        ['0.05', 3],
        ['0.1', 3],
        ['0.25', 3],
        ['0.5', 4],
        ['1', 4],
        ['2.5', 4],
        ['5', 4],
        ['10', 4],
        ['+Inf', 5],
      ].map(([le, count]) => `http_request_duration_seconds_bucket{le="${le}",${LABELS}} ${count}`),
    );
    const sum = Number(linesOf(text, `http_request_duration_seconds_sum{${LABELS}}`)[0]?.split(' ')[1]);
    expect(sum).toBeCloseTo(20.326, 9);
    expect(linesOf(text, `http_request_duration_seconds_count{${LABELS}}`)).toEqual([
      `http_request_duration_seconds_count{${LABELS}} 5`,
    ]);
  });

  it('when the registry is reset, then every series starts over', async () => {
    const registry = new Registry();
    const series = createRequestSeries(registry);
    series.observe('GET', '/healthz', 200, 0.001);
    registry.resetMetrics();
    expect(linesOf(await registry.metrics(), 'http_request')).toEqual([]);
    series.observe('GET', '/healthz', 200, 0.001);
    expect(linesOf(await registry.metrics(), 'http_requests_total{')).toEqual([
      'http_requests_total{method="GET",route="/healthz",status_code="200"} 1',
    ]);
  });
});
