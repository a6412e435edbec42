import type { ManagedService } from '../process-control.ts';

/** One service the local provisioner started: what the orchestration in local.ts needs of it. */
export interface LocalService {
  /** The running process and its restart recipe, for process-control.ts. */
  managed: ManagedService;
  /** A URL with the credentials for a port: the service's own, or a proxy in front of it. */
  url(port: number): string;
  /** Resolves with the server version once the first start answers. */
  ready(): Promise<string | undefined>;
  /** Throws unless the service's port is held by the process we started. */
  assertOwned(): void;
}
