// Reads a CA file the configuration names (ad.caFile, entra.caFile): PEM certificates, each parsed,
// so that a file holding none is a configuration error naming the key (exit 2) rather than a TLS
// failure later that sends the administrator looking at the domain controller.
import { X509Certificate } from 'node:crypto';
import { DwbError } from '../errors.js';
import { readSmallFile, SmallFileError } from '../util/small-file.js';

/** Large enough for a full system CA bundle (about 200 KiB today). */
const MAX_CA_FILE_BYTES = 4 * 1024 * 1024;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * The certificates of a CA file, as PEM. `key` names the setting in messages. A file that cannot be
 * opened throws `unreadable(reason)`, so that each caller keeps its own error for that case.
 */
export function readCaFile(file: string, key: string, unreadable: (reason: string) => DwbError): string[] {
  let text: string;
  try {
    text = readSmallFile(file, MAX_CA_FILE_BYTES).data.toString('utf8');
  } catch (err) {
    if (!(err instanceof SmallFileError)) throw err;
    if (err.problem === 'unreadable') throw unreadable(err.errno ?? 'error');
    throw new DwbError('DWB_CONFIG_INVALID', `${key}: ${err.message}.`, {
      fix: `Point ${key} at a PEM file holding the CA certificate(s).`,
    });
  }
  const certificates = (text.match(PEM_CERTIFICATE) ?? []).filter((pem) => {
    try {
      new X509Certificate(pem);
      return true;
    } catch {
      return false;
    }
  });
  if (certificates.length === 0) {
    throw new DwbError('DWB_CONFIG_INVALID', `${key}: ${file} holds no PEM certificate.`, {
      fix: `Point ${key} at a PEM file holding the CA certificate(s) (-----BEGIN CERTIFICATE----- blocks), not a key, a request or a DER file.`,
    });
  }
  return certificates;
}
