#!/usr/bin/env node
// hoard push REMOTE: see lib/exchange.mjs for the chain of tools it runs.
import { exchange } from './lib/exchange.mjs';

export async function main(argv) {
  process.exit(await exchange('push', argv));
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
