// The emulator's cloud Device Registration Service: an `MS-Organization-Access` issuer CA of its
// own and, for each registered device, the device certificate that CA issued (subject
// `CN=<deviceId>`), whose SHA-1 thumbprint and public-key hash are the device's type-2
// `alternativeSecurityIds` key. AD FS trusts a device certificate only when it chains to an issuer
// in `msDS-CloudIssuerPublicCertificates`; this CA's certificate is what `init-ad --cloud-issuer`
// writes there, so `claims --cert` can be tried end to end without a tenant.
//
// Everything is a pure function of a 32-byte secret (derived from the seed, or kept in the data
// file): the CA, each device's key pair and each certificate, byte for byte. That keeps seeding
// deterministic without storing 100,000 certificates, and it is why the signature scheme is
// Ed25519 (deterministic, ~50 µs) rather than the RSA-2048 of real tenants (~1 ms, and RSA keys
// cannot be derived from a seed): 100,000 devices are seeded in seconds, not minutes. Device keys
// are P-256, as TPM-backed Windows device keys can be, derived from the secret and the deviceId.
//
// The issuer's name is the one real tenants' device certificates carry (a single multi-valued
// RDN, shown by Windows as `DC=net + DC=windows + CN=MS-Organization-Access +
// OU=82dbaca4-3e81-46ca-9c73-0950c1eaca97`); the device id extension (1.2.840.113556.1.5.284.2)
// is the one Windows reads from a registration certificate.
import {
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  hash,
  sign,
  type KeyObject,
} from 'node:crypto';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { guidToBytes, isGuid } from '../ad/guid.js';
import * as der from '../tls/der.js';
import { encodeX509Key } from './alternative-security-ids.js';

/** The OU of every tenant's MS-Organization-Access issuer, as seen in real device certificates. */
export const DRS_ISSUER_OU = '82dbaca4-3e81-46ca-9c73-0950c1eaca97';
export const DRS_ISSUER_CN = 'MS-Organization-Access';
/** Real device certificates are valid for ten years from registration. */
const DEVICE_CERTIFICATE_YEARS = 10;
/** The CA's validity is fixed, so that it does not depend on the day it was made. */
const CA_NOT_BEFORE = new Date('2020-01-01T00:00:00Z');
const CA_NOT_AFTER = new Date('2045-01-01T00:00:00Z');

const Oid = {
  commonName: '2.5.4.3',
  organizationalUnit: '2.5.4.11',
  domainComponent: '0.9.2342.19200300.100.1.25',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extendedKeyUsage: '2.5.29.37',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  ed25519: '1.3.101.112',
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  /** DRS: the device id of a registration certificate ([MS-DVRJ] device certificate extensions). */
  drsDeviceId: '1.2.840.113556.1.5.284.2',
} as const;

/** PKCS#8 wrapping of a raw Ed25519 private key (RFC 8410): a fixed prefix and the 32-byte seed. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** P-256's group order: a private scalar must be below it. */
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
/** Thumbprint and public-key hash, as handed back by a worker. */
const KEY_BYTES = 52;
/** Below this many devices, starting a worker costs more than it saves. */
const PARALLEL_THRESHOLD = 4000;
/** Devices per chunk of a batch: small enough to share work evenly, large enough to be cheap. */
const CHUNK = 200;
const MAX_WORKERS = 3;
const WORKER_TIMEOUT_MS = 300_000;
const KEY_CACHE_SIZE = 10_000;

/** A batch of devices shared by the threads of {@link CloudDrs.deviceKeys} (see drs-worker.ts). */
export interface DrsBatch {
  secret: string;
  deviceIds: string[];
  /** Registration times, epoch milliseconds. */
  registered: number[];
  /** KEY_BYTES per device: thumbprint, then public-key hash. */
  out: SharedArrayBuffer;
  /** Int32: the next chunk to take, how many workers are done, then a done flag per chunk. */
  control: SharedArrayBuffer;
}

/** Takes chunks of the batch until there are none left; what every thread of a batch runs. */
export function runDrsBatch(drs: CloudDrs, batch: DrsBatch): void {
  const control = new Int32Array(batch.control);
  const out = new Uint8Array(batch.out);
  const chunks = control.length - 2;
  for (let chunk = Atomics.add(control, 0, 1); chunk < chunks; chunk = Atomics.add(control, 0, 1)) {
    const end = Math.min(batch.deviceIds.length, (chunk + 1) * CHUNK);
    for (let i = chunk * CHUNK; i < end; i++) {
      out.set(
        drs.deviceKeyBytes(batch.deviceIds[i] ?? '', new Date(batch.registered[i] ?? 0)),
        i * KEY_BYTES,
      );
    }
    Atomics.store(control, 2 + chunk, 1);
  }
}

function spareCores(): number {
  return Math.max(0, Math.min(MAX_WORKERS, availableParallelism() - 1));
}

/**
 * The worker's compiled script, next to this module. It exists in the built package; when the
 * sources run directly (the tests), there is none and everything is done in this thread.
 */
function workerScript(): URL | undefined {
  const url = new URL('./drs-worker.js', import.meta.url);
  return url.protocol === 'file:' && existsSync(fileURLToPath(url)) ? url : undefined;
}

function keyFromBytes(bytes: Buffer): string {
  return encodeX509Key(
    bytes.subarray(0, 20).toString('hex'),
    bytes.subarray(20, KEY_BYTES).toString('base64'),
  );
}

/** A certificate this DRS issued for a device, with what the directory and AD FS derive from it. */
export interface DeviceCertificate {
  deviceId: string;
  certificateDer: Buffer;
  certificatePem: string;
  /** The device's private key, PKCS#8 PEM (the emulator hands it out so the device can be played). */
  privateKeyPem: string;
  /** SHA-1 of the certificate, 40 upper-case hex digits. */
  thumbprint: string;
  /** Base64 SHA-256 of the subjectPublicKey. */
  publicKeyHash: string;
  /** The type-2 `alternativeSecurityIds` key (base64 of UTF-16LE `X509:<SHA1-TP-PUBKEY>…`). */
  alternativeSecurityIdKey: string;
  notBefore: string;
  notAfter: string;
}

function toPem(label: string, body: Buffer): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? der.sequence(der.objectIdentifier(oid), der.boolean(true), der.octetString(value))
    : der.sequence(der.objectIdentifier(oid), der.octetString(value));
}

/** `DC=net + DC=windows + CN=MS-Organization-Access + OU=<guid>`: one RDN with four values. */
function issuerName(): Buffer {
  return der.sequence(
    der.set(
      der.sequence(der.objectIdentifier(Oid.domainComponent), der.ia5String('net')),
      der.sequence(der.objectIdentifier(Oid.domainComponent), der.ia5String('windows')),
      der.sequence(der.objectIdentifier(Oid.commonName), der.utf8String(DRS_ISSUER_CN)),
      der.sequence(der.objectIdentifier(Oid.organizationalUnit), der.utf8String(DRS_ISSUER_OU)),
    ),
  );
}

function tenYearsAfter(date: Date): Date {
  const out = new Date(date.getTime());
  out.setUTCFullYear(out.getUTCFullYear() + DEVICE_CERTIFICATE_YEARS);
  return out;
}

/** Seconds precision, as certificate times have; a missing or unreadable time falls back to `fallback`. */
export function certificateTime(iso: string | null | undefined, fallback: Date): Date {
  const ms = iso ? Date.parse(iso) : Number.NaN;
  const base = Number.isNaN(ms) ? fallback.getTime() : ms;
  return new Date(Math.floor(base / 1000) * 1000);
}

export class CloudDrs {
  private static readonly bySeed = new Map<string, CloudDrs>();

  /** The CA for a seed: the same seed gives the same CA, devices keys and certificates everywhere. */
  static forSeed(seed: string): CloudDrs {
    let drs = CloudDrs.bySeed.get(seed);
    if (!drs) {
      drs = new CloudDrs(createHash('sha256').update(`device-writeback emulator DRS\0${seed}`).digest());
      CloudDrs.bySeed.set(seed, drs);
    }
    return drs;
  }

  /** The CA kept in a data file (see {@link secret}). */
  static fromSecret(secretBase64: string): CloudDrs {
    const secret = Buffer.from(secretBase64, 'base64');
    if (secret.length !== 32) throw new Error('emulator data file: the DRS secret is not 32 bytes');
    return new CloudDrs(secret);
  }

  readonly issuerCertificateDer: Buffer;
  readonly issuerCertificatePem: string;
  /** The CA's Ed25519 private key, PKCS#8 PEM. */
  readonly issuerKeyPem: string;

  private readonly caKey: KeyObject;
  private readonly issuer: Buffer;
  private readonly signatureAlgorithm = der.sequence(der.objectIdentifier(Oid.ed25519));
  private readonly deviceExtensionsTail: Buffer;
  private readonly ecdh = createECDH('prime256v1');
  /** Tests and benchmarks derive the same seeded device many times over; a signature is 50 µs. */
  private readonly keyCache = new Map<string, string>();

  private constructor(private readonly secretBytes: Buffer) {
    this.caKey = createPrivateKey({
      key: Buffer.concat([ED25519_PKCS8_PREFIX, this.derive('ca-key')]),
      format: 'der',
      type: 'pkcs8',
    });
    this.issuerKeyPem = this.caKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    this.issuer = issuerName();
    const caSpki = createPublicKey(this.caKey).export({ type: 'spki', format: 'der' });
    const caKeyId = createHash('sha1').update(subjectPublicKeyOf(caSpki)).digest();

    const caTbs = der.sequence(
      der.explicit(0, der.integer(2)),
      der.integer(serialFrom(this.derive('ca-serial'))),
      this.signatureAlgorithm,
      this.issuer,
      der.sequence(der.time(CA_NOT_BEFORE), der.time(CA_NOT_AFTER)),
      this.issuer,
      caSpki,
      der.explicit(
        3,
        der.sequence(
          extension(Oid.basicConstraints, true, der.sequence(der.boolean(true))),
          // digitalSignature, keyCertSign, cRLSign
          extension(Oid.keyUsage, true, der.namedBits([0, 5, 6])),
          extension(Oid.subjectKeyIdentifier, false, der.octetString(caKeyId)),
        ),
      ),
    );
    this.issuerCertificateDer = der.sequence(
      caTbs,
      this.signatureAlgorithm,
      der.bitString(sign(null, caTbs, this.caKey)),
    );
    this.issuerCertificatePem = toPem('CERTIFICATE', this.issuerCertificateDer);
    // The extensions every device certificate shares, after its own subject key identifier.
    this.deviceExtensionsTail = Buffer.concat([
      extension(Oid.authorityKeyIdentifier, false, der.sequence(der.implicitPrimitive(0, caKeyId))),
      extension(Oid.keyUsage, true, der.namedBits([0])),
      extension(Oid.extendedKeyUsage, false, der.sequence(der.objectIdentifier(Oid.clientAuth))),
    ]);
    this.template = new DeviceTemplate((fields) => this.deviceTbs(fields));
  }

  /** The secret everything is derived from, base64, for the data file. */
  get secret(): string {
    return this.secretBytes.toString('base64');
  }

  /** SHA-1 thumbprint of the issuer certificate (upper-case hex). */
  get issuerThumbprint(): string {
    return createHash('sha1').update(this.issuerCertificateDer).digest('hex').toUpperCase();
  }

  /**
   * The `alternativeSecurityIds` key of the certificate issued to `deviceId` at `registered`. This
   * is the seeding path: no PEM, no key export, just the certificate's bytes and two hashes.
   */
  deviceKey(deviceId: string, registered: Date): string {
    const cacheKey = `${deviceId}\0${registered.getTime()}`;
    let key = this.keyCache.get(cacheKey);
    if (key === undefined) {
      key = keyFromBytes(this.deviceKeyBytes(deviceId, registered));
      if (this.keyCache.size >= KEY_CACHE_SIZE) this.keyCache.clear();
      this.keyCache.set(cacheKey, key);
    }
    return key;
  }

  /** Thumbprint (20 bytes) then public-key hash (32 bytes): what a worker thread hands back. */
  deviceKeyBytes(deviceId: string, registered: Date): Buffer {
    const { certificateDer, publicKeyHash } = this.issue(deviceId, registered);
    return Buffer.concat([hash('sha1', certificateDer, 'buffer'), publicKeyHash]);
  }

  /**
   * The keys of many devices, in order. A large batch (seeding 100,000 devices) is shared with
   * worker threads, one per spare core: each certificate costs a signature and a key derivation,
   * and they are independent. The batch is cut into chunks that every thread, this one included,
   * takes in turn from a shared counter, so a thread slowed down by a busy machine simply takes
   * fewer; this thread then waits for the others synchronously, so that seeding stays a
   * synchronous call. A chunk left undone (a worker that failed or never started) is done here.
   */
  deviceKeys(devices: readonly { deviceId: string; registered: Date }[]): string[] {
    const chunks = Math.ceil(devices.length / CHUNK);
    const shared: DrsBatch = {
      secret: this.secret,
      deviceIds: devices.map((d) => d.deviceId),
      registered: devices.map((d) => d.registered.getTime()),
      out: new SharedArrayBuffer(devices.length * KEY_BYTES),
      // [next chunk to take, workers finished], then one done flag per chunk.
      control: new SharedArrayBuffer(4 * (2 + chunks)),
    };
    const control = new Int32Array(shared.control);
    const script = devices.length >= PARALLEL_THRESHOLD ? workerScript() : undefined;
    const workers: Worker[] = [];
    for (let i = 0; script && i < spareCores(); i++) {
      try {
        const worker = new Worker(script, { workerData: shared });
        worker.unref();
        workers.push(worker);
      } catch {
        // Its chunks are taken by the others.
      }
    }
    runDrsBatch(this, shared);
    const deadline = Date.now() + WORKER_TIMEOUT_MS;
    for (let finished = Atomics.load(control, 1); finished < workers.length && Date.now() < deadline;) {
      Atomics.wait(control, 1, finished, 1000);
      finished = Atomics.load(control, 1);
    }
    for (const worker of workers) void worker.terminate();
    const out = new Uint8Array(shared.out);
    for (let chunk = 0; chunk < chunks; chunk++) {
      if (Atomics.load(control, 2 + chunk) === 1) continue;
      for (let i = chunk * CHUNK; i < Math.min(devices.length, (chunk + 1) * CHUNK); i++) {
        const device = devices[i] as { deviceId: string; registered: Date };
        out.set(this.deviceKeyBytes(device.deviceId, device.registered), i * KEY_BYTES);
      }
    }
    const keys: string[] = [];
    for (let i = 0; i < devices.length; i++) {
      keys.push(keyFromBytes(Buffer.from(shared.out, i * KEY_BYTES, KEY_BYTES)));
    }
    return keys;
  }

  /** The certificate issued to `deviceId` at `registered`, with its private key. */
  deviceCertificate(deviceId: string, registered: Date): DeviceCertificate {
    const { certificateDer, point, scalar, notBefore, notAfter } = this.issue(deviceId, registered);
    const thumbprint = createHash('sha1').update(certificateDer).digest('hex').toUpperCase();
    const publicKeyHash = createHash('sha256').update(point).digest('base64');
    const privateKey = createPrivateKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        d: scalar.toString('base64url'),
        x: point.subarray(1, 33).toString('base64url'),
        y: point.subarray(33, 65).toString('base64url'),
      },
      format: 'jwk',
    });
    return {
      deviceId,
      certificateDer,
      certificatePem: toPem('CERTIFICATE', certificateDer),
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      thumbprint,
      publicKeyHash,
      alternativeSecurityIdKey: encodeX509Key(thumbprint, publicKeyHash),
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
    };
  }

  // ---- internals -----------------------------------------------------------------------------

  private derive(label: string): Buffer {
    return createHmac('sha256', this.secretBytes).update(label).digest();
  }

  /**
   * The device's P-256 private scalar and its certificate's serial number, both from the secret and
   * the deviceId (one SHA-512: this runs 100,000 times when a large directory is seeded). The scalar
   * is re-derived in the negligible case that it is not below the group order.
   */
  private deviceSecrets(deviceId: string): { scalar: Buffer; serial: Buffer } {
    for (let attempt = 0; ; attempt++) {
      const digest = hash(
        'sha512',
        Buffer.concat([this.secretBytes, Buffer.from(`device\0${deviceId.toLowerCase()}\0${attempt}`)]),
        'buffer',
      );
      const scalar = digest.subarray(0, 32);
      // Below the order for sure when the first byte is (the order begins 0xff); else compare.
      const valid =
        (scalar[0] ?? 0xff) < 0xff
          ? scalar.some((byte) => byte !== 0)
          : BigInt(`0x${scalar.toString('hex')}`) < P256_ORDER;
      if (valid) return { scalar, serial: serialFrom(digest.subarray(32, 48)) };
    }
  }

  private issue(
    deviceId: string,
    registered: Date,
  ): {
    certificateDer: Buffer;
    point: Buffer;
    publicKeyHash: Buffer;
    scalar: Buffer;
    notBefore: Date;
    notAfter: Date;
  } {
    const { scalar, serial } = this.deviceSecrets(deviceId);
    this.ecdh.setPrivateKey(scalar);
    const point = this.ecdh.getPublicKey();
    const publicKeyHash = hash('sha256', point, 'buffer');
    // The key identifier is the leading 160 bits of the key's SHA-256 (RFC 7093 §2, method 1).
    const keyId = publicKeyHash.subarray(0, 20);
    const notBefore = certificateTime(registered.toISOString(), registered);
    const notAfter = tenYearsAfter(notBefore);
    const fields: DeviceFields = { deviceId, serial, notBefore, notAfter, point, keyId };
    const tbs = this.template.fill(fields) ?? this.deviceTbs(fields);
    const certificateDer = der.sequence(
      tbs,
      this.signatureAlgorithm,
      der.bitString(sign(null, tbs, this.caKey)),
    );
    return { certificateDer, point, publicKeyHash, scalar, notBefore, notAfter };
  }

  /** The to-be-signed part of a device certificate, written field by field. */
  private deviceTbs(fields: DeviceFields): Buffer {
    const extensions = [
      extension(Oid.subjectKeyIdentifier, false, der.octetString(fields.keyId)),
      this.deviceExtensionsTail,
    ];
    if (isGuid(fields.deviceId))
      extensions.push(extension(Oid.drsDeviceId, false, guidToBytes(fields.deviceId)));
    return der.sequence(
      der.explicit(0, der.integer(2)),
      der.integer(fields.serial),
      this.signatureAlgorithm,
      this.issuer,
      der.sequence(der.time(fields.notBefore), der.time(fields.notAfter)),
      der.sequence(
        der.set(der.sequence(der.objectIdentifier(Oid.commonName), der.utf8String(fields.deviceId))),
      ),
      der.sequence(
        der.sequence(der.objectIdentifier(Oid.ecPublicKey), der.objectIdentifier(Oid.prime256v1)),
        der.bitString(fields.point),
      ),
      der.explicit(3, der.sequence(...extensions)),
    );
  }

  /**
   * The usual device certificate (a GUID deviceId, UTCTime validity) has the same length and layout
   * every time: it is written once with placeholders and then copied with the fields patched in,
   * byte for byte what {@link deviceTbs} writes.
   */
  private readonly template: DeviceTemplate;
}

interface DeviceFields {
  deviceId: string;
  serial: Buffer;
  notBefore: Date;
  notAfter: Date;
  point: Buffer;
  keyId: Buffer;
}

const PLACEHOLDER_ID = '00000000-0000-4000-8000-000000000000';

class DeviceTemplate {
  private readonly bytes: Buffer;
  private readonly at: Record<
    'serial' | 'notBefore' | 'notAfter' | 'deviceId' | 'point' | 'keyId' | 'guid',
    number
  >;

  constructor(write: (fields: DeviceFields) => Buffer) {
    // Distinct marker bytes, so that each field is found exactly once in the written template.
    const marker = (byte: number, length: number): Buffer => Buffer.alloc(length, byte);
    const placeholder: DeviceFields = {
      deviceId: PLACEHOLDER_ID,
      serial: Buffer.concat([Buffer.from([0x41]), marker(0xa1, 15)]),
      notBefore: new Date('2001-01-01T00:00:00Z'),
      notAfter: new Date('2011-01-01T00:00:00Z'),
      point: Buffer.concat([Buffer.from([0x04]), marker(0xa2, 64)]),
      keyId: marker(0xa3, 20),
    };
    this.bytes = write(placeholder);
    const find = (needle: Buffer): number => {
      const first = this.bytes.indexOf(needle);
      if (first < 0 || this.bytes.indexOf(needle, first + 1) >= 0)
        throw new Error('DRS template field is ambiguous');
      return first;
    };
    this.at = {
      serial: find(placeholder.serial),
      notBefore: find(Buffer.from('010101000000Z', 'ascii')),
      notAfter: find(Buffer.from('110101000000Z', 'ascii')),
      deviceId: find(Buffer.from(PLACEHOLDER_ID, 'ascii')),
      point: find(placeholder.point),
      keyId: find(placeholder.keyId),
      guid: find(guidToBytes(PLACEHOLDER_ID)),
    };
  }

  /** The template with these fields, or undefined when they do not fit its layout. */
  fill(fields: DeviceFields): Buffer | undefined {
    if (fields.deviceId.length !== PLACEHOLDER_ID.length || !isGuid(fields.deviceId)) return undefined;
    if (fields.serial.length !== 16 || fields.point.length !== 65 || fields.keyId.length !== 20)
      return undefined;
    const notBefore = utcTime(fields.notBefore);
    const notAfter = utcTime(fields.notAfter);
    if (!notBefore || !notAfter) return undefined;
    const out = Buffer.from(this.bytes);
    fields.serial.copy(out, this.at.serial);
    out.write(notBefore, this.at.notBefore, 'ascii');
    out.write(notAfter, this.at.notAfter, 'ascii');
    out.write(fields.deviceId, this.at.deviceId, 'ascii');
    fields.point.copy(out, this.at.point);
    fields.keyId.copy(out, this.at.keyId);
    guidToBytes(fields.deviceId).copy(out, this.at.guid);
    return out;
  }
}

/** `YYMMDDhhmmssZ` for 1950-2049 (RFC 5280 UTCTime), else undefined. */
function utcTime(date: Date): string | undefined {
  const year = date.getUTCFullYear();
  if (year < 1950 || year >= 2050) return undefined;
  const two = (n: number): string => (n < 10 ? `0${n}` : String(n));
  return `${two(year % 100)}${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
}

/** A positive 16-byte serial number that DER keeps at 16 bytes. */
function serialFrom(bytes: Buffer): Buffer {
  const serial = Buffer.from(bytes.subarray(0, 16));
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  return serial;
}

/** The BIT STRING contents of a SubjectPublicKeyInfo (RFC 5280's subjectPublicKey). */
function subjectPublicKeyOf(spki: Buffer): Buffer {
  const bits = der.children(spki, der.readTlv(spki))[1];
  if (!bits) throw new Error('malformed SubjectPublicKeyInfo');
  return spki.subarray(bits.valueStart + 1, bits.end);
}
