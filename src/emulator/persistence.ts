// `--data <file>`: the emulated directory kept on disk, so that devices, users, groups, the change
// logs (and therefore delta tokens) and the DRS survive a restart. The store stays in memory; this
// file only records each write and reloads everything at start, in a format of its own (no
// database): `<file>` is a snapshot and `<file>.journal` an append-only journal, both JSON lines,
// one record each (store.ts, JournalRecord). Every write appends its records and a commit line to
// the journal and fsyncs it before the write returns; at start the journal is folded into a new
// snapshot (written to a temporary file, fsynced and renamed over the old one) and emptied. What
// follows the last commit line (a write torn by a kill) is dropped whole, so a write is either all
// there or not at all; a damaged line before it, or a file that is not an emulator data file, is
// refused rather than half-read.
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { DwbError } from '../errors.js';
import { completeDevice, completeGroup, completeUser } from './model.js';
import type { JournalRecord, StorePersistence, StoreSnapshot } from './store.js';

const FORMAT = 'device-writeback-emulator';
const VERSION = 1;
/** Buffered journal text is written out (not yet fsynced) beyond this size, e.g. while seeding. */
const WRITE_CHUNK = 8 * 1024 * 1024;

interface Header {
  t: 'header';
  format: string;
  version: number;
}

/** Ends the records of one write in the journal. */
const COMMIT = '{"t":"commit"}\n';

/** Properties whose value, when missing, the store restores as null (see completeDevice & co). */
const nullByDefault = {
  device: nullKeys(completeDevice({ id: 'x', deviceId: 'x', displayName: 'x' })),
  user: nullKeys(completeUser({ id: 'x', userPrincipalName: 'x' })),
  group: nullKeys(completeGroup({ id: 'x', displayName: 'x' })),
};

function nullKeys(object: object): Set<string> {
  return new Set(
    Object.entries(object)
      .filter(([, value]) => value === null)
      .map(([key]) => key),
  );
}

/** An object without the nulls its type restores by itself, and without all-null extension attributes. */
function withoutDefaults(object: object, nullable: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    if (value === null && nullable.has(key)) continue;
    if (
      key === 'extensionAttributes' &&
      value &&
      typeof value === 'object' &&
      Object.values(value).every((v) => v === null)
    )
      continue;
    out[key] = value;
  }
  return out;
}

/** A record as written: directory objects without what restoring them adds back (a third of a device). */
function serialize(record: JournalRecord): string {
  switch (record.t) {
    case 'device':
      return JSON.stringify({ ...record, device: withoutDefaults(record.device, nullByDefault.device) });
    case 'user':
      return JSON.stringify({ ...record, user: withoutDefaults(record.user, nullByDefault.user) });
    case 'group':
      return JSON.stringify({ ...record, group: withoutDefaults(record.group, nullByDefault.group) });
    default:
      return JSON.stringify(record);
  }
}

function dataError(file: string, problem: string): DwbError {
  return new DwbError('DWB_EMULATOR_DATA', `The emulator data file ${file} ${problem}.`);
}

/** The records a snapshot is made of, folded: for each thing only its latest state. */
class Fold {
  readonly meta = new Map<string, string>();
  readonly devices = new Map<string, Extract<JournalRecord, { t: 'device' }>>();
  readonly users = new Map<string, Extract<JournalRecord, { t: 'user' }>>();
  readonly groups = new Map<string, Extract<JournalRecord, { t: 'group' }>>();
  readonly changes: Extract<JournalRecord, { t: 'change' }>[] = [];
  readonly groupChanges: Extract<JournalRecord, { t: 'groupChange' }>[] = [];
  readonly memberships: Extract<JournalRecord, { t: 'membership' }>[] = [];

  /** Applies one record; a record already folded in (a journal replayed twice) changes nothing. */
  apply(record: JournalRecord): void {
    switch (record.t) {
      case 'meta':
        this.meta.set(record.key, record.value);
        return;
      case 'device':
        this.devices.set(record.device.id, record);
        return;
      case 'user':
        this.users.set(record.user.id, record);
        return;
      case 'group':
        this.groups.set(record.group.id, record);
        return;
      case 'change':
        if (record.seq <= this.changes.length) return;
        if (record.seq !== this.changes.length + 1)
          throw new Error(`device change ${record.seq} is out of order`);
        this.changes.push(record);
        return;
      case 'groupChange':
        if (record.seq <= this.groupChanges.length) return;
        if (record.seq !== this.groupChanges.length + 1)
          throw new Error(`group change ${record.seq} is out of order`);
        this.groupChanges.push(record);
        return;
      case 'membership':
        // Written just before the group change of the same number.
        if (record.seq <= this.groupChanges.length) return;
        this.memberships.push(record);
        return;
      default:
        throw new Error(`unknown record type ${JSON.stringify((record as { t?: unknown }).t)}`);
    }
  }

  snapshot(): StoreSnapshot {
    return {
      meta: Object.fromEntries(this.meta),
      devices: [...this.devices.values()],
      users: [...this.users.values()],
      changes: this.changes,
      groups: [...this.groups.values()],
      groupChanges: this.groupChanges,
      memberships: this.memberships,
    };
  }

  /** Every record of the fold, in an order that replays to the same state. */
  *records(): Generator<JournalRecord> {
    for (const [key, value] of this.meta) yield { t: 'meta', key, value };
    yield* this.users.values();
    yield* this.devices.values();
    yield* this.changes;
    yield* this.groups.values();
    // Memberships before the group changes that carry their numbers (see apply()).
    const byGroupSeq = new Map<number, Extract<JournalRecord, { t: 'membership' }>[]>();
    for (const membership of this.memberships) {
      const list = byGroupSeq.get(membership.seq);
      if (list) list.push(membership);
      else byGroupSeq.set(membership.seq, [membership]);
    }
    for (const change of this.groupChanges) {
      yield* byGroupSeq.get(change.seq) ?? [];
      yield change;
    }
  }
}

/** The lines of a file; `torn` is a last line without its newline (a write cut short). */
function readLines(file: string): { lines: string[]; torn: string | undefined } {
  const content = readFileSync(file);
  const lines: string[] = [];
  let start = 0;
  for (let end = content.indexOf(10, start); end >= 0; end = content.indexOf(10, start)) {
    lines.push(content.toString('utf8', start, end));
    start = end + 1;
  }
  const rest = start < content.length ? content.toString('utf8', start) : undefined;
  return { lines, torn: rest };
}

function parse(line: string): JournalRecord | Header {
  const value: unknown = JSON.parse(line);
  if (!value || typeof value !== 'object' || typeof (value as { t?: unknown }).t !== 'string')
    throw new Error('not a record');
  return value as JournalRecord | Header;
}

export class JournalPersistence implements StorePersistence {
  readonly journalFile: string;
  private fd: number | undefined;
  private pending: string[] = [];
  private pendingBytes = 0;
  private depth = 0;

  constructor(readonly file: string) {
    this.file = path.resolve(file);
    this.journalFile = `${this.file}.journal`;
    mkdirSync(path.dirname(this.file), { recursive: true });
  }

  load(): StoreSnapshot | undefined {
    const fold = new Fold();
    let found = false;
    if (existsSync(this.file)) {
      found = true;
      this.readSnapshot(fold);
    }
    if (existsSync(this.journalFile)) {
      const { lines } = readLines(this.journalFile);
      let lastCommit = -1;
      lines.forEach((line, i) => {
        if (line === COMMIT.trimEnd()) lastCommit = i;
      });
      // Lines after the last commit belong to a write that never returned: dropped whole.
      let batch: JournalRecord[] = [];
      for (let i = 0; i <= lastCommit; i++) {
        const line = lines[i] ?? '';
        let record: JournalRecord | Header | { t: 'commit' };
        try {
          record = parse(line) as JournalRecord | Header | { t: 'commit' };
        } catch {
          throw dataError(this.journalFile, `has a damaged record on line ${i + 1}`);
        }
        if (record.t === 'header') throw dataError(this.journalFile, 'is not a journal');
        if (record.t !== 'commit') {
          batch.push(record);
          continue;
        }
        try {
          for (const committed of batch) fold.apply(committed);
        } catch (err) {
          throw dataError(this.journalFile, `does not follow its snapshot: ${(err as Error).message}`);
        }
        found ||= batch.length > 0;
        batch = [];
      }
    }
    this.compact(fold);
    this.fd = openSync(this.journalFile, 'a', 0o600);
    return found ? fold.snapshot() : undefined;
  }

  append(record: JournalRecord): void {
    const line = `${serialize(record)}\n`;
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.depth === 0) this.commit();
    else if (this.pendingBytes >= WRITE_CHUNK) this.flush();
  }

  transaction(body: () => void): void {
    this.depth++;
    try {
      body();
    } finally {
      this.depth--;
      // Whatever the body changed in memory is on disk too, even when it failed half-way.
      if (this.depth === 0) this.commit();
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    this.commit();
    closeSync(this.fd);
    this.fd = undefined;
  }

  /** Ends a write: its records, then the commit line, then fsync. */
  private commit(): void {
    if (this.pending.length === 0) return;
    this.pending.push(COMMIT);
    this.flush();
    if (this.fd !== undefined) fsyncSync(this.fd);
  }

  private flush(): void {
    if (this.fd === undefined) throw new Error('the emulator data file is not open');
    writeAll(this.fd, Buffer.from(this.pending.join(''), 'utf8'));
    this.pending = [];
    this.pendingBytes = 0;
  }

  private readSnapshot(fold: Fold): void {
    const { lines, torn } = readLines(this.file);
    const header = ((): Header | undefined => {
      try {
        const first = parse(lines[0] ?? torn ?? '');
        return first.t === 'header' && (first as Header).format === FORMAT ? (first as Header) : undefined;
      } catch {
        return undefined;
      }
    })();
    if (!header) throw dataError(this.file, 'is not an emulator data file');
    if (header.version !== VERSION)
      throw dataError(this.file, `was written by another version (format ${header.version})`);
    // A snapshot is written whole and renamed into place: a torn one is damage, not a kill.
    if (torn !== undefined) throw dataError(this.file, 'is truncated');
    lines.slice(1).forEach((line, i) => {
      let record: JournalRecord | Header;
      try {
        record = parse(line);
      } catch {
        throw dataError(this.file, `has a damaged record on line ${i + 2}`);
      }
      if (record.t === 'header') throw dataError(this.file, `has a second header on line ${i + 2}`);
      try {
        fold.apply(record);
      } catch (err) {
        throw dataError(this.file, `is inconsistent on line ${i + 2}: ${(err as Error).message}`);
      }
    });
  }

  /** Writes the fold as the new snapshot and empties the journal. */
  private compact(fold: Fold): void {
    const temporary = `${this.file}.tmp`;
    const fd = openSync(temporary, 'w', 0o600);
    try {
      const header: Header = { t: 'header', format: FORMAT, version: VERSION };
      let chunk = `${JSON.stringify(header)}\n`;
      for (const record of fold.records()) {
        chunk += `${serialize(record)}\n`;
        if (chunk.length >= WRITE_CHUNK) {
          writeAll(fd, Buffer.from(chunk, 'utf8'));
          chunk = '';
        }
      }
      writeAll(fd, Buffer.from(chunk, 'utf8'));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.file);
    syncDirectory(path.dirname(this.file));
    // Replaying the old journal over the new snapshot would change nothing, so a crash here is safe.
    rmSync(this.journalFile, { force: true });
    syncDirectory(path.dirname(this.file));
  }
}

function writeAll(fd: number, data: Buffer): void {
  for (let offset = 0; offset < data.length;) offset += writeSync(fd, data, offset);
}

/** Makes a rename or removal durable; not every platform can open a directory, and that is fine. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Windows cannot fsync a directory; its renames are durable enough for an emulator.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
