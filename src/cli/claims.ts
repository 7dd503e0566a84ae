// `device-writeback claims (--device <deviceId> | --cert <pem-file>) [--user <upn or SID>]`: looks a
// device up in AD as AD FS does and prints the device claims AD FS would issue, and why a claim is
// absent; for a certificate, first whether AD FS accepts it at all (issued by a cloud DRS issuer of
// the Device Registration Service, inside its validity period). Exit 0 when AD FS would
// authenticate the device; 1 when the certificate is refused, or the device is not found,
// ambiguous or disabled (an answer, not a crash). For a device known in Entra ID but not written, it
// says which rule keeps it out (from the state store, as the last pass decided).
import type { Command } from 'commander';
import type { AdConnection } from '../ad/connection.js';
import { locateDeviceContainer } from '../ad/device-container.js';
import { deviceRegistrationDns } from '../ad/discovery.js';
import {
  CLOUD_ENABLED_ATTRIBUTE,
  CLOUD_ISSUER_ATTRIBUTE,
  isTrue,
  readRegistrationService,
} from '../ad/registration-service.js';
import { openConnectorSession } from '../ad/settings.js';
import { forestsNamed } from '../config/forests.js';
import { readDeviceCertificate, type DeviceCertificate } from '../claims/certificate.js';
import { previewClaims, type ClaimsPreview, type ClaimsUser } from '../claims/device-claims.js';
import {
  judgeDeviceCertificate,
  summarizeIssuer,
  type CertificateTrust,
  type IssuerSummary,
  type RegistrationServiceView,
} from '../claims/issuer-chain.js';
import { findDevice, resolveUser, type DeviceLookup, type LookupResult } from '../claims/lookup.js';
import { DwbError, ExitCode, causeText } from '../errors.js';
import { logger } from '../log.js';
import { openStateStore } from '../state/open.js';
import { notWrittenOf, recordedReason, type NotWritten } from '../sync/not-written.js';
import { readSmallFile, SmallFileError } from '../util/small-file.js';
import { action, out, outJson, readConfig, withCommonOptions, type GlobalOptions } from './context.js';

interface ClaimsFlags extends GlobalOptions {
  forest?: string;
  device?: string;
  cert?: string;
  user?: string;
}

export type ClaimsOutcome = 'found' | 'not-found' | 'ambiguous' | 'disabled' | 'untrusted';

export interface ClaimsReport {
  /** With several forests: the forest searched (where the device was found, if it was). */
  forest?: string;
  outcome: ClaimsOutcome;
  found: boolean;
  lookup: {
    by: 'certificate' | 'deviceId';
    deviceId?: string;
    certificate?: Omit<DeviceCertificate, 'altSecurityIdentitySpki' | 'subjectPublicKeyInfoHash' | 'x509'> & {
      subjectPublicKeyInfoHash: string;
    };
    searchBase: string;
    matchedBy: LookupResult['matchedBy'];
  };
  /** The cloud DRS issuers AD FS validates device certificates against. */
  cloudIssuer: {
    serviceDn: string;
    exists: boolean;
    cloudIsEnabled: boolean;
    issuers: IssuerSummary[];
  };
  /** For a certificate: does AD FS accept it (issued by a cloud issuer, valid now)? null for --device. */
  trust: CertificateTrust | null;
  answer: string;
  preview: ClaimsPreview | null;
  candidates: string[];
  nearMisses: LookupResult['nearMisses'];
  /**
   * What the state store says of the device in Entra ID: why it is not written (out of scope and
   * the rule, quarantined, pending), or null when it is written and in scope, or unknown there.
   */
  entra?: { known: boolean; notWritten: NotWritten | null };
}

/**
 * Why the engine does not write the device, from the state store (opened as a reader). Undefined
 * when the store cannot be read: the claims come from AD, the rest is an aside.
 */
async function entraSide(
  config: ReturnType<typeof readConfig>,
  deviceId: string,
  inAd: boolean,
): Promise<ClaimsReport['entra']> {
  try {
    const store = await openStateStore(config, { writer: false });
    try {
      const stored = await store.findDeviceByDeviceId(deviceId);
      if (!stored) return { known: false, notWritten: null };
      const id = deviceId.toLowerCase();
      const quarantine = (await store.quarantined()).find(
        (q) => q.key === stored.device.id || q.deviceId?.toLowerCase() === id,
      );
      const why = notWrittenOf(recordedReason(stored), quarantine);
      // Pending means nothing for a device that is in AD: it is written.
      return { known: true, notWritten: why.kind === 'pending' && inAd ? null : why };
    } finally {
      await store.close();
    }
  } catch (err) {
    logger().debug({ err }, 'the state store could not be read; claims answers from AD only');
    return undefined;
  }
}

function printEntraSide(report: ClaimsReport): void {
  const entra = report.entra;
  if (!entra) return;
  out('');
  if (!entra.known) {
    if (!report.found)
      out(
        'Entra ID: the state store does not know this device (not in Entra ID, or not read by a sync yet).',
      );
    return;
  }
  const why = entra.notWritten;
  if (!why) return;
  if (report.found && why.kind === 'out-of-scope') {
    out(
      `Entra ID: the device is ${why.reason}; it leaves AD with the next pass (held deletions are listed by \`device-writeback status\`).`,
    );
    return;
  }
  out(
    `Entra ID: known, not written — ${why.reason}${why.rule && why.kind === 'out-of-scope' ? ` (rule ${why.rule})` : ''}.`,
  );
}

function readCertificateFile(file: string): DeviceCertificate {
  let data: Buffer;
  try {
    // A device certificate is a few KiB; /dev/zero or a pipe must not be read until memory runs out.
    data = readSmallFile(file, 64 * 1024).data;
  } catch (err) {
    const why =
      err instanceof SmallFileError && err.problem !== 'unreadable'
        ? `--cert ${err.message}`
        : `cannot read --cert ${file}: ${err instanceof SmallFileError ? err.errno : causeText(err)}`;
    throw new DwbError('DWB_USAGE', `${why}.`, {
      fix: 'Give the path of the device certificate as a PEM (or DER) file.',
    });
  }
  return readDeviceCertificate(data, `--cert ${file}`);
}

/** The whole question, answered from the directory. */
export async function claimsReport(
  conn: AdConnection,
  containerDn: string,
  domainDn: string,
  schema: Parameters<typeof previewClaims>[1],
  lookup: DeviceLookup,
  userInput: string | undefined,
  registration: RegistrationServiceView,
  now: Date = new Date(),
): Promise<ClaimsReport> {
  const user: ClaimsUser | undefined = userInput ? await resolveUser(conn, domainDn, userInput) : undefined;
  const found = await findDevice(conn, containerDn, lookup);
  const trust =
    lookup.by === 'certificate' ? judgeDeviceCertificate(lookup.certificate.x509, registration, now) : null;
  const refused = trust && !trust.accepted ? trust : null;
  const described =
    lookup.by === 'certificate'
      ? `altSecurityIdentities ${lookup.certificate.altSecurityIdentity}`
      : `msDS-DeviceID ${lookup.deviceId.toLowerCase()}`;
  const base: Omit<ClaimsReport, 'outcome' | 'found' | 'answer' | 'preview'> = {
    lookup: {
      by: lookup.by,
      ...(lookup.by === 'deviceId' ? { deviceId: lookup.deviceId.toLowerCase() } : {}),
      ...(lookup.by === 'certificate'
        ? {
            certificate: {
              subject: lookup.certificate.subject,
              issuer: lookup.certificate.issuer,
              serialNumber: lookup.certificate.serialNumber,
              validFrom: lookup.certificate.validFrom,
              validTo: lookup.certificate.validTo,
              thumbprint: lookup.certificate.thumbprint,
              publicKeyHash: lookup.certificate.publicKeyHash,
              subjectPublicKeyInfoHash: lookup.certificate.subjectPublicKeyInfoHash,
              altSecurityIdentity: lookup.certificate.altSecurityIdentity,
            },
          }
        : {}),
      searchBase: containerDn,
      matchedBy: found.matchedBy,
    },
    candidates: found.objects.map((o) => o.dn),
    nearMisses: found.nearMisses,
    cloudIssuer: {
      serviceDn: registration.serviceDn,
      exists: registration.settings !== undefined,
      cloudIsEnabled: isTrue(registration.settings?.cloudIsEnabled),
      issuers: (registration.settings?.cloudIssuers ?? []).flatMap((i) => summarizeIssuer(i) ?? []),
    },
    trust,
  };
  // AD FS validates the certificate before it looks the device up: a refusal comes first.
  const first = refused ? `${refused.verdict} ` : '';
  if (found.outcome === 'not-found') {
    let answer = `No device in ${containerDn} has ${described}: AD FS would not recognise this device and issues no device claims.`;
    if (found.nearMisses.length > 0) {
      answer += ` ${found.nearMisses.length === 1 ? 'One object has' : `${found.nearMisses.length} objects have`} this certificate's thumbprint with another public-key hash (${found.nearMisses.map((m) => m.dn).join('; ')}): the key in Entra ID does not belong to this certificate.`;
    } else if (lookup.by === 'certificate') {
      answer +=
        ' Check that the device is written back (device-writeback devices --search …) and that this is the certificate the device presents.';
    }
    return {
      ...base,
      outcome: refused ? 'untrusted' : 'not-found',
      found: false,
      answer: refused ? `${first}Besides, ${answer[0]!.toLowerCase()}${answer.slice(1)}` : answer,
      preview: null,
    };
  }
  if (found.outcome === 'ambiguous') {
    return {
      ...base,
      outcome: refused ? 'untrusted' : 'ambiguous',
      found: false,
      answer: `${first}${found.objects.length} objects in ${containerDn} have ${described} (${found.objects.map((o) => o.dn).join('; ')}): AD FS cannot tell which device this is, so it issues no device claims. Remove the duplicate.`,
      preview: null,
    };
  }
  const preview = previewClaims(found.objects[0]!, schema, user, {
    certificateRefusal: refused?.reason ?? undefined,
  });
  return {
    ...base,
    outcome: refused ? 'untrusted' : preview.authenticated ? 'found' : 'disabled',
    found: true,
    answer: refused ? refused.verdict : preview.verdict,
    preview,
  };
}

function issuerLine(i: IssuerSummary): string {
  return `${i.subject}, thumbprint ${i.thumbprint}, valid until ${i.notAfter.slice(0, 10)}`;
}

function printIssuers(report: ClaimsReport): void {
  const c = report.cloudIssuer;
  if (!c.exists) {
    out(`  cloud DRS issuers:      none (no Device Registration Service object ${c.serviceDn})`);
    return;
  }
  if (c.issuers.length === 0) {
    out(`  cloud DRS issuers:      none (${CLOUD_ISSUER_ATTRIBUTE} is empty)`);
  }
  c.issuers.forEach((i, n) =>
    out(`  ${n === 0 ? 'cloud DRS issuers:     ' : '                       '} ${issuerLine(i)}`),
  );
  if (!c.cloudIsEnabled) out(`  ${CLOUD_ENABLED_ATTRIBUTE}:    not TRUE`);
}

function printReport(report: ClaimsReport): void {
  const cert = report.lookup.certificate;
  if (cert) {
    out(`Certificate: ${cert.subject} (issuer ${cert.issuer})`);
    out(`  valid:                  ${cert.validFrom} to ${cert.validTo}`);
    out(`  SHA-1 thumbprint:       ${cert.thumbprint}`);
    out(`  SHA-256 public key:     ${cert.publicKeyHash}`);
    out(`  altSecurityIdentities:  ${cert.altSecurityIdentity}`);
    printIssuers(report);
    if (report.trust)
      out(`  issued by cloud DRS:    ${report.trust.accepted ? 'yes' : `no (${report.trust.outcome})`}`);
  } else {
    out(`Device: msDS-DeviceID ${report.lookup.deviceId}`);
    printIssuers(report);
  }
  out(`  searched under:         ${report.lookup.searchBase}`);
  const refused = report.trust !== null && !report.trust.accepted;
  if (report.trust?.accepted) {
    out('');
    out(report.trust.verdict);
  } else if (
    !report.trust &&
    (report.cloudIssuer.issuers.length === 0 || !report.cloudIssuer.cloudIsEnabled)
  ) {
    out('');
    out(
      'Note: without a cloud DRS issuer (and msDS-CloudIsEnabled TRUE) on the Device Registration Service, AD FS refuses every device certificate before it looks the device up (see check ad.cloud-issuer).',
    );
  }
  const p = report.preview;
  if (!p) {
    out('');
    out(report.answer);
    printEntraSide(report);
    return;
  }
  out('');
  out(`Found: ${p.dn}`);
  out(
    `  ${p.displayName ?? '(no display name)'} · ${p.enabled === null ? 'enabled: unknown' : p.enabled ? 'enabled' : 'DISABLED'} · ${p.managedByWriteback ? 'written by device-writeback' : 'not written by device-writeback (unmanaged)'}`,
  );
  if (report.lookup.matchedBy === 'subjectPublicKeyInfo') {
    out(
      '  (matched by the SHA-256 of the whole SubjectPublicKeyInfo, the variant some tools write; Windows clients hash the public key itself)',
    );
  }
  out('');
  out(refused ? report.answer : p.verdict);
  const issued = p.claims.filter((c) => c.value !== null);
  const absent = p.claims.filter((c) => c.value === null);
  if (issued.length > 0) {
    out('');
    out('Claims AD FS issues:');
    const width = Math.max(...issued.map((c) => c.type.length));
    for (const c of issued) out(`  ${c.type.padEnd(width)}  ${c.value}${c.note ? `  (${c.note})` : ''}`);
    out('');
    out(
      '  The attribute each claim comes from is this product\'s reading of AD FS (docs/operating.md, "Claim sources").',
    );
  }
  if (refused) {
    out('');
    out(`Not issued: all ${p.claims.length} device claims, because AD FS refuses the certificate (above).`);
  } else if (absent.length > 0) {
    out('');
    out('Not issued:');
    const width = Math.max(...absent.map((c) => c.type.length));
    for (const c of absent) out(`  ${c.type.padEnd(width)}  ${c.absentReason}`);
  }
  if (p.user) {
    const who = `${p.user.userPrincipalName ?? p.user.input} (${p.user.sid})`;
    out('');
    out(
      p.user.isRegisteredOwner
        ? `User ${who} is the registered owner of this device: isregistereduser = true.`
        : `User ${who} is not the registered owner${p.registeredOwner ? ` (that is ${p.registeredOwner})` : ' (the device has none)'}: isregistereduser = false${p.user.isRegisteredUser ? ', although the user is one of its registered users' : ''}.`,
    );
  }
  printEntraSide(report);
}

export function register(program: Command): void {
  const command = program
    .command('claims')
    .description(
      'look a device up in AD as AD FS does (by its certificate, or by deviceId) and print the device claims AD FS would issue',
    )
    .option('--device <deviceId>', 'the device to look up, by deviceId (msDS-DeviceID)')
    .option('--cert <pem-file>', 'the device certificate to look up, as AD FS does (altSecurityIdentities)')
    .option('--user <upn or SID>', 'the signing-in user, to compute isregistereduser')
    .option(
      '--forest <name>',
      'with several forests: look in this forest only (default: whichever holds the device)',
    );
  withCommonOptions(command, { json: true });
  command.action(
    action<ClaimsFlags>(async (opts) => {
      if ((opts.device ? 1 : 0) + (opts.cert ? 1 : 0) !== 1) {
        throw new DwbError('DWB_USAGE', 'give exactly one of --device <deviceId> or --cert <pem-file>.');
      }
      const lookup: DeviceLookup = opts.cert
        ? { by: 'certificate', certificate: readCertificateFile(opts.cert) }
        : { by: 'deviceId', deviceId: opts.device! };
      const config = readConfig(opts);
      // Without --forest, every forest is searched: the device is in whichever holds it.
      let report: ClaimsReport | undefined;
      const searched: string[] = [];
      for (const forest of forestsNamed(config, opts.forest)) {
        const conn = await openConnectorSession(forest.ad);
        try {
          const target = await locateDeviceContainer(conn, forest.ad);
          const serviceDn = deviceRegistrationDns(target.rootDse.configurationNamingContext).service;
          const found = await claimsReport(
            conn,
            target.containerDn,
            target.rootDse.defaultNamingContext,
            target.schema,
            lookup,
            opts.user,
            { serviceDn, settings: await readRegistrationService(conn, serviceDn) },
          );
          searched.push(
            config.severalForests ? `${target.containerDn} (forest ${forest.name})` : target.containerDn,
          );
          const labelled = config.severalForests ? { ...found, forest: forest.name } : found;
          if (!report || (report.outcome === 'not-found' && found.outcome !== 'not-found')) report = labelled;
          if (found.outcome !== 'not-found') break;
        } finally {
          await conn.close();
        }
      }
      if (!report) throw new DwbError('DWB_USAGE', 'no forest to search.');
      if (report.outcome === 'not-found' && searched.length > 1)
        report = { ...report, answer: `${report.answer} Searched: ${searched.join('; ')}.` };
      const deviceId = lookup.by === 'deviceId' ? lookup.deviceId : report.preview?.deviceId;
      if (deviceId) report.entra = await entraSide(config, deviceId, report.found);
      if (opts.json) outJson(report);
      else printReport(report);
      return report.outcome === 'found' ? ExitCode.ok : ExitCode.failure;
    }),
  );
}
