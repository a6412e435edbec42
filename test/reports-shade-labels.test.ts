// Fault shade labels in the report's charts: overlapping or crowded faults get their labels on
// separate rows instead of printed over each other (pure layout, then the rendered SVG).
import { describe, expect, it } from 'vitest';
import { renderLineChart, shadeLabelRows } from '../reports/charts.ts';

describe('shadeLabelRows', () => {
  it('puts labels of overlapping faults on different rows and keeps distant ones on the first', () => {
    const shades = [
      { from: 1, to: 5, label: 'replica-partition 3.9 s' },
      { from: 1.5, to: 4.5, label: 'sentinel-failover 3.0 s' },
      { from: 20, to: 22, label: 'redis-latency 2.0 s' },
    ];
    expect(shadeLabelRows(shades, 20)).toEqual([0, 1, 0]);
    // At a scale where the first two labels no longer touch, both stay on the first row.
    expect(shadeLabelRows([shades[0]!, { ...shades[1]!, from: 30, to: 33 }], 20)).toEqual([0, 0]);
  });

  it('stacks three labels that all collide on three rows', () => {
    const s = (label: string) => ({ from: 2, to: 3, label });
    expect(shadeLabelRows([s('a fault'), s('b fault'), s('c fault')], 50).sort()).toEqual([0, 1, 2]);
  });

  it('draws the two labels of overlapping faults at different heights in the SVG', () => {
    const svg = renderLineChart({
      title: 'Throughput',
      yName: 'requests/s',
      series: [
        {
          name: 'lock',
          color: '#111',
          points: [
            [0, 1],
            [6, 1],
          ],
        },
      ],
      shades: [
        { from: 1, to: 5, label: 'replica-partition 3.9 s' },
        { from: 1.5, to: 4.5, label: 'sentinel-failover 3.0 s' },
      ],
      xMax: 6,
    });
    const y = (label: string) => {
      const m = new RegExp(`<text[^>]*transform="translate\\(([\\d.]+) ([\\d.]+)\\)[^>]*>${label}`).exec(svg);
      expect(m, label).not.toBeNull();
      return Number(m?.[2]);
    };
    expect(Math.abs(y('replica-partition 3.9 s') - y('sentinel-failover 3.0 s'))).toBeGreaterThanOrEqual(12);
  });
});
