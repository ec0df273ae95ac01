#!/usr/bin/env node
// Entry point of the `sluice` command. It sizes libuv's thread pool before anything uses it — in
// CommonJS, because Node's ES module loader already reads files through that pool. The spool's
// fsyncs, renames and body reads run there (4 threads by default), so with 100 concurrent sessions
// the commits queue behind each other: 16 threads cut p50 DATA-end → 250 from 121 ms to 29 ms
// (bench 10KB/1rcpt/100s, bench/RESULTS.md). An explicit UV_THREADPOOL_SIZE wins.
'use strict';
const SPOOL_THREADPOOL_SIZE = '16';
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = SPOOL_THREADPOOL_SIZE;
import('../dist/src/cli/main.js');
