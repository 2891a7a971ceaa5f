/** The machine a figure was measured on: CPU, cores, memory, runtime versions, load. */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface MachineInfo {
  cpu: string;
  cores: number;
  ramGiB: number;
  node: string;
  onnxruntime: string;
  platform: string;
  load: [number, number, number];
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  const [l1, l5, l15] = loadavg();
  return {
    cpu: c[0]?.model.trim() || 'unknown',
    cores: c.length,
    ramGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    onnxruntime: packageVersion('onnxruntime-node'),
    platform: `${process.platform}-${process.arch}`,
    load: [l1, l5, l15].map((x) => Math.round(x * 100) / 100) as [number, number, number],
  };
}

export function describeMachine(m: MachineInfo = machineInfo()): string {
  return `${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.platform}, Node ${m.node}, onnxruntime-node ${m.onnxruntime}`;
}

export function loadNote(m: MachineInfo = machineInfo()): string {
  return `load average ${m.load.join(' / ')} (1/5/15 min) on ${m.cores} cores`;
}
