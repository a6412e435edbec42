/** The smallest valid scenario file: tests add or break one field of it. */
export const MINIMAL = `
question: Does it work?
load:
  phases:
    - { duration: 30s, rate: 100 }
keys: { type: uniform }
mix: { read-user: 1 }
`;
