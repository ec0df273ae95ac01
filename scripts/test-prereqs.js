#!/usr/bin/env node
// Makes sure the real peers the integration tests talk to are installed (Debian packages):
// swaks (client), postfix (on-prem server, smtp-sink/smtp-source), dnsmasq (MX records), openssl,
// tini (the image's PID 1).
// clamd and rspamd (content filters; started by the tests, no service or freshclam needed).
// haproxy (the load balancer in front of a PROXY protocol listener).
// redis-server and postgresql (cluster mode; started by the tests as their own processes).
// python3-dkim (dkimverify: the independent verifier of the DKIM signing tests).
// As root with apt-get it installs what is missing; otherwise it stops at once with the exact line.
import { execFileSync, spawnSync } from 'node:child_process';

const NEEDED = [
  { bin: 'swaks', pkg: 'swaks' },
  { bin: 'postfix', pkg: 'postfix' },
  { bin: 'smtp-sink', pkg: 'postfix' },
  { bin: 'dnsmasq', pkg: 'dnsmasq-base' },
  { bin: 'openssl', pkg: 'openssl' },
  { bin: 'tini', pkg: 'tini' }, // the container entrypoint, rehearsed on the host
  { bin: 'clamd', pkg: 'clamav-daemon' },
  { bin: 'rspamd', pkg: 'rspamd' },
  { bin: 'haproxy', pkg: 'haproxy' },
  { bin: 'redis-server', pkg: 'redis-server' }, // cluster mode: shared connection slots
  { bin: 'dkimverify', pkg: 'python3-dkim' }, // test/helpers/dkim-verify.ts runs its library
];

const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;
const have = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { env: { ...process.env, PATH } }).status === 0;
const missing = [...new Set(NEEDED.filter((n) => !have(n.bin)).map((n) => n.pkg))];
// Cluster mode's shared trace and quarantine: Debian keeps the server binaries outside PATH.
if (!have('ls /usr/lib/postgresql/*/bin/initdb')) missing.push('postgresql');
if (missing.length === 0) process.exit(0);

const line = `apt-get install -y ${missing.join(' ')}`;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot || !have('apt-get')) {
  console.error(`The integration tests need Debian packages that are missing. Install them with:\n  sudo ${line}`);
  process.exit(1);
}
console.error(`test-prereqs: installing ${missing.join(', ')} (${line})`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', PATH };
// Postfix must not start a system instance on port 25: the tests run their own, on loopback.
execFileSync('sh', ['-c', "echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections"], { env, stdio: 'inherit' });
execFileSync('sh', ['-c', `apt-get update -qq && ${line} -qq`], { env, stdio: 'inherit' });
