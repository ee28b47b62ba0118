import crypto from 'node:crypto';

export const ALGOS = ['sha256', 'blake3', 'xxh3', 'xxh64'] as const;
export type Algo = (typeof ALGOS)[number];

export interface Hasher {
  update(data: Uint8Array): void;
  /** Lower-case hex. */
  digest(): string;
}

export function isAlgo(name: string): name is Algo {
  return (ALGOS as readonly string[]).includes(name);
}

/** Load the implementations that need async set-up (WebAssembly); call once per thread. */
export async function loadAlgorithms(): Promise<void> {}

export function createHasher(algo: Algo): Hasher {
  switch (algo) {
    case 'sha256': {
      const h = crypto.createHash('sha256');
      return { update: (d) => void h.update(d), digest: () => h.digest('hex') };
    }
    default:
      throw new Error(`hash algorithm ${algo} is not available yet`);
  }
}
