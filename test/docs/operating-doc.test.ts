// docs/operating.md names every metric that /metrics serves, and no metric that it does not.
import { describe, expect, it } from 'vitest';
import { WritebackMetrics } from '../../src/web/metrics.js';
import { readPage } from './markdown.js';

describe('docs/operating.md', () => {
  it('documents every device_writeback_ metric, and only those', async () => {
    const served = (await new WritebackMetrics().registry.getMetricsAsJSON())
      .map((m) => m.name)
      .filter((name) => name.startsWith('device_writeback_'));
    const named = new Set(readPage('docs/operating.md').match(/\bdevice_writeback_[a-z0-9_]+/g) ?? []);
    expect(served.length).toBeGreaterThan(10);
    expect(
      served.filter((name) => !named.has(name)),
      'add the metric to the table of docs/operating.md',
    ).toEqual([]);
    expect([...named].filter((name) => !served.includes(name))).toEqual([]);
  });
});
