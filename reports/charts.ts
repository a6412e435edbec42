/**
 * Server-side charts: echarts 6 SSR renders each chart to an SVG string, so the HTML report is
 * one self-contained file with no script. echarts escapes the text it writes into the SVG (series
 * names, titles), which the renderer tests check with a hostile strategy name.
 */
import * as echarts from 'echarts';

export interface LineSeries {
  name: string;
  color: string;
  /** [x seconds since load start, y]; null y leaves a gap. */
  points: [number, number | null][];
}

export interface Shade {
  from: number;
  to: number;
  label: string;
}

export interface LineChartSpec {
  title: string;
  yName: string;
  series: LineSeries[];
  shades: Shade[];
  width?: number;
  height?: number;
  yMax?: number;
}

export function renderLineChart(spec: LineChartSpec): string {
  const width = spec.width ?? 560;
  const height = spec.height ?? 280;
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    const series = spec.series.map((s, i) => ({
      name: s.name,
      type: 'line' as const,
      showSymbol: false,
      connectNulls: false,
      lineStyle: { width: 1.6, color: s.color },
      itemStyle: { color: s.color },
      data: s.points.map(([x, y]) => [x, y === null ? '-' : y]),
      ...(i === 0 && spec.shades.length
        ? {
            markArea: {
              silent: true,
              itemStyle: {
                color: 'rgba(220, 38, 38, 0.10)',
                borderColor: 'rgba(220, 38, 38, 0.45)',
                borderWidth: 1,
              },
              label: { show: true, position: 'insideTop' as const, color: '#991b1b', fontSize: 10 },
              data: spec.shades.map((sh) => [{ name: sh.label, xAxis: sh.from }, { xAxis: sh.to }]),
            },
          }
        : {}),
    }));
    chart.setOption({
      animation: false,
      // The unit rides in the title: a y-axis name would collide with it in the top-left corner.
      title: {
        text: `${spec.title} (${spec.yName})`,
        left: 8,
        top: 4,
        textStyle: { fontSize: 13, fontWeight: 600, color: '#1f2937' },
      },
      legend: {
        type: 'plain',
        bottom: 2,
        left: 'center',
        itemWidth: 14,
        itemHeight: 8,
        textStyle: { fontSize: 10 },
      },
      grid: { left: 52, right: 16, top: 36, bottom: 30 + 16 * Math.ceil(spec.series.length / 5) },
      xAxis: {
        type: 'value',
        name: 's',
        nameGap: 4,
        min: 0,
        max: 'dataMax',
        axisLabel: { fontSize: 10 },
        splitLine: { show: false },
      },
      yAxis: {
        type: 'value',
        axisLabel: { fontSize: 10 },
        ...(spec.yMax !== undefined ? { max: spec.yMax } : {}),
        min: 0,
      },
      series,
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}
