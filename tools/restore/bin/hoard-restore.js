#!/usr/bin/env node
import("../dist/main.bundle.mjs").then((m) => m.main(process.argv.slice(2)));
