#!/usr/bin/env node
/**
 * The `mitmscope` executable. It sizes the heap for a proxy (runtime/heap.ts) before the rest of
 * mitmscope is loaded — V8 grows the young generation while modules are parsed and never shrinks
 * it under steady traffic — then runs the command (command.ts). `--no-heap-tuning` keeps V8's
 * defaults; it is read from argv here because nothing is parsed yet.
 */
import { tuneHeap } from './runtime/heap.js';

if (!process.argv.slice(2).includes('--no-heap-tuning')) tuneHeap();
const { main } = await import('./command.js');
await main();
