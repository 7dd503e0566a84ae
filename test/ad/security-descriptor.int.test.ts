// The security descriptor codec against Samba as the oracle: real descriptors read over LDAPS from a
// running DC, compared with `samba-tool dsacl get` and with Samba's own Python bindings.
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { buf, str } from '../../src/ad/connection.js';
import {
  decodeSecurityDescriptor,
  encodeSecurityDescriptor,
  fromSddl,
  toSddl,
} from '../../src/ad/security-descriptor.js';
import { sambaTool, useDc } from '../support/samba.js';

const lab = useDc();

/** Runs Samba's Python bindings (the system python3: the one on PATH may lack the samba module). */
function sambaPython(script: string, input: unknown): unknown {
  const result = spawnSync('/usr/bin/python3', ['-c', script], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`python3 failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as unknown;
}

const AS_SDDL = `
import sys, json
from samba.dcerpc import security
from samba.ndr import ndr_unpack
req = json.load(sys.stdin)
dom = security.dom_sid(req["domainSid"])
print(json.dumps([ndr_unpack(security.descriptor, bytes.fromhex(h)).as_sddl(dom) for h in req["descriptors"]]))
`;

const PACK = `
import sys, json
from samba.dcerpc import security
from samba.ndr import ndr_pack
req = json.load(sys.stdin)
dom = security.dom_sid(req["domainSid"])
print(json.dumps([ndr_pack(security.descriptor.from_sddl(s, dom)).hex() for s in req["sddl"]]))
`;

function dsaclGet(output: string): string {
  const line = output.split('\n').find((l) => /^O:|^D:/.test(l.trim()));
  if (!line) throw new Error(`no SDDL in samba-tool output: ${output}`);
  return line.trim();
}

describe('security descriptors of a real Samba DC', () => {
  let named: { dn: string; bytes: Buffer }[] = [];

  beforeAll(async () => {
    const { forest } = lab.dc;
    const root = await lab.admin.read('', ['schemaNamingContext']);
    const schemaNc = str(root!, 'schemaNamingContext')!;
    const dns = [
      forest.domainDn,
      `CN=Users,${forest.domainDn}`,
      forest.configDn,
      `CN=Services,${forest.configDn}`,
      `CN=ms-DS-Device,${schemaNc}`,
      `CN=User,${schemaNc}`,
    ];
    named = [];
    for (const dn of dns) {
      const entry = await lab.admin.read(dn, ['nTSecurityDescriptor']);
      const bytes = entry && buf(entry, 'nTSecurityDescriptor');
      if (!bytes) throw new Error(`no nTSecurityDescriptor on ${dn}`);
      named.push({ dn, bytes });
    }
  });

  it('prints the SDDL that samba-tool dsacl get prints (domain root, CN=Users, configuration NC, schema)', async () => {
    for (const { dn, bytes } of named) {
      const expected = dsaclGet(await sambaTool(lab.dc, ['dsacl', 'get', `--objectdn=${dn}`]));
      expect({ dn, sddl: toSddl(decodeSecurityDescriptor(bytes), lab.dc.domainSid) }).toEqual({
        dn,
        sddl: expected,
      });
    }
  });

  it('re-encodes every descriptor of the directory byte for byte and agrees with Samba on its SDDL', async () => {
    const descriptors: Buffer[] = [];
    for (const base of [lab.dc.forest.domainDn, lab.dc.forest.configDn]) {
      // A subtree search stays inside its naming context; the schema NC is read separately below.
      const entries = await lab.admin.search(base, { scope: 'sub', attributes: ['nTSecurityDescriptor'] });
      for (const e of entries) {
        const b = buf(e, 'nTSecurityDescriptor');
        if (b) descriptors.push(b);
      }
    }
    const schema = await lab.admin.search(`CN=Schema,${lab.dc.forest.configDn}`, {
      scope: 'sub',
      attributes: ['nTSecurityDescriptor'],
    });
    for (const e of schema) {
      const b = buf(e, 'nTSecurityDescriptor');
      if (b) descriptors.push(b);
    }
    expect(descriptors.length).toBeGreaterThan(1000);
    const ours: string[] = [];
    for (const bytes of descriptors) {
      const sd = decodeSecurityDescriptor(bytes);
      expect(encodeSecurityDescriptor(sd).equals(bytes)).toBe(true);
      ours.push(toSddl(sd, lab.dc.domainSid));
    }
    const samba = sambaPython(AS_SDDL, {
      domainSid: lab.dc.domainSid,
      descriptors: descriptors.map((b) => b.toString('hex')),
    }) as string[];
    expect(ours).toEqual(samba);
  });

  it('encodes SDDL to the same bytes as Samba ndr_pack(from_sddl(...))', () => {
    const domainSid = lab.dc.domainSid;
    const sddl = [
      // What init-ad grants on the device container and on the Device Registration Configuration.
      `D:(OA;;CCDC;44f00041-35af-468b-b20a-6ce8737c580b;;${domainSid}-1105)(OA;CIIO;RPWPCRLCLORCSD;;44f00041-35af-468b-b20a-6ce8737c580b;${domainSid}-1105)(A;;RPLCLORC;;;${domainSid}-1105)`,
      `D:(A;CI;GR;;;${domainSid}-1105)`,
      'O:DAG:DUD:PAI(D;;SDWD;;;WD)(OD;CI;WP;bf967a86-0de6-11d0-a285-00aa003049e2;;AN)(A;;GA;;;SY)(OA;CIIO;RP;4c164200-20c0-11d0-a768-00aa006e0529;4828cc14-1437-45bc-9b07-ad6f015e5f28;RU)(A;CIID;0x00120089;;;AU)',
      'O:EAG:EAD:AI(OA;;CR;1131f6aa-9c07-11d1-f79f-00c04fc2dcd2;;ED)(A;CIIO;RPWPCRCCLCLORCWOWDSDSW;;;DA)S:AI(OU;CIIOIDSA;WP;f30e3bbe-9ff0-11d1-b603-0000f80367c1;bf967aa5-0de6-11d0-a285-00aa003049e2;WD)(AU;FA;GA;;;WD)',
      ...named.map(({ bytes }) => toSddl(decodeSecurityDescriptor(bytes), domainSid)),
    ];
    const packed = sambaPython(PACK, { domainSid, sddl }) as string[];
    sddl.forEach((text, i) => {
      expect({ text, hex: encodeSecurityDescriptor(fromSddl(text, domainSid)).toString('hex') }).toEqual({
        text,
        hex: packed[i],
      });
    });
  });
});
