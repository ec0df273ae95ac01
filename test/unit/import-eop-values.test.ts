// The readers for what `ConvertTo-Json` writes: strings, EOP's numeric enum values and serialised
// .NET objects (IPAddress, IPRange, SmartHost, SmtpDomainWithSubdomains, ByteQuantifiedSize).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressSpace, bool, enumValue, ipText, list, sizeBytes, smartHostText, text } from '../../src/import/eop-values.js';
import { CONNECTOR_TYPE, RULE_MODE, TLS_SETTINGS } from '../../src/import/eop-enums.js';
import { camel } from '../../src/import/map-rules.js';

const ip = (s: string) => ({ Address: 16777343, AddressFamily: 2, IPAddressToString: s });

const table: { name: string; actual: () => unknown; expected: unknown }[] = [
  { name: 'reads the address space "smtp:*;1" as every domain', actual: () => addressSpace('smtp:*;1'), expected: '*' },
  { name: 'reads "SMTP:contoso.com;1" whatever the case of its type', actual: () => addressSpace('SMTP:contoso.com;1'), expected: 'contoso.com' },
  { name: 'reads a bare domain as itself', actual: () => addressSpace('*.contoso.com'), expected: '*.contoso.com' },
  { name: 'reads an AddressSpace object by its Address', actual: () => addressSpace({ Type: 'smtp', Address: 'fabrikam.com', Cost: 1 }), expected: 'fabrikam.com' },
  { name: 'refuses a non-SMTP address space', actual: () => addressSpace('X400:c=US;a= ;p=Contoso;1'), expected: null },
  { name: 'reads an SmtpDomainWithSubdomains object with subdomains as a wildcard', actual: () => text({ Domain: 'contoso.com', IncludeSubDomains: true }), expected: '*.contoso.com' },
  { name: 'reads the star domain object as "*"', actual: () => text({ IsStar: true, Domain: null }), expected: '*' },
  { name: 'reads an IPAddress object by IPAddressToString, not its numeric Address', actual: () => ipText(ip('127.0.0.1')), expected: '127.0.0.1' },
  { name: 'reads a CIDR IPRange object as a CIDR', actual: () => ipText({ LowerBound: ip('10.0.0.0'), UpperBound: ip('10.0.0.255'), CIDRLength: 24, RangeFormat: 2 }), expected: '10.0.0.0/24' },
  { name: 'reads a lo-hi IPRange object as a range', actual: () => ipText({ LowerBound: ip('10.0.0.5'), UpperBound: ip('10.0.0.9'), CIDRLength: 0 }), expected: '10.0.0.5-10.0.0.9' },
  { name: 'reads a one-address IPRange object as the address', actual: () => ipText({ LowerBound: '192.0.2.1', UpperBound: '192.0.2.1' }), expected: '192.0.2.1' },
  { name: 'keeps an IP string as written', actual: () => ipText('2001:db8::/32'), expected: '2001:db8::/32' },
  { name: 'reads a SmartHost object by its host name', actual: () => smartHostText({ Domain: { HostnameString: 'mail.contoso.com' }, IsIPAddress: false }), expected: 'mail.contoso.com' },
  { name: 'reads a SmartHost object by its IP address', actual: () => smartHostText({ Domain: null, Address: ip('192.0.2.25'), IsIPAddress: true }), expected: '192.0.2.25' },
  { name: 'reads a ByteQuantifiedSize string by its byte count', actual: () => sizeBytes('10 MB (10,485,760 bytes)'), expected: 10_485_760 },
  { name: 'reads "512 KB" as bytes', actual: () => sizeBytes('512 KB'), expected: 524_288 },
  { name: 'reads ConnectorType 1 as OnPremises', actual: () => enumValue(1, CONNECTOR_TYPE.names, CONNECTOR_TYPE.numbers), expected: 'OnPremises' },
  { name: 'reads ConnectorType "partner" in any case', actual: () => enumValue('partner', CONNECTOR_TYPE.names, CONNECTOR_TYPE.numbers), expected: 'Partner' },
  { name: 'reads TlsSettings 4 as DomainValidation (the enum skips 3)', actual: () => enumValue(4, TLS_SETTINGS.names, TLS_SETTINGS.numbers), expected: 'DomainValidation' },
  { name: 'refuses TlsSettings 3', actual: () => enumValue(3, TLS_SETTINGS.names, TLS_SETTINGS.numbers), expected: null },
  { name: 'reads a numeric string enum value', actual: () => enumValue('3', RULE_MODE.names, RULE_MODE.numbers), expected: 'Enforce' },
  { name: 'reads "$true" as true', actual: () => bool('$true'), expected: true },
  { name: 'takes a lone value as a list of one', actual: () => list('contoso.com'), expected: ['contoso.com'] },
  { name: "unwraps Windows PowerShell 5.1's { value, Count } array", actual: () => list({ value: [1, 2], Count: 2 }), expected: [1, 2] },
  { name: 'writes SCLOver as sclOver', actual: () => camel('SCLOver'), expected: 'sclOver' },
  { name: 'writes ExceptIfSCLOver as exceptIfSclOver', actual: () => camel('ExceptIfSCLOver'), expected: 'exceptIfSclOver' },
  { name: 'writes ExceptIfFromAddressContainsWords in camelCase', actual: () => camel('ExceptIfFromAddressContainsWords'), expected: 'exceptIfFromAddressContainsWords' },
];

for (const row of table) test(row.name, () => assert.deepEqual(row.actual(), row.expected));
