// The header trust boundary as a table: session kind × received header block → header edits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trustEdits } from '../../src/filters/header-trust.js';
import { inbound } from '../helpers/model-builder.js';
import type { HeaderEdit, HeaderField } from '../../src/filters/contract.js';
import type { InboundConnector } from '../../src/domain/model.js';

const H = (block: string): HeaderField[] =>
  block
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const i = l.indexOf(':');
      return { name: l.slice(0, i), value: l.slice(i + 1).trim(), line: l + '\r\n' };
    });

const partner = inbound({ name: 'Fabrikam', connectorType: 'Partner', senderDomains: ['fabrikam.com'], senderIPAddresses: ['192.0.2.1'] });
const onprem = inbound({ name: 'On-prem', connectorType: 'OnPremises', senderIPAddresses: ['10.0.0.1'] });
const hybrid = inbound({ name: 'Hybrid', connectorType: 'OnPremises', senderIPAddresses: ['10.0.0.1'], cloudServicesMailEnabled: true });
const internal: InboundConnector = { ...inbound({ name: 'Internal', connectorType: 'OnPremises', senderIPAddresses: ['10.0.0.1'] }), treatMessagesAsInternal: true };

const FORGED = 'X-MS-Exchange-Organization-AuthAs: Internal\nx-ms-exchange-organization-scl: -1\nX-MS-Exchange-CrossPremises-AuthAs: Internal\nSubject: hi\n';
const stamps = (authAs: string, dir: string, host = 'gw.contoso.com'): HeaderEdit[] => [
  { op: 'set', name: 'X-MS-Exchange-Organization-AuthAs', value: authAs },
  { op: 'set', name: 'X-MS-Exchange-Organization-AuthSource', value: host },
  { op: 'set', name: 'X-MS-Exchange-Organization-MessageDirectionality', value: dir },
];
const removeForged: HeaderEdit[] = [
  { op: 'remove', name: 'X-MS-Exchange-Organization-AuthAs' },
  { op: 'remove', name: 'x-ms-exchange-organization-scl' },
  { op: 'remove', name: 'X-MS-Exchange-CrossPremises-AuthAs' },
];

const cases: { name: string; inbound: InboundConnector | null; headers: string; scl?: number; edits: HeaderEdit[]; authAs: string }[] = [
  { name: 'an anonymous session loses forged organisation and cross-premises headers and is stamped Anonymous/Incoming', inbound: null, headers: FORGED, edits: [...removeForged, ...stamps('Anonymous', 'Incoming')], authAs: 'Anonymous' },
  { name: 'a Partner session loses them too and is stamped Partner/Incoming', inbound: partner, headers: FORGED, edits: [...removeForged, ...stamps('Partner', 'Incoming')], authAs: 'Partner' },
  { name: 'an anonymous message without organisation headers only gets the stamps', inbound: null, headers: 'Subject: hi\n', edits: stamps('Anonymous', 'Incoming'), authAs: 'Anonymous' },
  {
    name: 'a spam verdict adds the SCL stamp',
    inbound: null,
    headers: 'Subject: hi\n',
    scl: 6,
    edits: [...stamps('Anonymous', 'Incoming'), { op: 'set', name: 'X-MS-Exchange-Organization-SCL', value: '6' }],
    authAs: 'Anonymous',
  },
  {
    name: 'an on-premises session keeps its own AuthAs and directionality; only AuthSource is ours',
    inbound: onprem,
    headers: 'X-MS-Exchange-Organization-AuthAs: Partner\nX-MS-Exchange-Organization-MessageDirectionality: Incoming\n',
    edits: [{ op: 'set', name: 'X-MS-Exchange-Organization-AuthSource', value: 'gw.contoso.com' }],
    authAs: 'Partner',
  },
  { name: 'an on-premises session without stamps of its own is Internal/Originating', inbound: onprem, headers: 'Subject: hi\n', edits: stamps('Internal', 'Originating'), authAs: 'Internal' },
  {
    name: 'treatMessagesAsInternal stamps Internal/Originating over what the server sent',
    inbound: internal,
    headers: 'X-MS-Exchange-Organization-AuthAs: Anonymous\n',
    edits: stamps('Internal', 'Originating'),
    authAs: 'Internal',
  },
  {
    name: 'cloudServicesMailEnabled on an on-premises connector promotes cross-premises headers to organisation headers',
    inbound: hybrid,
    headers: 'X-MS-Exchange-CrossPremises-AuthAs: Internal\nX-MS-Exchange-CrossPremises-Antispam-ScanContext: a=1\n',
    edits: [
      { op: 'remove', name: 'X-MS-Exchange-CrossPremises-AuthAs' },
      { op: 'set', name: 'X-MS-Exchange-Organization-AuthAs', value: 'Internal' },
      { op: 'remove', name: 'X-MS-Exchange-CrossPremises-Antispam-ScanContext' },
      { op: 'set', name: 'X-MS-Exchange-Organization-Antispam-ScanContext', value: 'a=1' },
      { op: 'set', name: 'X-MS-Exchange-Organization-AuthSource', value: 'gw.contoso.com' },
      { op: 'set', name: 'X-MS-Exchange-Organization-MessageDirectionality', value: 'Originating' },
    ],
    authAs: 'Internal',
  },
  {
    name: 'without cloudServicesMailEnabled an on-premises connector leaves cross-premises headers alone',
    inbound: onprem,
    headers: 'X-MS-Exchange-CrossPremises-AuthAs: Anonymous\n',
    edits: stamps('Internal', 'Originating'),
    authAs: 'Internal',
  },
];

for (const c of cases) {
  test(c.name, () => {
    const d = trustEdits({ inbound: c.inbound, headers: H(c.headers), hostname: 'gw.contoso.com', scl: c.scl ?? null });
    assert.deepEqual(d.edits, c.edits);
    assert.equal(d.authAs, c.authAs);
  });
}
