// The demo's forest: a throwaway Samba AD DC with a random administrator password, a few users
// whose names match the emulator's seeded cloud users (as Entra Connect would have synced them),
// and the connector account, a plain user that init-ad later grants its rights to.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { AdConnection } from '../ad/connection.js';
import { seededUser } from '../emulator/seed.js';
import { adminSession, createUser, type LabUser } from '../lab/directory.js';
import {
  defaultForest,
  labForests,
  provisionTemplate,
  startDc,
  type LabForestName,
  type SambaDc,
  type SambaTemplate,
} from '../lab/samba.js';

export const CONNECTOR_ACCOUNT = 'svc-writeback';

/** A password that satisfies AD's complexity rules; never printed. */
export function labPassword(): string {
  return `Dwb-${randomBytes(15).toString('base64url')}-7a`;
}

export async function provisionDemoTemplate(
  dir: string,
  forest: LabForestName = 'corp',
): Promise<SambaTemplate> {
  return provisionTemplate(path.join(dir, forest === 'corp' ? 'template' : `template-${forest}`), '2012_R2', {
    ...(forest === 'corp' ? defaultForest : labForests[forest]),
    adminPassword: labPassword(),
  });
}

export async function startDemoDc(template: SambaTemplate, dir: string, name = 'demo-dc'): Promise<SambaDc> {
  return startDc(template, { workDir: path.join(dir, 'dcs'), name, firstAddress: 60 });
}

export interface DemoPeople {
  users: LabUser[];
  connector: LabUser;
}

/**
 * Creates `count` users named like the emulator's seeded users `first`.. (same sAMAccountName and
 * UPN prefix), and the connector account.
 */
export async function createDemoPeople(dc: SambaDc, count: number, first = 0): Promise<DemoPeople> {
  const session: AdConnection = await adminSession(dc);
  try {
    const users: LabUser[] = [];
    for (let j = first; j < first + count; j++) {
      const cloud = seededUser(j, { ownerSids: [], upnSuffix: dc.forest.domain });
      const name = (cloud.onPremisesSamAccountName ?? cloud.userPrincipalName.split('@')[0]!).slice(0, 20);
      users.push(
        await createUser(session, dc, name, labPassword(), { displayName: cloud.displayName ?? name }),
      );
    }
    const connector = await createUser(session, dc, CONNECTOR_ACCOUNT, labPassword(), {
      displayName: 'device-writeback connector',
    });
    return { users, connector };
  } finally {
    await session.close();
  }
}
