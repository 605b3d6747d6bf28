// Convergence over time, sampled in the browser: every answer of GET /v1/fleet/:ns while a
// namespace is open is kept (in memory, per namespace), as the share of the fleet on each release.
import type { Fleet } from './types.js';

export interface FleetSample {
  at: number;
  total: number;
  /** seq → instances that applied it (and run it now). */
  applied: Record<number, number>;
}

const maxSamples = 5000;
const samples = new Map<string, FleetSample[]>();

export function recordFleet(ns: string, fleet: Fleet, at = Date.now()): void {
  const list = samples.get(ns) ?? [];
  const applied: Record<number, number> = {};
  for (const instance of fleet.instances) {
    if (instance.status === 'applied') applied[instance.seq] = (applied[instance.seq] ?? 0) + 1;
  }
  list.push({ at, total: fleet.instances.length, applied });
  if (list.length > maxSamples) list.splice(0, list.length - maxSamples);
  samples.set(ns, list);
}

export function fleetSamples(ns: string): readonly FleetSample[] {
  return samples.get(ns) ?? [];
}

/** Share of the fleet that runs `seq`, among every instance reporting (0 when none). */
export function shareOn(fleet: Fleet, seq: number): { on: number; total: number; ratio: number } {
  const total = fleet.instances.length;
  const on = fleet.instances.filter((i) => i.seq === seq && i.status === 'applied').length;
  return { on, total, ratio: total === 0 ? 0 : on / total };
}
