// A small Dockerfile reader for the image tests (no container engine runs on the CI machines):
// instructions with continuation lines joined, comments dropped, ARG defaults substituted, grouped
// into stages; and the .dockerignore patterns. Only the subset our Dockerfile uses.
import { readFileSync } from 'node:fs';

export interface Instruction {
  op: string;
  args: string;
  /** `--from=deps` style flags of COPY/HEALTHCHECK, and the rest of the words. */
  flags: Record<string, string>;
  words: string[];
  /** The exec form (a JSON array) when the arguments are one. */
  exec: string[] | null;
}

export interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

function parseInstruction(line: string, vars: Map<string, string>): Instruction {
  const m = /^(\S+)\s*(.*)$/.exec(line);
  const op = (m?.[1] ?? '').toUpperCase();
  const args = (m?.[2] ?? '').replace(/\$\{(\w+)\}/g, (all, name: string) => vars.get(name) ?? all);
  const flags: Record<string, string> = {};
  const words: string[] = [];
  for (const w of args.split(/\s+/).filter(Boolean)) {
    const f = /^--([\w-]+)=(.*)$/.exec(w);
    if (f && words.length === 0) flags[f[1]!] = f[2]!;
    else words.push(w);
  }
  let exec: string[] | null = null;
  const json = op === 'HEALTHCHECK' ? args.replace(/^(--\S+\s+)*CMD\s+/, '') : args;
  if (json.startsWith('[')) {
    try {
      exec = JSON.parse(json) as string[];
    } catch {
      exec = null;
    }
  }
  return { op, args, flags, words, exec };
}

export function readDockerfile(path: string): Stage[] {
  const text = readFileSync(path, 'utf8').replace(/\\\n/g, ' ');
  const vars = new Map<string, string>();
  const stages: Stage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const ins = parseInstruction(line, vars);
    if (ins.op === 'ARG') {
      const [name, value] = ins.args.split('=', 2);
      if (name && value !== undefined) vars.set(name, value);
    }
    if (ins.op === 'FROM') {
      const as = ins.words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ name: as === -1 ? String(stages.length) : ins.words[as + 1]!, from: ins.words[0]!, instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return stages;
}

/** The top-level names .dockerignore keeps out of the build context (plain names and `dir/sub`). */
export function readDockerignore(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}
