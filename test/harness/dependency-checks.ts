import { expect } from 'vitest';
import type { Cluster } from './cluster.js';

/**
 * What the chaos tests of faults between the parts check on each role process: the
 * `sluice_dependency_up` gauge, `/readyz`, the log lines about an outage, and that it still runs.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `sluice_dependency_up{dependency}` of one member; undefined when it does not answer. */
export async function dependencyUp(port: number, dependency: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`sluice_dependency_up{dependency="${dependency}"}`));
    return line === undefined ? undefined : Number(line.split(' ').pop());
  } catch {
    return undefined;
  }
}

/** The `/readyz` check of `dependency` on one member. */
export async function readyzCheck(port: number, dependency: string) {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5000) });
  const body = (await response.json()) as { checks: { name: string; ok: boolean; error?: string }[] };
  return { status: response.status, check: body.checks.find((c) => c.name === dependency) };
}

/**
 * Polls until `dependency` shows down on the member at `port`, both in its gauge and in `/readyz`
 * (503, the check failing with a reason); resolves with what it saw, or undefined.
 */
export async function seenDown(port: number, dependency: string, withinMs: number) {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if ((await dependencyUp(port, dependency)) === 0) {
      const ready = await readyzCheck(port, dependency).catch(() => undefined);
      if (ready?.status === 503 && ready.check?.ok === false) return { gauge: 0, readyz: ready };
    }
    await sleep(100);
  }
  return undefined;
}

interface LogLine {
  level: number;
  time: number;
  msg: string;
}

/** Every member's JSON log lines, with the member's role. */
export function logsOf(c: Cluster): { role: string; lines: LogLine[] }[] {
  return c.members.map((member) => ({
    role: member.role,
    lines: member.process.output.flatMap((text) => {
      try {
        return [JSON.parse(text) as LogLine];
      } catch {
        return [];
      }
    }),
  }));
}

/**
 * What the members logged at warn or above from `fromMs` on: the lines naming `dependency` as
 * unreachable (the most in one process) and every warning or error (all processes).
 */
export function outageLogs(c: Cluster, dependency: string, fromMs: number) {
  let mostReportsInOneProcess = 0;
  let warnings = 0;
  const samples = new Map<string, number>();
  for (const { lines } of logsOf(c)) {
    const during = lines.filter((l) => l.time >= fromMs && l.level >= 40);
    mostReportsInOneProcess = Math.max(
      mostReportsInOneProcess,
      during.filter((l) => l.msg.startsWith(`${dependency} unreachable`)).length,
    );
    warnings += during.length;
    for (const l of during) samples.set(l.msg.slice(0, 80), (samples.get(l.msg.slice(0, 80)) ?? 0) + 1);
  }
  return { mostReportsInOneProcess, warnings, samples: Object.fromEntries(samples) };
}

export function expectNoRoleExited(c: Cluster): void {
  for (const member of c.members) {
    expect({
      role: member.role,
      exitCode: member.process.child.exitCode,
      signal: member.process.child.signalCode,
    }).toEqual({
      role: member.role,
      exitCode: null,
      signal: null,
    });
  }
}
