/**
 * Server-side charts: echarts 6 SSR renders each chart to an SVG string, so the HTML report is
 * one self-contained file with no script. echarts escapes the text it writes into the SVG (series
 * names, titles), which the renderer tests check with a hostile strategy name.
 *
 * Charts are rendered at the width the report shows them (the CSS never scales an SVG up), so
 * the font sizes below are the pixel sizes a reader sees at 1400 px: none is under 11 px.
 */
import * as echarts from 'echarts';

/** Smallest font size any chart text uses, px (the renderer tests hold every SVG to it). */
export const MIN_FONT_PX = 12;
const TITLE_FONT_PX = 14;

/** Width of a chart in the two-column grid of the report, px. */
export const CHART_WIDTH = 570;
/** Width of a full-row chart (the stampede timeline), px. */
export const WIDE_CHART_WIDTH = 1170;

/**
 * Dash pattern and marker per strategy position: two strategies with identical numbers draw the
 * same line, and colour alone cannot show the one underneath. The legend shows both.
 */
const DASHES: (number[] | 'solid')[] = ['solid', [7, 4], [2, 3], [10, 3, 2, 3], [4, 4], [12, 4]];
// Every other marker is hollow and larger, so a filled marker under it at the same value shows.
const SYMBOLS = ['circle', 'emptyRect', 'triangle', 'emptyDiamond', 'rect', 'emptyCircle'];

export function lineStyleFor(i: number): { dash: number[] | 'solid'; symbol: string } {
  return { dash: DASHES[i % DASHES.length]!, symbol: SYMBOLS[i % SYMBOLS.length]! };
}

export interface LineSeries {
  name: string;
  color: string;
  /** [x seconds since load start, y]; null y leaves a gap. */
  points: [number, number | null][];
  /** Position of the strategy in the run, for its dash pattern and marker. */
  styleIndex?: number;
  /** A second measure of the same strategy (dropped next to errors): dotted, hollow markers. */
  secondary?: boolean;
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
  /** x-axis end, s (the load's duration), so every chart of a scenario shares one time axis. */
  xMax?: number;
}

const axisText = { fontSize: MIN_FONT_PX, color: '#374151' };

/** Approximate width of a shade label at MIN_FONT_PX, bold sans-serif (px per character). */
const LABEL_CHAR_PX = 7.4;
/** Plot margins (px) of the line charts and of the timeline: the label layout needs the plot width. */
const LINE_GRID = { left: 56, right: 20 };
const TIMELINE_GRID = { left: 64, right: 24 };
/** Vertical step between label rows, px. */
const LABEL_ROW_PX = MIN_FONT_PX + 4;

/**
 * The row of each fault shade's label. A label sits centred at the top of its shade; labels whose
 * text would overlap on the x axis (faults that overlap in time, or short ones close together)
 * go on successive rows instead of being printed over each other.
 */
export function shadeLabelRows(shades: readonly Shade[], pxPerSecond: number): number[] {
  const rows = shades.map(() => 0);
  const rightEdges: number[] = [];
  const centre = (sh: Shade) => ((sh.from + sh.to) / 2) * pxPerSecond;
  const order = shades.map((_, i) => i).sort((a, b) => centre(shades[a]!) - centre(shades[b]!));
  for (const i of order) {
    const sh = shades[i]!;
    const half = (sh.label.length * LABEL_CHAR_PX) / 2;
    let row = 0;
    while (row < rightEdges.length && rightEdges[row]! + 6 > centre(sh) - half) row++;
    rightEdges[row] = centre(sh) + half;
    rows[i] = row;
  }
  return rows;
}

/** px per second of a plot `plotWidth` px wide showing 0..xMax s (xMax from the shades if absent). */
function pxPerSecond(plotWidth: number, xMax: number | undefined, shades: readonly Shade[]): number {
  const end = xMax ?? Math.max(1, ...shades.map((s) => s.to));
  return plotWidth / Math.max(end, 1e-9);
}

function shadeArea(shades: Shade[], perSecond: number) {
  const rows = shadeLabelRows(shades, perSecond);
  return {
    silent: true,
    itemStyle: {
      color: 'rgba(220, 38, 38, 0.10)',
      borderColor: 'rgba(220, 38, 38, 0.45)',
      borderWidth: 1,
    },
    label: {
      show: true,
      position: 'insideTop' as const,
      color: '#991b1b',
      fontSize: MIN_FONT_PX,
      fontWeight: 600 as const,
    },
    data: shades.map((sh, i) => [
      { name: sh.label, xAxis: sh.from, label: { offset: [0, (rows[i] ?? 0) * LABEL_ROW_PX] } },
      { xAxis: sh.to },
    ]),
  };
}

export function renderLineChart(spec: LineChartSpec): string {
  const width = spec.width ?? CHART_WIDTH;
  const height = spec.height ?? 300;
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    const series = spec.series.map((s, i) => {
      const style = s.secondary ? { dash: [2, 3], symbol: 'emptyCircle' } : lineStyleFor(s.styleIndex ?? i);
      return {
        name: s.name,
        type: 'line' as const,
        // Markers on every point: a quick run has few seconds, and a value between two gaps
        // (e.g. the hit ratio before an outage) is a lone point a bare line would not draw.
        showSymbol: true,
        symbol: style.symbol,
        symbolSize: style.symbol.startsWith('empty') ? 10 : 7,
        // echarts fills hollow markers white: draw filled ones on top, inside the larger ring.
        z: style.symbol.startsWith('empty') ? 2 : 3,
        connectNulls: false,
        lineStyle: { width: 2, color: s.color, type: style.dash },
        itemStyle: { color: s.color },
        data: s.points.map(([x, y]) => [x, y === null ? '-' : y]),
        ...(i === 0 && spec.shades.length
          ? {
              markArea: shadeArea(
                spec.shades,
                pxPerSecond(width - LINE_GRID.left - LINE_GRID.right, spec.xMax, spec.shades),
              ),
            }
          : {}),
      };
    });
    const legendRows = Math.ceil(spec.series.length / 3);
    chart.setOption({
      animation: false,
      // The unit rides in the title: a y-axis name would collide with it in the top-left corner.
      title: {
        text: `${spec.title} (${spec.yName})`,
        left: 8,
        top: 4,
        textStyle: { fontSize: TITLE_FONT_PX, fontWeight: 600, color: '#1f2937' },
      },
      legend: {
        type: 'plain',
        bottom: 2,
        left: 'center',
        itemWidth: 30,
        itemHeight: 10,
        textStyle: { fontSize: MIN_FONT_PX, color: '#1f2937' },
      },
      grid: { ...LINE_GRID, top: 40, bottom: 40 + 20 * legendRows },
      xAxis: {
        type: 'value',
        name: 's',
        nameGap: 6,
        nameTextStyle: axisText,
        min: 0,
        max: spec.xMax ?? 'dataMax',
        axisLabel: axisText,
        splitLine: { show: false },
      },
      yAxis: {
        type: 'value',
        axisLabel: axisText,
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

/** One bucket-free step of a concurrency curve: from `t` (s) on, `n` loads were running. */
export type Step = [t: number, n: number];

/**
 * Number of loads running over time, exact at every start and end (no buckets): the points of a
 * step curve, two per change so a straight-line chart draws the steps. At equal timestamps ends
 * count before starts, as in the analysis' max-concurrency sweep.
 */
export function concurrencySteps(events: readonly { start: number; end: number }[], origin: number): Step[] {
  const edges: [number, number][] = [];
  for (const e of events) {
    edges.push([e.start, 1]);
    edges.push([Math.max(e.start, e.end), -1]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: Step[] = [];
  let cur = 0;
  for (let i = 0; i < edges.length; ) {
    const t = edges[i]![0];
    const before = cur;
    while (i < edges.length && edges[i]![0] === t) cur += edges[i++]![1];
    if (cur === before) continue;
    const x = (t - origin) / 1000;
    out.push([x, before], [x, cur]);
  }
  return out;
}

export function peakOf(steps: readonly Step[]): number {
  return steps.reduce((m, [, n]) => Math.max(m, n), 0);
}

export interface TimelineRow {
  /** Strategy label. */
  name: string;
  color: string;
  /** The row's caption after the name (hot key, peak, loads per expiry). */
  detail: string;
  steps: Step[];
  /** Expiry episodes of the hot key, s since load start, with their number of loads. */
  episodes: { from: number; to: number; loads: number }[];
}

export interface TimelineSpec {
  title: string;
  rows: TimelineRow[];
  /** Shared time axis end, s. */
  xMax: number;
  shades: Shade[];
  width?: number;
}

const ROW_HEIGHT = 112;

/**
 * The stampede timeline: small multiples, one row per strategy on one time axis and one y
 * scale, so a stampede of seven concurrent loads stands seven times as tall as a guarded
 * rebuild. Each expiry episode is outlined and labelled with its number of loads.
 */
export function renderStampedeTimeline(spec: TimelineSpec): string {
  const width = spec.width ?? WIDE_CHART_WIDTH;
  const top = 40;
  const height = top + spec.rows.length * ROW_HEIGHT + 36;
  const yMax = Math.max(1, ...spec.rows.map((r) => peakOf(r.steps)));
  const shadeRows = shadeLabelRows(
    spec.shades,
    pxPerSecond(width - TIMELINE_GRID.left - TIMELINE_GRID.right, spec.xMax, spec.shades),
  );
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    const last = spec.rows.length - 1;
    chart.setOption({
      animation: false,
      title: [
        {
          text: spec.title,
          left: 8,
          top: 4,
          textStyle: { fontSize: TITLE_FONT_PX, fontWeight: 600, color: '#1f2937' },
        },
        ...spec.rows.map((r, i) => ({
          text: `${r.name} — ${r.detail}`,
          left: 64,
          top: top + i * ROW_HEIGHT,
          textStyle: { fontSize: MIN_FONT_PX, fontWeight: 600, color: r.color },
        })),
      ],
      grid: spec.rows.map((_, i) => ({
        ...TIMELINE_GRID,
        top: top + i * ROW_HEIGHT + 40,
        height: ROW_HEIGHT - 58,
      })),
      xAxis: spec.rows.map((_, i) => ({
        type: 'value',
        gridIndex: i,
        min: 0,
        max: spec.xMax,
        name: i === last ? 's since load start' : '',
        nameLocation: 'middle',
        nameGap: 22,
        nameTextStyle: axisText,
        axisLabel: { ...axisText, show: i === last },
        splitLine: { show: false },
      })),
      yAxis: spec.rows.map((_, i) => ({
        type: 'value',
        gridIndex: i,
        min: 0,
        max: yMax,
        minInterval: 1,
        splitNumber: 2,
        axisLabel: axisText,
      })),
      series: spec.rows.map((r, i) => ({
        name: r.name,
        type: 'line' as const,
        xAxisIndex: i,
        yAxisIndex: i,
        showSymbol: false,
        lineStyle: { width: 1.5, color: r.color },
        areaStyle: { color: r.color, opacity: 0.35 },
        data: r.steps,
        markArea: {
          silent: true,
          itemStyle: {
            color: 'rgba(0,0,0,0)',
            borderColor: 'rgba(55,65,81,0.5)',
            borderWidth: 1,
            borderType: 'dashed',
          },
          label: {
            show: true,
            position: 'top' as const,
            color: '#1f2937',
            fontSize: MIN_FONT_PX,
            fontWeight: 600,
          },
          data: [
            ...r.episodes.map((e) => [{ name: String(e.loads), xAxis: e.from }, { xAxis: e.to }]),
            ...spec.shades.map((sh, k) => [
              {
                name: sh.label,
                xAxis: sh.from,
                itemStyle: { color: 'rgba(220, 38, 38, 0.10)', borderColor: 'rgba(220, 38, 38, 0.45)' },
                label: {
                  position: 'insideTop',
                  color: '#991b1b',
                  offset: [0, (shadeRows[k] ?? 0) * LABEL_ROW_PX],
                },
              },
              { xAxis: sh.to },
            ]),
          ],
        },
      })),
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

export interface BarChartSpec {
  title: string;
  yName: string;
  categories: string[];
  series: { name: string; color: string; values: (number | null)[] }[];
  width?: number;
  height?: number;
}

/** Grouped bars (per-operation latency percentiles). */
export function renderBarChart(spec: BarChartSpec): string {
  const width = spec.width ?? CHART_WIDTH;
  const height = spec.height ?? 300;
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({
      animation: false,
      title: {
        text: `${spec.title} (${spec.yName})`,
        left: 8,
        top: 4,
        textStyle: { fontSize: TITLE_FONT_PX, fontWeight: 600, color: '#1f2937' },
      },
      legend: { bottom: 2, left: 'center', textStyle: { fontSize: MIN_FONT_PX, color: '#1f2937' } },
      grid: { left: 56, right: 20, top: 40, bottom: 84 },
      xAxis: {
        type: 'category',
        data: spec.categories,
        axisLabel: { ...axisText, interval: 0, lineHeight: 14 },
      },
      yAxis: { type: 'value', min: 0, axisLabel: axisText },
      series: spec.series.map((s) => ({
        name: s.name,
        type: 'bar' as const,
        itemStyle: { color: s.color },
        data: s.values.map((v) => (v === null ? '-' : v)),
      })),
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}
