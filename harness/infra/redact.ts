/**
 * Credentials in URLs (redis://:pw@…, postgres://user:pw@…) must not reach logs, results.json or
 * reports: those are shared (CI artifacts, pasted into issues) while the URLs are per-run secrets.
 */

const URL_AUTH = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/]*):([^\s@/]+)@/gi;

/** Every `scheme://user:password@` in `text` with the password replaced by `***`. */
export function redactSecrets(text: string): string {
  return text.replace(URL_AUTH, '$1$2:***@');
}
