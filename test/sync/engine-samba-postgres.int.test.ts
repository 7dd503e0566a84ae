// The engine end to end against the real Samba DC, on a PostgreSQL state store of the run's lab
// server, reached over TLS (verify-full against the lab CA): `sync`'s session, as the leader of
// its group, writing through the fenced directory. The suite is engine-samba-suite.ts.
import { describe } from 'vitest';
import { freshDatabase, postgresUnavailable } from '../support/postgres.js';
import { describeEngineAgainstSamba } from './engine-samba-suite.js';

const unavailable = postgresUnavailable();

describe.skipIf(unavailable)(`PostgreSQL state${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  describeEngineAgainstSamba('PostgreSQL', async () => {
    const db = await freshDatabase('engine_samba');
    const env = `DWB_TEST_POSTGRES_URL_${process.pid}`;
    process.env[env] = db.tlsUrl;
    return `  postgres: { env: ${env} }`;
  });
});
