// The container image without a container engine (none runs on the CI machines): the Dockerfile,
// .dockerignore and the Compose seed are checked for the facts the README documents, and the
// Dockerfile's own steps are rehearsed on the host — the build stage's `npm ci` on a copy of the
// build context, the production-only install in a fresh directory, the runtime stage holding only
// what it copies, started by its ENTRYPOINT and CMD under tini, probed by its HEALTHCHECK, and
// stopped by SIGTERM (exit 0, spool lock released).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { loadConfigFile } from '../../src/config/load.js';
import { makeCertSet } from '../helpers/certs.js';
import { readDockerfile, readDockerignore, type Instruction, type Stage } from '../helpers/dockerfile.js';
import { freePort } from '../helpers/ports.js';
import { REPO_ROOT } from '../helpers/sluice.js';

const stages = readDockerfile(join(REPO_ROOT, 'Dockerfile'));
const ignored = readDockerignore(join(REPO_ROOT, '.dockerignore'));
const runtime = stages.at(-1)!;
const all = (s: Stage, op: string): Instruction[] => s.instructions.filter((i) => i.op === op);
const one = (s: Stage, op: string): Instruction => {
  const found = all(s, op);
  assert.equal(found.length, 1, `stage ${s.name} has one ${op}`);
  return found[0]!;
};
const CONFIG_PATH = '/etc/sluice/sluice.yaml';
const DATA_VOLUME = '/var/lib/sluice';
// npm ci compiles better-sqlite3 from source: minutes on a busy 2-core machine.
const STEP_TIMEOUT_MS = 600_000;
const HEALTH_DEADLINE_MS = 20_000;
const STOP_DEADLINE_MS = 20_000;

describe('Dockerfile, .dockerignore and README agree', () => {
  test('multi-stage: build with dev dependencies, production dependencies alone, then the runtime', () => {
    assert.deepEqual(stages.map((s) => s.name), ['build', 'deps', 'runtime']);
    const build = stages[0]!;
    assert.ok(all(build, 'RUN').some((r) => /^npm ci\b/.test(r.args) && !r.args.includes('--omit')), 'build installs dev dependencies');
    assert.ok(all(stages[1]!, 'RUN').some((r) => /npm (ci|prune) --omit=dev\b/.test(r.args)), 'deps keeps production dependencies only');
    const fromContext = all(runtime, 'COPY').filter((c) => !c.flags.from).flatMap((c) => c.words.slice(0, -1));
    assert.deepEqual(fromContext, ['bin'], 'the runtime takes only the launcher from the sources');
    const fromStages = all(runtime, 'COPY').filter((c) => c.flags.from).map((c) => `${c.flags.from}:${c.words[0]}`);
    assert.deepEqual(fromStages.sort(), ['build:/src/dist/src', 'deps:/app/node_modules', 'deps:/app/package.json']);
  });

  test('the image runs the Node major that CI tests besides the machines\' own', async () => {
    const ci = await readFile(join(REPO_ROOT, '.ci/run'), 'utf8');
    const major = /scripts\/test-on-node\.sh (\d+)/.exec(ci)?.[1];
    assert.ok(major, '.ci/run runs the suite on another Node major');
    for (const s of stages) assert.match(s.from, new RegExp(`^node:${major}-`), `stage ${s.name}`);
  });

  test('non-root user, data volume, ports, health check, tini as PID 1, the config path', () => {
    const user = one(runtime, 'USER').args;
    assert.ok(user !== '' && !/^(root|0)(:|$)/.test(user), `USER ${user} is not root`);
    assert.deepEqual(one(runtime, 'VOLUME').exec, [DATA_VOLUME]);
    assert.deepEqual(one(runtime, 'EXPOSE').words, ['2525', '8025']);
    const health = one(runtime, 'HEALTHCHECK');
    assert.equal(health.exec?.[0], 'node');
    assert.match(health.exec?.[2] ?? '', /connect\(2525,/);
    assert.deepEqual(one(runtime, 'ENTRYPOINT').exec, ['/usr/bin/tini', '--', 'node', 'bin/sluice.cjs']);
    assert.deepEqual(one(runtime, 'CMD').exec, ['start', '--config', CONFIG_PATH]);
    assert.ok(all(runtime, 'RUN').some((r) => /apt-get install .*\btini\b/.test(r.args)));
  });

  test('.dockerignore keeps installed, built, generated and secret files out of the context', () => {
    for (const name of ['node_modules', 'dist', 'data', 'certs', '.git']) assert.ok(ignored.includes(name), name);
  });

  test('the README documents the same image: build command, config path, volume, ports', async () => {
    const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
    for (const fact of ['docker build -t sluice .', CONFIG_PATH, DATA_VOLUME, '2525', '8025', 'tini', 'HEALTHCHECK']) {
      assert.ok(readme.includes(fact), `README mentions ${fact}`);
    }
  });
});

describe('examples/compose', () => {
  const dir = join(REPO_ROOT, 'examples/compose');

  test('docker-compose.yml is YAML with Sluice, the Postfix on-prem server and the filters to come', async () => {
    const text = await readFile(join(dir, 'docker-compose.yml'), 'utf8');
    const compose = parse(text) as { services: Record<string, { volumes?: string[]; build?: string }>; volumes: Record<string, unknown> };
    assert.deepEqual(Object.keys(compose.services).sort(), ['onprem', 'sluice']);
    const sluice = compose.services.sluice!;
    assert.equal(sluice.build, '../..');
    assert.ok(sluice.volumes?.includes(`./sluice.yaml:${CONFIG_PATH}:ro`));
    assert.ok(sluice.volumes?.includes(`sluice-data:${DATA_VOLUME}`));
    assert.ok('sluice-data' in compose.volumes);
    assert.match(text, /^ {2}# rspamd:$/m);
    assert.match(text, /^ {2}# clamd:$/m);
    // Every certificate Postfix's main.cf names is mounted into the onprem container.
    const maincf = await readFile(join(dir, 'postfix/main.cf'), 'utf8');
    for (const key of ['smtp_tls_cert_file', 'smtp_tls_key_file', 'smtp_tls_CAfile']) {
      const path = new RegExp(`^${key} = (\\S+)$`, 'm').exec(maincf)?.[1];
      assert.ok(path && compose.services.onprem!.volumes?.some((v) => v.split(':')[1] === path), `${key} ${path} is mounted`);
    }
    assert.match(maincf, /^relayhost = \[sluice\]:2525$/m);
    assert.match(maincf, /^smtp_tls_security_level = secure$/m);
  });

  test('sluice.yaml loads, listens where the image exposes and checks, and spools in the volume', async () => {
    const model = await loadConfigFile(join(dir, 'sluice.yaml'));
    assert.deepEqual(model.server.listen, [{ host: '0.0.0.0', port: 2525, proxyProtocol: false }]);
    assert.ok(model.spool.dir.startsWith(`${DATA_VOLUME}/`), model.spool.dir);
    assert.equal(model.inboundConnectors[0]?.tlsSenderCertificateName?.raw, 'mail.contoso.com');
  });
});

/** Host paths standing in for each stage's WORKDIR. */
interface Rehearsal {
  root: string;
  workdirs: Map<string, { container: string; host: string }>;
}

const isIgnored = (rel: string): boolean =>
  ignored.some((p) => (p.startsWith('*.') ? rel.endsWith(p.slice(1)) : rel === p || rel.startsWith(`${p}/`)));

function hostPath(r: Rehearsal, stage: string, containerPath: string): string {
  const w = r.workdirs.get(stage);
  assert.ok(w, `stage ${stage} has a WORKDIR`);
  const abs = containerPath.startsWith('/') ? containerPath : join(w.container, containerPath);
  assert.ok(abs === w.container || abs.startsWith(`${w.container}/`), `${abs} is under ${stage}'s WORKDIR ${w.container}`);
  return join(w.host, relative(w.container, abs));
}

async function copyStep(r: Rehearsal, stage: Stage, ins: Instruction): Promise<void> {
  const sources = ins.words.slice(0, -1);
  const dest = hostPath(r, stage.name, ins.words.at(-1)!);
  for (const src of sources) {
    const from = ins.flags.from ? hostPath(r, ins.flags.from, src) : resolve(REPO_ROOT, src);
    const into = ins.words.at(-1)!.endsWith('/') || sources.length > 1 || src === '.' ? join(dest, src === '.' ? '' : src.split('/').at(-1)!) : dest;
    await cp(from, into, {
      recursive: true,
      // The build context is what .dockerignore leaves of the repository.
      filter: (path) => ins.flags.from !== undefined || !isIgnored(relative(REPO_ROOT, path)),
    });
  }
}

function runStep(cwd: string, command: string): void {
  const r = spawnSync('sh', ['-c', command], { cwd, encoding: 'utf8', timeout: STEP_TIMEOUT_MS, env: { ...process.env, npm_config_loglevel: 'error' } });
  assert.equal(r.status, 0, `RUN ${command} in ${cwd}:\n${r.stdout}\n${r.stderr}`);
}

/** Runs every stage's WORKDIR, COPY and RUN on the host; the runtime's RUNs set up system paths only. */
async function rehearse(root: string): Promise<Rehearsal> {
  const r: Rehearsal = { root, workdirs: new Map() };
  for (const stage of stages) {
    for (const ins of stage.instructions) {
      if (ins.op === 'WORKDIR') {
        const host = join(root, stage.name);
        await mkdir(host, { recursive: true });
        r.workdirs.set(stage.name, { container: ins.args, host });
      } else if (ins.op === 'COPY' && !(stage === runtime && ins.words.at(-1)!.startsWith('/etc/'))) {
        await copyStep(r, stage, ins);
      } else if (ins.op === 'RUN' && stage !== runtime) {
        runStep(r.workdirs.get(stage.name)!.host, ins.args);
      } else if (ins.op === 'RUN') {
        // apt-get install tini (the host has it: .ci/run installs it) and mkdir/chown of system paths.
        assert.match(ins.args, /^(apt-get update && apt-get install .*tini|mkdir -p \/etc\/sluice \/var\/lib\/sluice && chown)/);
      }
    }
  }
  return r;
}

describe('the runtime stage rehearsed on the host', () => {
  let root: string;
  let app: string;
  let port: number;
  let configPath: string;
  let spoolDir: string;
  let health: string[];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'sluice-image-'));
    const r = await rehearse(root);
    app = r.workdirs.get(runtime.name)!.host;
    port = await freePort();
    await mkdir(join(root, 'certs'));
    const certs = await makeCertSet(join(root, 'certs'));
    spoolDir = join(root, 'volume/spool');
    // The Compose seed's config, with the host's free port, test certificates and a spool dir.
    const config = parse(await readFile(join(REPO_ROOT, 'examples/compose/sluice.yaml'), 'utf8')) as Record<string, any>;
    config.server.listen = [{ host: '127.0.0.1', port }];
    config.server.tls = { cert: certs.server.certPath, key: certs.server.keyPath, clientCa: [certs.ca.certPath] };
    config.spool.dir = spoolDir;
    configPath = join(root, 'sluice.yaml');
    await writeFile(configPath, stringify(config));
    const exec = one(runtime, 'HEALTHCHECK').exec!;
    health = [process.execPath, ...exec.slice(1).map((a) => a.replace('2525', String(port)))];
  });

  test('holds production dependencies only, and only what the runtime stage copies', async () => {
    assert.deepEqual((await readdir(app)).sort(), ['bin', 'dist', 'node_modules', 'package.json']);
    assert.deepEqual(await readdir(join(app, 'dist')), ['src']);
    assert.ok(existsSync(join(app, 'node_modules/smtp-server')));
    // npm prune leaves the emptied @types scope directory behind: look for its packages.
    for (const dev of ['typescript', 'ajv', 'fast-check', '@types/node', '@types/better-sqlite3', '@types/pg']) assert.ok(!existsSync(join(app, 'node_modules', dev)), `${dev} is not installed`);
  });

  test('starts from ENTRYPOINT + CMD under tini, passes the HEALTHCHECK, and SIGTERM exits 0 releasing the spool lock', async () => {
    const probe = () => spawnSync(health[0]!, health.slice(1), { timeout: 10_000 }).status;
    assert.equal(probe(), 1, 'the health check fails while nothing listens');
    const argv = [...one(runtime, 'ENTRYPOINT').exec!, ...one(runtime, 'CMD').exec!].map((a) => (a === CONFIG_PATH ? configPath : a === 'node' ? process.execPath : a));
    // TINI_SUBREAPER: reap orphans as PID 1 would (tini is not PID 1 here).
    const proc = spawn(argv[0]!, argv.slice(1), { cwd: app, env: { ...process.env, NODE_ENV: 'production', TINI_SUBREAPER: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    try {
      const deadline = Date.now() + HEALTH_DEADLINE_MS;
      let healthy = false;
      while (!healthy && Date.now() < deadline && proc.exitCode === null) {
        healthy = probe() === 0;
        if (!healthy) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(healthy, `healthy within ${HEALTH_DEADLINE_MS} ms:\n${output}`);
      assert.ok(existsSync(join(spoolDir, 'sluice.lock')), 'the daemon holds the spool lock');
      proc.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), STOP_DEADLINE_MS))]);
      assert.equal(code, 0, `tini passes on Sluice's clean exit after SIGTERM:\n${output}`);
      assert.ok(!existsSync(join(spoolDir, 'sluice.lock')), 'the spool lock is released');
      assert.match(output, /"signal":"SIGTERM"/);
      assert.equal(probe(), 1, 'nothing listens after the stop');
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  });
});
