import crypto from 'node:crypto';
import { createRequire } from 'node:module';

/**
 * The content-id algorithms. sha256 is the identity of stored content; the others
 * serve change detection and ad-hoc use. Implementations were chosen by measurement
 * (bench/RESULTS.md, README "Choices"): node:crypto's OpenSSL sha256 (SHA-NI), xxh3
 * and xxh64 from @node-rs/xxhash (native, ~7% over the cost of reading), blake3 from
 * @napi-rs/blake-hash (native; the WebAssembly builds are 3x slower).
 */
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

interface XxhashModule {
  Xxh64: new (seed?: bigint) => { update(d: Uint8Array): unknown; digest(): bigint };
  xxh3: { Xxh3: { withSeed(seed?: bigint): { update(d: Uint8Array): unknown; digest(): bigint } } };
}
interface BlakeModule {
  Blake3Hasher: new () => { update(d: Uint8Array): unknown; digest(encoding: 'hex'): string };
}

// Native modules load on first use only: a sha256 run never pays for them.
const require = createRequire(import.meta.url);
let xxhash: XxhashModule | undefined;
let blake: BlakeModule | undefined;

const hex64 = (n: bigint) => n.toString(16).padStart(16, '0');

export function createHasher(algo: Algo): Hasher {
  switch (algo) {
    case 'sha256': {
      const h = crypto.createHash('sha256');
      return { update: (d) => void h.update(d), digest: () => h.digest('hex') };
    }
    case 'xxh3': {
      const h = (xxhash ??= require('@node-rs/xxhash') as XxhashModule).xxh3.Xxh3.withSeed();
      return { update: (d) => void h.update(d), digest: () => hex64(h.digest()) };
    }
    case 'xxh64': {
      const h = new (xxhash ??= require('@node-rs/xxhash') as XxhashModule).Xxh64();
      return { update: (d) => void h.update(d), digest: () => hex64(h.digest()) };
    }
    case 'blake3': {
      const h = new (blake ??= require('@napi-rs/blake-hash') as BlakeModule).Blake3Hasher();
      return { update: (d) => void h.update(d), digest: () => h.digest('hex') };
    }
  }
}

/** Hash of one whole buffer; sha256 uses the one-shot API (2x cheaper per small file). */
export function hashBuffer(algo: Algo, data: Uint8Array): string {
  if (algo === 'sha256') return crypto.hash('sha256', data, 'hex');
  const h = createHasher(algo);
  h.update(data);
  return h.digest();
}
