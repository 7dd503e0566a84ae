// The engine end to end against the real Samba DC, on a SQLite state store (the suite is
// engine-samba-suite.ts; the same suite runs on PostgreSQL in engine-samba-postgres.int.test.ts).
import { describeEngineAgainstSamba } from './engine-samba-suite.js';

describeEngineAgainstSamba('SQLite', async () => '');
