// `sluice import-eop --inbound in.json --outbound out.json [--accepted-domains ad.json]
// [--connection-filter cf.json] [--transport-rules tr.json] [-o sluice.yaml]`: reads the
// ConvertTo-Json exports of an EOP tenant and writes a commented Sluice config (stdout without -o).
// Each setting not imported is a warning on stderr and a comment in the YAML. Exit 0 written,
// 1 when an input cannot be read.
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { buildConfig, warningLines, type EopExports } from '../import/build-config.js';
import { renderYaml } from '../import/render-yaml.js';

export const IMPORT_HELP = `Usage: sluice import-eop --inbound FILE --outbound FILE [--accepted-domains FILE]
                         [--connection-filter FILE] [--transport-rules FILE] [-o FILE]

Turns the JSON exports of an Exchange Online Protection tenant into a Sluice config:
  Get-InboundConnector | ConvertTo-Json -Depth 5              > in.json
  Get-OutboundConnector | ConvertTo-Json -Depth 5             > out.json
  Get-AcceptedDomain | ConvertTo-Json                         > ad.json
  Get-HostedConnectionFilterPolicy | ConvertTo-Json           > cf.json
  Get-TransportRule | ConvertTo-Json -Depth 5                 > tr.json
Settings Sluice does not support are listed on stderr and as comments in the output.

Options:
  --inbound FILE            Get-InboundConnector export (required)
  --outbound FILE           Get-OutboundConnector export (required)
  --accepted-domains FILE   Get-AcceptedDomain export
  --connection-filter FILE  Get-HostedConnectionFilterPolicy export
  --transport-rules FILE    Get-TransportRule export
  -o, --output FILE         write the config here (default: stdout)
`;

/** PowerShell 5.1's `>` writes UTF-16LE with a BOM; `Out-File -Encoding utf8` a UTF-8 BOM. */
export function decodeExport(buf: Buffer): string {
  if (buf[0] === 0xff && buf[1] === 0xfe) return buf.subarray(2).toString('utf16le');
  if (buf[0] === 0xfe && buf[1] === 0xff) return Buffer.from(buf.subarray(2)).swap16().toString('utf16le');
  const s = buf.toString('utf8');
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

async function readExport(file: string): Promise<unknown> {
  const text = decodeExport(await readFile(file)).trim();
  // A cmdlet that found nothing makes ConvertTo-Json write nothing.
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message})`);
  }
}

export async function runImportEop(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        inbound: { type: 'string' },
        outbound: { type: 'string' },
        'accepted-domains': { type: 'string' },
        'connection-filter': { type: 'string' },
        'transport-rules': { type: 'string' },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`sluice import-eop: ${(err as Error).message}\n\n${IMPORT_HELP}`);
    return 1;
  }
  if (values.help) {
    process.stdout.write(IMPORT_HELP);
    return 0;
  }
  if (!values.inbound || !values.outbound) {
    process.stderr.write(`sluice import-eop: --inbound and --outbound are required\n\n${IMPORT_HELP}`);
    return 1;
  }
  const files: [keyof EopExports, string | undefined][] = [
    ['inbound', values.inbound],
    ['outbound', values.outbound],
    ['acceptedDomains', values['accepted-domains']],
    ['connectionFilter', values['connection-filter']],
    ['transportRules', values['transport-rules']],
  ];
  const exports: Partial<EopExports> = {};
  try {
    for (const [key, file] of files) if (file) exports[key] = await readExport(file);
  } catch (err) {
    process.stderr.write(`sluice import-eop: ${(err as Error).message}\n`);
    return 1;
  }
  const result = buildConfig(exports as EopExports);
  const sources = files.filter(([, f]) => f).map(([, f]) => f).join(', ');
  const header = [
    ` Imported from Exchange Online Protection by \`sluice import-eop\` (${sources}).`,
    ` Review the NOT IMPORTED comments, complete server:, then run \`sluice check\`.`,
    result.notes.length ? ` ${result.notes.length} setting(s) were not imported.` : ' Every setting was imported.',
  ].join('\n');
  const yaml = renderYaml(result, header);
  for (const line of warningLines(result.notes)) process.stderr.write(`warning: ${line}\n`);
  if (values.output) {
    await writeFile(values.output, yaml);
    process.stderr.write(`wrote ${values.output}: ${objectsCount(result.config)}\n`);
  } else {
    process.stdout.write(yaml);
  }
  return 0;
}

function objectsCount(config: Record<string, unknown>): string {
  const n = (k: string) => (Array.isArray(config[k]) ? (config[k] as unknown[]).length : 0);
  return `${n('inboundConnectors')} inbound, ${n('outboundConnectors')} outbound connectors, ${n('acceptedDomains')} accepted domains` +
    (config.transportRules ? `, ${n('transportRules')} transport rules` : '');
}
