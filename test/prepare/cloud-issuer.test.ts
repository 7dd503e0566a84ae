// The --cloud-issuer files, judged before anything is planned: a CA certificate in its validity
// period is taken (each once, from PEM bundles and DER alike); anything else is refused with its code.
import { describe, expect, it } from 'vitest';
import { DwbError } from '../../src/errors.js';
import { expiryWarnings, readCloudIssuerFiles } from '../../src/prepare/cloud-issuer.js';
import { makeDeviceCertificate, makeIssuer, writeTestFile } from '../support/issuer.js';

function refusal(files: string[]): DwbError {
  try {
    readCloudIssuerFiles(files);
  } catch (err) {
    if (err instanceof DwbError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('readCloudIssuerFiles', () => {
  it('takes CA certificates from PEM and DER files, each once, in the order given', () => {
    const a = makeIssuer('ci-a');
    const b = makeIssuer('ci-b');
    const bundle = writeTestFile('ci-bundle.pem', `${b.certPem}${a.certPem}`);
    const der = writeTestFile('ci-a.cer', a.der);
    const issuers = readCloudIssuerFiles([a.file, bundle, der]);
    expect(issuers.map((i) => i.der)).toEqual([a.der, b.der]);
    expect(issuers[0]).toMatchObject({
      file: a.file,
      facts: {
        thumbprint: a.thumbprint,
        isCa: true,
        subject: 'OU=test tenant ci-a, CN=MS-Organization-Access',
      },
    });
  });

  it('refuses a file that is not a certificate, or that cannot be read, with DWB_CLOUD_ISSUER_INVALID (exit 2)', () => {
    const text = refusal([writeTestFile('ci-notes.txt', 'the issuer is in the other file\n')]);
    expect(text.code).toBe('DWB_CLOUD_ISSUER_INVALID');
    expect(text.exitCode).toBe(2);
    expect(text.message).toContain('is not an X.509 certificate: it is neither a PEM certificate nor a DER');
    expect(text.message).toContain('init-ad did not change anything');
    const key = refusal([writeTestFile('ci-key.pem', makeIssuer('ci-key').keyPem)]);
    expect(key.message).toContain('it holds PEM data (PRIVATE KEY) but no CERTIFICATE block');
    expect(refusal(['/nonexistent/issuer.pem']).message).toContain(
      'cannot read --cloud-issuer /nonexistent/issuer.pem',
    );
    const endless = refusal(['/dev/zero']);
    expect(endless.code).toBe('DWB_CLOUD_ISSUER_INVALID');
    expect(endless.message).toContain('/dev/zero is a character device, not a regular file');
    const huge = refusal([writeTestFile('ci-huge.pem', 'x'.repeat(1024 * 1024 + 1))]);
    expect(huge.code).toBe('DWB_CLOUD_ISSUER_INVALID');
    expect(huge.message).toContain('is 1048577 bytes, more than the 1048576 allowed');
  });

  it('refuses a device certificate (not a CA) and names its issuer', () => {
    const issuer = makeIssuer('ci-parent');
    const device = makeDeviceCertificate('ci-device', issuer);
    const err = refusal([device.file]);
    expect(err.code).toBe('DWB_CLOUD_ISSUER_NOT_CA');
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain(
      `the certificate CN=ci-device (thumbprint ${device.thumbprint}) is not a CA certificate`,
    );
    expect(err.message).toContain(
      'its issuer OU=test tenant ci-parent, CN=MS-Organization-Access may be the certificate you want',
    );
  });

  it('refuses an expired issuer and one that is not valid yet', () => {
    const expired = makeIssuer('ci-expired', { startedDaysAgo: 400, validDays: 365 });
    const err = refusal([makeIssuer('ci-good').file, expired.file]);
    expect(err.code).toBe('DWB_CLOUD_ISSUER_EXPIRED');
    expect(err.message).toMatch(
      /expired on \d{4}-\d\d-\d\d \d\d:\d\d UTC: AD FS would accept no device certificate/,
    );
    const future = refusal([makeIssuer('ci-future', { startedDaysAgo: -10 }).file]);
    expect(future.code).toBe('DWB_CLOUD_ISSUER_EXPIRED');
    expect(future.message).toContain('is not valid until');
  });

  it('warns about an issuer that expires within 30 days', () => {
    const soon = readCloudIssuerFiles([makeIssuer('ci-soon', { startedDaysAgo: 100, validDays: 110 }).file]);
    expect(expiryWarnings(soon)).toEqual([
      expect.stringMatching(
        /^the cloud issuer OU=test tenant ci-soon, CN=MS-Organization-Access \(thumbprint [0-9A-F]{40}\) from .* expires on .* \(in 9 days\)/,
      ),
    ]);
    expect(expiryWarnings(readCloudIssuerFiles([makeIssuer('ci-later').file]))).toEqual([]);
  });
});
