// `device-writeback demo` end to end, as a newcomer runs it: the built CLI, a real Samba AD DC, the
// emulator, every step's outcome read from its output, and nothing left behind afterwards (no samba
// process, no loopback address, no temporary folder). Also: as a non-root user it says what is
// missing and how to get it, and creates nothing.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.js';
import { addressReleased, processesMentioning } from '../support/samba.js';

describe('device-writeback demo', () => {
  it('runs every step against a throwaway lab and removes it afterwards', { timeout: 240_000 }, async () => {
    const unavailable = inject('sambaUnavailable');
    if (unavailable)
      throw new Error(`the demo test needs Samba and root: ${unavailable}. Run "npm test" as root.`);

    const result: CliResult = await runCli(['demo']);
    const out = result.stdout;
    const context = `exit ${result.code}\n--- stdout ---\n${out}\n--- stderr ---\n${result.stderr}`;
    expect(result.code, context).toBe(0);

    // Every numbered step ran, in order.
    const titles = [...out.matchAll(/^\[(\d+)\/13\]/gm)].map((m) => Number(m[1]));
    expect(titles).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);

    // The outcomes of the steps, as the user reads them.
    expect(out).toMatch(/Provisioning a throwaway Samba AD DC \(Windows Server 2012 R2 schema\)/);
    expect(out).toMatch(/✔ ldaps:\/\/127\.0\.0\.\d+ \(LDAPS/);
    expect(out).toMatch(/✔ 6 users and svc-writeback/);
    expect(out).toMatch(/✔ 200 devices, 6 users/);
    expect(out).toMatch(/clientSecret: \{ file: secrets\/entra-client-secret \}/);
    expect(out).toMatch(/\$ node bin\/device-writeback\.js check --config \S+device-writeback\.yaml/);
    expect(out).toMatch(/✖\s+ad\.drs-object\s+fail/);
    expect(out).toMatch(/exit code 1, as expected/);
    expect(out).toMatch(
      /DWB_ADMIN_PASSWORD="\$\(cat \S+\/secrets\/admin-password\)" node bin\/device-writeback\.js init-ad --connector-account svc-writeback --admin Administrator@corp\.example\.test --cloud-issuer \S+\/emulator\/emulator-cloud-issuer\.pem/,
    );
    expect(out).toMatch(
      /add to msDS-CloudIssuerPublicCertificates: DC=net \+ DC=windows \+ CN=MS-Organization-Access \+ OU=[0-9a-f-]{36} \(thumbprint [0-9A-F]{40}\)/,
    );
    expect(out).toMatch(/✔ forest prepared/);
    // The check after init-ad: the cloud issuer is there, so ad.cloud-issuer passes with no warning.
    const recheck = out.slice(
      out.indexOf('`check` again: everything passes'),
      out.indexOf('`sync`: the first'),
    );
    expect(recheck).toMatch(/✔\s+ad\.cloud-issuer\s+pass: /);
    expect(recheck).toMatch(
      /msDS-CloudIsEnabled = TRUE; 1 issuer: DC=net \+ DC=windows \+ CN=MS-Organization-Access/,
    );
    expect(recheck).toMatch(/0 failed, 0 skipped/);
    // The scope: a pilot group (writeback.scope.groups) holds all but a few devices.
    const outside = Number(
      /group "Device writeback pilot": \d+ devices \(the group "Pilot devices" nested in it\); (\d+) devices are outside it/.exec(
        out,
      )?.[1],
    );
    expect(outside).toBeGreaterThan(0);
    const written = 200 - outside;
    expect(out).toMatch(
      /│ {3}scope:\n\s+│ {5}groups: \[[0-9a-f-]{36}\] # "Device writeback pilot": devices outside it are not written/,
    );
    expect(out).toContain(`created ${written}, updated 0, deleted 0, unchanged 0, quarantined 0`);
    expect(out).toContain(
      `out of scope (not written): ${outside} of the devices this pass read — groups ${outside}`,
    );
    expect(out).toContain(
      `✔ ${written} msDS-Device objects in CN=RegisteredDevices,DC=corp,DC=example,DC=test`,
    );
    expect(out).toContain(`CN=RegisteredDevices,DC=corp,DC=example,DC=test: ${written} devices`);
    for (const change of ['rename', 'disable', 'delete', 'remove'])
      expect(out).toMatch(new RegExp(`Entra ID: ${change} `));
    expect(out).toMatch(
      /Entra ID: remove "[^"]+" from the group "Device writeback pilot" \(writeback\.scope\.groups\): out of scope/,
    );
    expect([...out.matchAll(/→ seen in AD after \d+\.\d s/g)]).toHaveLength(4);
    expect(out).toMatch(/✔ 4 changes written back/);

    // The end of the AD FS path: a written device's certificate, from the emulator's DRS, chains to
    // the issuer init-ad wrote and finds that device, which gets its claims.
    const adfs = out.slice(
      out.indexOf('`claims --cert`: a device certificate'),
      out.indexOf('What the demo created'),
    );
    const cert =
      /\$ node bin\/device-writeback\.js claims --cert (\S+\/device-([0-9a-f-]{36})\.pem) --user (\S+@corp\.example\.test) --config \S+/.exec(
        adfs,
      );
    expect(cert, adfs).not.toBeNull();
    const [, certFile, deviceId, owner] = cert!;
    expect(adfs).toContain(`/_emulator/drs/devices/${deviceId}/certificate → ${certFile}`);
    expect(adfs).toMatch(
      new RegExp(`Certificate: CN=${deviceId} \\(issuer DC=net \\+ DC=windows \\+ CN=MS-Organization-Access`),
    );
    expect(adfs).toMatch(/issued by cloud DRS: +yes/);
    expect(adfs).toMatch(/AD FS accepts it as a device certificate\./);
    expect(adfs).toContain(`Found: CN=${deviceId},CN=RegisteredDevices,DC=corp,DC=example,DC=test`);
    expect(adfs).toMatch(/AD FS authenticates the device and issues \d+ device claims\./);
    expect(adfs).toMatch(new RegExp(`devicecontext/claims/identifier +${deviceId}`));
    expect(adfs).toMatch(/devicecontext\/claims\/isregistereduser +true/);
    expect(adfs).toContain(`User ${owner} (`);
    expect(adfs).toMatch(/is the registered owner of this device: isregistereduser = true\./);
    expect(adfs).toMatch(
      /✔ AD FS accepts the certificate \(issued by the cloud DRS\) and finds CN=[0-9a-f-]{36},CN=RegisteredDevices,DC=corp,DC=example,DC=test: \d+ device claims/,
    );
    expect(out).toMatch(
      /Stopped and removed: `run`, .*the Graph emulator, the DC \(samba\) and its address 127\.0\.0\.\d+, \/\S+/,
    );

    // No secret in the output: the passwords live in files the output only names.
    expect(out).not.toMatch(/Dwb-[A-Za-z0-9_-]{20}/);

    // Nothing left behind.
    const dir = /Everything goes into (\/\S+?), removed at the end/.exec(out)?.[1];
    const address = /✔ ldaps:\/\/(127\.0\.0\.\d+) \(LDAPS/.exec(out)?.[1];
    expect(dir).toBeDefined();
    expect(address).toBeDefined();
    expect(existsSync(dir!)).toBe(false);
    expect(processesMentioning(dir!)).toEqual([]);
    expect(addressReleased(address!)).toBe(true);
  });

  it('as a non-root user, says what is missing and how to get it, and starts nothing', async () => {
    if (process.getuid?.() !== 0) return; // only root can switch to another user for this check
    const output = execFileSync(
      'sh',
      ['-c', `runuser -u nobody -- "${process.execPath}" bin/device-writeback.js demo 2>&1; echo "exit=$?"`],
      { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } },
    );
    expect(output).toMatch(/✖ root: running as uid \d+, not root/);
    expect(output).toMatch(/sudo npm run demo/);
    expect(output).toMatch(/DWB_PREREQ_MISSING: the demo needs root\./);
    expect(output).toMatch(/exit=1$/m);
    expect(output).not.toMatch(/\[2\/13\]/); // nothing was provisioned or started
  });
});
