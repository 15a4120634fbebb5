/** What the benchmarks read of Linux's /proc: CPU seconds of a process or of every process of a command, and of the whole machine. */
import { readFileSync, readdirSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

/** utime + stime of one `/proc/<pid>/stat` text, in seconds (fields 14 and 15; the command may hold spaces and parentheses). */
function statCpu(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** CPU seconds so far of a process (NaN when it is gone or unknown). */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    return statCpu(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds so far of every process whose command is one of `names` (e.g. all PostgreSQL backends). */
export function cpuOfCommands(names: readonly string[]): number {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (names.includes(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')))) total += statCpu(stat);
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** The machine's busy and total CPU seconds so far, over every core (the first line of /proc/stat). */
export function machineCpu(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: (total - idle) / TICKS, total: total / TICKS };
}
