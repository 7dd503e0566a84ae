// The web console end to end in real Chromium, over a writeback service syncing to the Samba DC:
// the devices it wrote, search by a hostile display name, the device page with its values, the
// differences and its claims, and the quarantine with a retry that works once the cloud fixes the
// device. Screenshots go to test-artifacts/ (and one, refreshed by DWB_UPDATE_SCREENSHOT=1, to docs/).
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { str } from '../../src/ad/connection.js';
import type { CycleRecord } from '../../src/sync/service.js';
import { startConsole, type RunningConsole } from '../../src/web/server.js';
import { labConfig } from '../support/engine.js';
import { sampleDevice, sampleKey } from '../support/fake-source.js';
import { addUser, type LabUser } from '../support/samba.js';
import { startServiceLab, useConsoleDc, type ServiceLab } from './support/lab.js';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const ARTIFACTS = path.resolve('test-artifacts');
const HOSTILE = `<img src=x onerror="alert(1)"> Robert'); DROP TABLE devices;-- & <b>"bold"</b>`;

const lab = useConsoleDc();
let users: LabUser[];
let svc: ServiceLab;
let web: RunningConsole;
let browser: Browser;
let page: Page;
const dialogs: string[] = [];

function nextCycle(): Promise<CycleRecord> {
  return new Promise((resolve) => svc.service.onCycle(resolve));
}

async function shot(name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `console-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

beforeAll(async () => {
  users = [];
  for (const name of ['alice', 'bob']) users.push(await addUser(lab, name, `Pw-${name}-Console-1!`));
  const config = labConfig(lab.dc, { extra: 'writeback:\n  intervalSeconds: 3600\n' });
  svc = await startServiceLab(config);
  const os = ['Windows', 'iOS', 'Android', 'MacMDM'];
  for (let n = 1; n <= 24; n++) {
    svc.source.put(
      sampleDevice(n, {
        displayName: `${['LAPTOP', 'PHONE', 'TABLET'][n % 3]}-${String(n).padStart(3, '0')}`,
        operatingSystem: os[n % 4]!,
        accountEnabled: n % 7 !== 0,
      }),
      {
        registeredOwners: [
          {
            id: `u${n}`,
            userPrincipalName: users[n % 2]!.userPrincipalName,
            onPremisesSecurityIdentifier: users[n % 2]!.sid,
          },
        ],
        registeredUsers: [
          {
            id: `u${n}`,
            userPrincipalName: users[n % 2]!.userPrincipalName,
            onPremisesSecurityIdentifier: users[n % 2]!.sid,
          },
        ],
      },
    );
  }
  svc.source.put(sampleDevice(40, { displayName: HOSTILE }), {
    registeredOwners: [
      {
        id: 'ua',
        userPrincipalName: users[0]!.userPrincipalName,
        onPremisesSecurityIdentifier: users[0]!.sid,
      },
    ],
    registeredUsers: [],
  });
  svc.source.put(sampleDevice(41, { displayName: 'BROKEN-KEY', alternativeSecurityIds: [] }));
  const first = nextCycle();
  void svc.service.start();
  const cycle = await first;
  expect(cycle.ok).toBe(true);
  expect(cycle.summary).toMatchObject({ created: 25, quarantined: 1 });
  web = await startConsole({ service: svc.service, listen: '127.0.0.1:0', metrics: svc.metrics });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  // Everything is served by the console: any request elsewhere fails the test.
  await page.route('**/*', (route) =>
    route.request().url().startsWith(web.url) ? route.continue() : route.abort(),
  );
});

afterAll(async () => {
  await browser?.close();
  await web?.close();
  await svc?.close();
});

describe('web console in Chromium', () => {
  it('the overview shows health, counts and the last cycle', async () => {
    await page.goto(web.url);
    await expect(page.locator('#health-title').textContent()).resolves.toBe('Healthy');
    const cards = await page.locator('.card').allTextContents();
    expect(cards.join(' | ')).toMatch(/Managed \(written by device-writeback\)\s*25/);
    expect(cards.join(' | ')).toMatch(/Quarantined\s*1/);
    expect(await page.locator('main').textContent()).toContain('25 created');
    const overview = await shot('overview');
    // The README's picture (docs/console.png), refreshed on request.
    if (process.env.DWB_UPDATE_SCREENSHOT === '1') copyFileSync(overview, path.resolve('docs/console.png'));
  });

  it('lists the devices it wrote, with server-side filters', async () => {
    await page.goto(`${web.url}/devices`);
    expect(await page.locator('#result-count').textContent()).toContain('26 devices');
    await page.getByLabel('Operating system').selectOption('iOS');
    await page.getByLabel('Enabled').selectOption('yes');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/os=iOS/);
    const names = await page.locator('tbody tr td:first-child').allTextContents();
    expect(names.length).toBeGreaterThan(0);
    const rows = await page.locator('tbody tr').allTextContents();
    expect(rows.every((r) => r.includes('iOS'))).toBe(true);
    await page.goto(`${web.url}/devices`);
    await shot('devices');
  });

  it('finds a device by a hostile display name and shows it as text', async () => {
    await page.goto(`${web.url}/devices`);
    const search = page.getByLabel(/Search/);
    await search.fill(`<img src=x onerror="alert(1)">`);
    await search.press('Enter');
    await page.waitForURL(/q=/);
    expect(await page.locator('#result-count').textContent()).toContain('1 device;');
    const link = page.locator('tbody tr td:first-child a');
    expect(await link.textContent()).toBe(HOSTILE);
    expect(await page.locator('main img, main b').count()).toBe(0);
    // the search box shows the query back as a value, not as markup
    expect(await search.inputValue()).toBe(`<img src=x onerror="alert(1)">`);
    await shot('search-hostile');
    await link.click();
    await page.waitForURL(/\/devices\/[^?]+$/);
    expect(await page.locator('h1').textContent()).toContain(HOSTILE);
    expect(await page.locator('main img, main b').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('the device page shows Entra ID and AD values side by side, the differences, and the claims', async () => {
    const d = sampleDevice(4);
    await page.goto(`${web.url}/devices?q=${d.deviceId}`);
    await page.locator('tbody tr td:first-child a').click();
    await page.waitForURL(/\/devices\//);
    expect((await page.locator('#diff-summary').textContent())?.trim()).toBe(
      'AD holds exactly what Entra ID says.',
    );
    const osRow = page.locator('tr', { has: page.locator('th', { hasText: /^msDS-DeviceOSVersion$/ }) });
    expect(await osRow.textContent()).toContain('10.0.22631.3447');
    const claimValue = async (name: string): Promise<string> =>
      (await page
        .locator('tr', { has: page.locator('td', { hasText: new RegExp(`/claims/${name}$`) }) })
        .locator('td')
        .nth(1)
        .textContent()) ?? '';
    expect(await claimValue('identifier')).toBe(d.deviceId);
    expect(await claimValue('displayname')).toBe('PHONE-004');
    expect(await claimValue('ostype')).toBe('Windows');
    expect(await claimValue('isknown')).toBe('true');
    expect(await claimValue('isregistereduser')).toBe('not issued');
    // the 2012 R2 schema has no msDS-IsCompliant: the claim is absent, and the page says why
    expect(await page.locator('main').textContent()).toContain('the forest schema has no msDS-IsCompliant');

    // The owner signs in: isregistereduser becomes true.
    await page.getByLabel(/Signing-in user/).fill(users[0]!.userPrincipalName);
    await page.getByRole('button', { name: 'Show claims' }).click();
    await page.waitForURL(/user=/);
    expect(await claimValue('isregistereduser')).toBe('true');
    expect(await page.locator('main').textContent()).toContain('is the registered owner');
    await page.getByLabel(/Signing-in user/).fill(users[1]!.sid);
    await page.getByRole('button', { name: 'Show claims' }).click();
    await page.waitForURL(new RegExp(`user=${users[1]!.sid}`));
    expect(await claimValue('isregistereduser')).toBe('false');

    // A hand edit in AD shows as a difference.
    await lab.admin.modify(`CN=${d.deviceId},${lab.container}`, [
      { operation: 'replace', type: 'msDS-DeviceOSVersion', values: ['6.1.7601'] },
    ]);
    await page.reload();
    expect(await page.locator('#diff-summary').textContent()).toContain(
      '1 attribute differs: msDS-DeviceOSVersion',
    );
    const diffRows = page.locator('tr.diff');
    expect(await diffRows.count()).toBe(1);
    expect(await diffRows.textContent()).toContain('6.1.7601');
    expect(await diffRows.textContent()).toContain('≠ differs');
    await shot('device');
  });

  it('the quarantine lists a bad device; retry works once the cloud fixes it', async () => {
    await page.goto(`${web.url}/quarantine`);
    const row = page.locator('tbody tr', { hasText: 'BROKEN-KEY' });
    expect(await row.textContent()).toContain('DWB_DEVICE_NO_KEY');
    await shot('quarantine');

    // Retrying before the cloud fixes it keeps it in quarantine.
    let cycle = nextCycle();
    await row.getByRole('button', { name: /Retry/ }).click();
    await page.waitForURL(/notice=retry/);
    expect(await page.locator('.notice').textContent()).toContain('Retry requested');
    expect((await cycle).summary?.quarantined).toBe(1);
    await page.goto(`${web.url}/quarantine`);
    expect(await page.locator('tbody tr', { hasText: 'BROKEN-KEY' }).count()).toBe(1);

    // The device gets its key in Entra ID; retry, with the keyboard this time.
    const bad = sampleDevice(41);
    svc.source.patch(bad.id, {
      alternativeSecurityIds: [{ type: 2, identityProvider: null, key: sampleKey('fixed-41') }],
    });
    cycle = nextCycle();
    await page.locator('tbody tr', { hasText: 'BROKEN-KEY' }).getByRole('button', { name: /Retry/ }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(/notice=retry/);
    const done = await cycle;
    expect(done.summary).toMatchObject({ created: 1, quarantined: 0 });
    await page.goto(`${web.url}/quarantine`);
    expect(await page.locator('.notice').textContent()).toContain('No device is quarantined');
    const entry = await lab.admin.read(`CN=${bad.deviceId},${lab.container}`, ['displayName']);
    expect(entry && str(entry, 'displayName')).toBe('BROKEN-KEY');
  });

  it('held deletions are listed on the overview, and its button approves them', async () => {
    const writeback = svc.session.engine.context.writeback;
    const threshold = writeback.deleteThreshold;
    writeback.deleteThreshold = 1;
    try {
      const gone = [22, 23].map((n) => sampleDevice(n));
      for (const d of gone) svc.source.remove(d.id, 'deleted');
      let cycle = nextCycle();
      svc.service.requestRun();
      expect((await cycle).summary).toMatchObject({ thresholdStopped: true, deletionsHeld: 2 });
      await page.goto(web.url);
      const held = page.locator('section.held');
      expect(await held.textContent()).toContain(gone[0]!.deviceId);
      expect(await page.locator('.health').textContent()).toContain('Unhealthy');
      await shot('held-deletions');
      cycle = nextCycle();
      await held.getByRole('button', { name: /Approve the 2 held deletions/ }).click();
      await page.waitForURL(/notice=approved/);
      expect((await cycle).summary).toMatchObject({ deleted: 2, thresholdStopped: false });
      for (const d of gone) expect(await lab.admin.read(`CN=${d.deviceId},${lab.container}`)).toBeUndefined();
      await page.goto(web.url);
      expect(await page.locator('section.held').count()).toBe(0);
    } finally {
      writeback.deleteThreshold = threshold;
    }
  });

  it('runs history and checks pages render, and the console is keyboard-usable', async () => {
    await page.goto(`${web.url}/runs`);
    const rows = await page.locator('tbody tr').allTextContents();
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows[rows.length - 1]).toMatch(/full/);
    await shot('runs');
    // The first Tab reaches the skip link, which moves focus to the content.
    await page.goto(web.url);
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement && document.activeElement.textContent')).toBe(
      'Skip to content',
    );
    // Every form control has a label.
    await page.goto(`${web.url}/devices`);
    const unlabelled = await page.evaluate(
      `[...document.querySelectorAll('main input:not([type=hidden]), main select')].filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).length`,
    );
    expect(unlabelled).toBe(0);
  });
});
