// ad.schema: the device classes of the Windows Server 2012 R2 schema exist; every optional device
// attribute of SPEC §2 that the schema lacks is a warning (it is simply not written).
import { str } from '../ad/connection.js';
import { REQUIRED_CLASSES } from '../ad/discovery.js';
import { adSession, schemaOf } from './ad-context.js';
import { fail, pass, warn } from './support.js';
import type { Check } from './types.js';

/** Schema objectVersion -> the Windows Server release that brought it. */
const SCHEMA_VERSIONS: Record<number, string> = {
  13: 'Windows 2000 Server',
  30: 'Windows Server 2003',
  31: 'Windows Server 2003 R2',
  44: 'Windows Server 2008',
  47: 'Windows Server 2008 R2',
  56: 'Windows Server 2012',
  69: 'Windows Server 2012 R2',
  87: 'Windows Server 2016',
  88: 'Windows Server 2019/2022',
  91: 'Windows Server 2025',
};

export const adSchema: Check = {
  id: 'ad.schema',
  title: 'Device classes in the forest schema (Windows Server 2012 R2 schema or later)',
  async run(ctx) {
    const { conn, rootDse } = await adSession(ctx);
    const schema = await schemaOf(ctx);
    const head = await conn.read(rootDse.schemaNamingContext, ['objectVersion']);
    const version = Number(head ? str(head, 'objectVersion') : NaN);
    const versionText = Number.isFinite(version)
      ? `schema objectVersion ${version}, ${SCHEMA_VERSIONS[version] ?? 'an unknown release'}`
      : 'schema version unknown';
    const missing = REQUIRED_CLASSES.filter((c) => !schema.classes[c]);
    if (missing.length > 0) {
      return fail(
        `the schema has no ${missing.join(', ')} (${versionText}); these classes arrived with the Windows Server 2012 R2 schema (objectVersion 69), and AD FS device authentication needs them`,
        'Extend the forest schema to Windows Server 2012 R2 or later (adprep /forestprep from 2012 R2 or later media, on the schema master), then run device-writeback init-ad.',
        'DWB_AD_SCHEMA_TOO_OLD',
      );
    }
    const lacking = schema.missingOptionalAttributes;
    if (lacking.length > 0) {
      return warn(
        `${REQUIRED_CLASSES.join(', ')} present (${versionText}); the schema lacks ${lacking.join(', ')}, so ${
          lacking.length > 1 ? 'these attributes are' : 'this attribute is'
        } not written`,
        'Nothing is required. To write them too, extend the schema to Windows Server 2016 or later (msDS-IsCompliant and msDS-DeviceTrustType arrived with it).',
        'DWB_AD_SCHEMA_PARTIAL',
      );
    }
    return pass(`${REQUIRED_CLASSES.join(', ')} and every device attribute present (${versionText})`);
  },
};
