/**
 * What a service-mode run adds to results.json (docs/results-schema.md, docs/service-mode.md).
 * Plain types so the results schema can name them without loading the service code.
 */

/** `run.target` of a service run: which service and which version of its profile. */
export interface RunTarget {
  kind: 'service';
  /** The profile's `name`. */
  name: string;
  /** The profile file as given on the command line (resolved), for --resume. */
  profile: string;
  /** sha256 of the profile file's bytes, first 16 hex digits. */
  profileHash: string;
}

/** The figures of the comparison: black-box, and the probe's when the profile has one. */
export interface ServiceFigures {
  rebuildsPerExpiry: number | null;
  staleReads: number | null;
  /** DB statements (pg_stat_statements) per completed request; probe: source loads per request. */
  dbQueriesPerRequest: number | null;
  /** Errors / requests inside fault windows; null without faults. */
  faultErrorRate: number | null;
  hitRatio: number | null;
}

/** `cells[].service`: the service-mode record of one cell. */
export interface ServiceCell {
  variant: string;
  blackBox: ServiceFigures;
  /**
   * From the probe's counters (before/after the load); absent without `probe:` in the profile.
   * Only hitRatio and dbQueriesPerRequest (source loads per request) are the probe's; the rest
   * stay null (the probe does not see expiries, versions or fault windows).
   */
  probe?: ServiceFigures & {
    requests: number;
    hits: number;
    misses: number;
    loads: Record<string, number>;
  };
  /**
   * Figures that cannot be measured from outside the service, by analysis path
   * ("cacheHealth.hitRatio"): the reason. Their values are null, never zero.
   */
  notMeasured: Record<string, string>;
  /** Keyspace notifications seen on cached keys during the load, by event. */
  keyspaceEvents: Record<string, number>;
  /** pg_stat_statements calls per profile operation (its `sql` patterns). */
  dbQueriesByOperation: Record<string, number>;
}
