/**
 * k6's end-of-test summary, kept: entry.ts's handleSummary hands k6's summary data to this pure
 * function, which names the file k6 writes it to (k6-summary.json next to the cell's k6.ndjson, or
 * the path in CACHEBENCH_K6_SUMMARY) and a one-line pointer for stdout. Defining handleSummary
 * replaces k6's own text summary, so the JSON is the whole of it: metrics with their aggregates,
 * thresholds with pass/fail, checks, and the run's state.
 */

/** The default file name, in k6's working directory, when no path is given. */
export const K6_SUMMARY_FILE = 'k6-summary.json';

/** k6's summary data (the documented shape; only what is read here is typed). */
export interface K6SummaryData {
  metrics: Record<
    string,
    {
      type: string;
      contains?: string;
      values: Record<string, number>;
      thresholds?: Record<string, { ok: boolean }>;
    }
  >;
  state?: { testRunDurationMs?: number; isStdOutTTY?: boolean };
  [k: string]: unknown;
}

/** handleSummary's return value: output name (a path or `stdout`) → content. */
export function summaryOutputs(data: K6SummaryData, summaryPath: string | undefined): Record<string, string> {
  const file = summaryPath && summaryPath.length > 0 ? summaryPath : K6_SUMMARY_FILE;
  const failed = Object.entries(data.metrics)
    .flatMap(([m, v]) =>
      Object.entries(v.thresholds ?? {}).map(([t, r]) => ({ name: `${m}: ${t}`, ok: r.ok })),
    )
    .filter((t) => !t.ok)
    .map((t) => t.name);
  const duration = data.state?.testRunDurationMs;
  const line = `k6 summary: ${file}${duration !== undefined ? ` (${(duration / 1000).toFixed(1)} s)` : ''}${failed.length > 0 ? `; thresholds failed: ${failed.join(', ')}` : ''}\n`;
  return { [file]: `${JSON.stringify(data, null, 2)}\n`, stdout: line };
}
