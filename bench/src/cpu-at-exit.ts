import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';

/** What cpu-at-exit writes: CPU µs (user + system, every thread) of the process at two moments. */
export interface ProcessCpu {
  /** When its HTTP server took its first request: the end of start-up (null: it never took one). */
  firstRequestMicros: number | null;
  atExitMicros: number;
}

/**
 * Preloaded (`node --import`) into a process the bench runs to its end, such as `sluice run`: at
 * exit it writes a `ProcessCpu` to the file named by SLUICE_BENCH_CPU_FILE. /proc/<pid>/stat cannot
 * give it: the entry is gone once the child is reaped, and sampling it before misses the end of
 * the run. The first request marks the end of start-up (loading modules, opening the log and the
 * store) so that a short run is not mostly start-up.
 */
const file = process.env.SLUICE_BENCH_CPU_FILE;
const cpuMicros = () => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};

if (file) {
  let firstRequestMicros: number | null = null;
  const onRequest = () => {
    firstRequestMicros = cpuMicros();
    unsubscribe('http.server.request.start', onRequest);
  };
  subscribe('http.server.request.start', onRequest);
  process.on('exit', () => {
    writeFileSync(file, JSON.stringify({ firstRequestMicros, atExitMicros: cpuMicros() } satisfies ProcessCpu));
  });
}
