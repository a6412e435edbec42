/** Flag parsers and options several commands share; each command declares its own flags. */
import { Option } from 'commander';
import { CachebenchError } from '../errors.ts';

export const INFRA = ['local', 'containers', 'external', 'auto'];

export function intArg(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v) || n < min || n > max) {
      throw new CachebenchError(
        'BAD_FLAG',
        `${name}: "${v}" is not an integer in ${min}..${max === Number.MAX_SAFE_INTEGER ? '∞' : max}`,
        { exitCode: 2 },
      );
    }
    return n;
  };
}

export const infraOption = (): Option =>
  new Option('--infra <kind>', 'where Redis/PostgreSQL/Toxiproxy come from').choices(INFRA).default('local');
