// One device: the values Entra ID says it should have next to what AD holds now (read live, the
// differences marked), when it last changed, its errors, and the device claims AD FS would issue.
import { childDn } from '../../ad/dn.js';
import { isGuid } from '../../ad/guid.js';
import { previewClaims, type ClaimsPreview, type ClaimsUser } from '../../claims/device-claims.js';
import { resolveUser } from '../../claims/lookup.js';
import { causeText } from '../../errors.js';
import type { CloudDevice, DeviceRelations } from '../../entra/types.js';
import { DEVICE_ATTRIBUTES, deviceAttribute, type DeviceAttribute } from '../../ad/device-attributes.js';
import type { ActualObject, AdValues } from '../../ad/device-object.js';
import { decodeDeviceKey } from '../../entra/device-key.js';
import { desiredObject } from '../../sync/attribute-flow.js';
import { withTimeout, type ConsoleContext } from '../context.js';
import { adValueText, ageText, timeText } from '../format.js';
import { badge, formKey, href, html, type SafeHtml } from '../html.js';

/** The Graph value itself, for when the attribute flow could not compute the AD form. */
function graphValue(attribute: DeviceAttribute, d: CloudDevice, rel: DeviceRelations | null): string[] {
  const one = (v: unknown): string[] => (v === null || v === undefined || v === '' ? [] : [String(v)]);
  switch (attribute) {
    case 'msDS-DeviceID':
      return one(d.deviceId);
    case 'displayName':
      return one(d.displayName);
    case 'msDS-IsEnabled':
      return one(d.accountEnabled);
    case 'altSecurityIdentities':
      return (d.alternativeSecurityIds ?? [])
        .filter((k) => k.type === 2)
        .map((k) => {
          try {
            return decodeDeviceKey(k.key);
          } catch (err) {
            return `(undecodable key: ${(err as Error).message})`;
          }
        });
    case 'msDS-DeviceOSType':
      return one(d.operatingSystem);
    case 'msDS-DeviceOSVersion':
      return one(d.operatingSystemVersion);
    case 'msDS-DevicePhysicalIDs':
      return d.physicalIds ?? [];
    case 'msDS-IsManaged':
      return one(d.isManaged);
    case 'msDS-IsCompliant':
      return one(d.isCompliant);
    case 'msDS-DeviceTrustType':
      return one(d.trustType);
    case 'msDS-DeviceObjectVersion':
      return one(d.deviceVersion);
    case 'msDS-ApproximateLastLogonTimeStamp':
      return one(d.approximateLastSignInDateTime);
    case 'msDS-RegisteredOwner':
      return (rel?.registeredOwners ?? [])
        .slice(0, 1)
        .map(
          (o) => `${o.userPrincipalName ?? o.id} ${o.onPremisesSecurityIdentifier ?? '(no on-premises SID)'}`,
        );
    case 'msDS-RegisteredUsers':
      return (rel?.registeredUsers ?? []).map(
        (o) => `${o.userPrincipalName ?? o.id} ${o.onPremisesSecurityIdentifier ?? '(no on-premises SID)'}`,
      );
    case 'msDS-CloudAnchor':
      return one(`Device_${d.id}`);
  }
}

const sameValues = (a: Buffer[], b: Buffer[]): boolean => {
  if (a.length !== b.length) return false;
  const x = a.map((v) => v.toString('hex')).sort();
  const y = b.map((v) => v.toString('hex')).sort();
  return x.every((v, i) => v === y[i]);
};

function valueList(values: string[]): SafeHtml {
  if (values.length === 0) return html`<span class="muted">(no value)</span>`;
  if (values.length === 1) return html`<span class="mono">${values[0]}</span>`;
  return html`<ul class="mono">
    ${values.map((v) => html`<li>${v}</li>`)}
  </ul>`;
}

export async function devicePage(
  ctx: ConsoleContext,
  key: string,
  params: { user?: string },
  csrf: string,
): Promise<{ title: string; body: SafeHtml; status: number }> {
  const row = await ctx.index.get(key);
  if (!row) {
    return {
      title: 'Device not found',
      status: 404,
      body: html`<h1>Device not found</h1>
        <p>
          No device with key <span class="mono">${key}</span> is known.
          <a href="/devices">Back to the devices</a>.
        </p>`,
    };
  }
  const store = ctx.store;
  // The forest that holds (or would hold) the device: the one its object is in, else where it is routed.
  const forestName = row.forest ?? ctx.config.forests[0]!.name;
  const forest = ctx.service.session?.forests.find((f) => f.name === forestName)?.reached;
  if (!forest) {
    return {
      title: row.displayName ?? row.key,
      status: 503,
      body: html`<h1>${row.displayName ?? row.key}</h1>
        <p class="error">
          ${row.reason ? html`Not written: ${row.reason}. ` : ''}Not connected to
          ${ctx.config.severalForests ? html`forest ${forestName}` : 'the forest'} yet: the service has not
          reached its domain controller (see the <a href="/">overview</a> for why). This page compares with
          AD, so it waits for the connection.
        </p>`,
    };
  }
  const container = forest.container;
  const schema = container.schema;
  const stored =
    row.kind === 'cloud' && row.graphId
      ? (await store.getDevices([row.graphId])).get(row.graphId)
      : undefined;
  const flow = stored ? desiredObject(stored.device, stored.relations, schema) : undefined;
  const desired: AdValues | undefined = flow?.ok ? flow.object.values : undefined;

  // The object in AD, read live through the console's own LDAP session.
  const deviceId = row.deviceId?.toLowerCase();
  const dn =
    row.dn ?? (deviceId && isGuid(deviceId) ? childDn('CN', deviceId, container.containerDn) : undefined);
  let actual: ActualObject | undefined;
  let adError: string | undefined;
  if (dn) {
    try {
      actual = await withTimeout(forest.directory.readObject(dn), 5000, 'the domain controller');
    } catch (err) {
      adError = causeText(err);
    }
  }

  let user: ClaimsUser | undefined;
  let userError: string | undefined;
  const userInput = params.user?.trim().slice(0, 300);
  if (userInput) {
    try {
      user = await withTimeout(
        forest.directory.withSession('search', (conn) =>
          resolveUser(conn, container.rootDse.defaultNamingContext, userInput),
        ),
        5000,
        'the domain controller',
      );
    } catch (err) {
      userError = causeText(err);
    }
  }
  const claims: ClaimsPreview | undefined = actual ? previewClaims(actual, schema, user) : undefined;

  const quarantine = (await store.quarantined()).find(
    (q) => q.key === row.key || (row.deviceId !== null && q.deviceId === row.deviceId),
  );
  const runErrors = row.deviceId ? await store.deviceErrors([row.deviceId, row.key], 10) : [];

  const rows = DEVICE_ATTRIBUTES.map((attribute) => {
    const inSchema = schema.has(attribute);
    const want = desired?.get(attribute) ?? [];
    const have = actual?.values.get(attribute) ?? [];
    const cloudText = stored
      ? desired
        ? want.map((v) => adValueText(attribute, v))
        : graphValue(attribute, stored.device, stored.relations)
      : [];
    let status: 'same' | 'differs' | 'missing' | 'unknown' | 'not in schema';
    if (!inSchema) status = 'not in schema';
    else if (!stored || !desired || !actual) status = 'unknown';
    else if (sameValues(want, have)) status = 'same';
    else status = have.length === 0 ? 'missing' : 'differs';
    const differs = status === 'differs' || status === 'missing';
    return html`<tr${differs ? html` class="diff"` : ''}>
      <th scope="row" class="mono">${attribute}</th>
      <td class="mono muted">${deviceAttribute(attribute)?.graphSource ?? ''}</td>
      <td class="wrap">${stored ? valueList(cloudText) : html`<span class="muted">—</span>`}</td>
      <td class="wrap">${actual ? valueList(have.map((v) => adValueText(attribute, v))) : html`<span class="muted">—</span>`}</td>
      <td>${badge(status.replace(/ /g, '-'), status === 'differs' ? '≠ differs' : status === 'missing' ? '≠ missing in AD' : status)}</td>
    </tr>`;
  });
  const differences = DEVICE_ATTRIBUTES.filter((a) => {
    if (!schema.has(a) || !desired || !actual) return false;
    return !sameValues(desired.get(a) ?? [], actual.values.get(a) ?? []);
  });

  const body = html` <p><a href="/devices">← Devices</a></p>
    <h1>
      ${row.displayName ?? '(no display name)'}
      ${badge(row.state, row.state === 'not-written' ? 'not written' : row.state)}
    </h1>
    <dl class="facts">
      <dt>Device ID</dt>
      <dd class="mono">${row.deviceId ?? '—'}</dd>
      <dt>Graph object id</dt>
      <dd class="mono">${row.graphId ?? '—'}</dd>
      <dt>AD object</dt>
      <dd class="mono">${actual ? actual.dn : dn ? `${dn} (not in AD)` : '—'}</dd>
      <dt>objectGUID</dt>
      <dd class="mono">${actual?.objectGuid ?? '—'}</dd>
      <dt>Cloud state stored</dt>
      <dd>
        ${row.cloudUpdatedAt ? `${timeText(row.cloudUpdatedAt)} (${ageText(row.cloudUpdatedAt)})` : '—'}
      </dd>
      <dt>Last written to AD</dt>
      <dd>
        ${row.lastSyncedAt ? `${timeText(row.lastSyncedAt)} (${ageText(row.lastSyncedAt)})` : 'never by this store'}
      </dd>
      <dt>Trust type</dt>
      <dd>${row.trustType ?? '—'}</dd>
      ${
        row.why
          ? html`<dt>Why not written</dt>
              <dd id="why-not-written">${row.why.reason}</dd>`
          : row.reason
            ? html`<dt>Scope</dt>
                <dd id="why-not-written">
                  ${row.reason}: it leaves AD with the next cycle (a deletion held by the deletion threshold
                  waits for approval on the <a href="/">overview</a>).
                </dd>`
            : ''
      }
    </dl>

    ${
      quarantine
        ? html`<h2>Quarantine</h2>
            <div class="error" role="alert">
              <span class="mono">${quarantine.code}</span>: ${quarantine.message} <br /><span class="muted"
                >${quarantine.attempts} attempt${quarantine.attempts === 1 ? '' : 's'} since
                ${timeText(quarantine.firstSeen)}; last ${ageText(quarantine.lastSeen)}.</span
              >
            </div>
            <form method="post" action="/quarantine/retry" class="inline">
              <input type="hidden" name="_csrf" value="${csrf}" /><input
                type="hidden"
                name="key"
                value="${formKey(quarantine.key)}"
              />
              <input type="hidden" name="back" value="${`/devices/${encodeURIComponent(row.key)}`}" />
              <p><button type="submit">Retry this device now</button></p>
            </form>`
        : ''
    }
    ${
      runErrors.length > 0
        ? html`<h2>Errors in recent runs</h2>
            <table>
              <thead>
                <tr>
                  <th scope="col">Run</th>
                  <th scope="col">When</th>
                  <th scope="col">Code</th>
                  <th scope="col">Message</th>
                </tr>
              </thead>
              <tbody>
                ${runErrors.map(
                  (e) =>
                    html`<tr>
                      <td><a href="/runs/${e.runId}">#${e.runId}</a></td>
                      <td>${timeText(e.startedAt)}</td>
                      <td class="mono">${e.code}</td>
                      <td class="wrap">${e.message}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
        : ''
    }

    <h2>Entra ID and AD, side by side</h2>
    ${flow && !flow.ok ? html`<p class="error">The attribute flow cannot compute this device's AD object: <span class="mono">${flow.code}</span> ${flow.message}. The Entra ID column shows the Graph values as received.</p>` : ''}
    ${adError ? html`<p class="error">AD values unavailable: ${adError}</p>` : ''}
    ${row.kind === 'unmanaged' ? html`<p class="notice">This object is not written by device-writeback (it has no msDS-CloudAnchor of this product), so it is left alone.</p>` : ''}
    <p id="diff-summary">
      ${
        !desired || !actual
          ? 'Comparison not available (one side is missing).'
          : differences.length === 0
            ? 'AD holds exactly what Entra ID says.'
            : `${differences.length} attribute${differences.length === 1 ? ' differs' : 's differ'}: ${differences.join(', ')}. The next full reconcile repairs managed objects.`
      }
    </p>
    <table aria-describedby="diff-summary">
      <thead>
        <tr>
          <th scope="col">AD attribute</th>
          <th scope="col">Graph property</th>
          <th scope="col">Entra ID (what AD should hold)</th>
          <th scope="col">AD now</th>
          <th scope="col">Match</th>
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>

    <h2 id="claims">AD FS device claims</h2>
    <form
      method="get"
      action="${`/devices/${encodeURIComponent(row.key)}`}"
      class="filters"
      aria-label="Claims for a user"
    >
      <label for="f-user"
        >Signing-in user (UPN or SID), for isregistereduser
        <input
          id="f-user"
          type="text"
          name="user"
          value="${userInput ?? ''}"
          maxlength="300"
          autocomplete="off"
      /></label>
      <button type="submit">Show claims</button>
    </form>
    ${userError ? html`<p class="error">User: ${userError}</p>` : ''}
    ${
      claims
        ? html`<p>${claims.verdict}</p>
            ${
              claims.user
                ? html`<p>
                    ${claims.user.userPrincipalName ?? claims.user.input} (<span class="mono"
                      >${claims.user.sid}</span
                    >)
                    ${claims.user.isRegisteredOwner ? 'is the registered owner' : 'is not the registered owner'}
                    of this device.
                  </p>`
                : ''
            }
            <table>
              <thead>
                <tr>
                  <th scope="col">Claim type</th>
                  <th scope="col">Value</th>
                  <th scope="col">From / why absent</th>
                </tr>
              </thead>
              <tbody>
                ${claims.claims.map(
                  (c) =>
                    html`<tr>
                      <td class="mono wrap">${c.type}</td>
                      <td class="mono">${c.value ?? html`<span class="muted">not issued</span>`}</td>
                      <td class="wrap">
                        ${c.value !== null ? html`${c.source}${c.note ? ` — ${c.note}` : ''}` : c.absentReason}
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>
            <p class="muted">
              Same answer as <span class="mono">device-writeback claims --device ${row.deviceId ?? ''}</span>.
              AD FS finds the device by the certificate it presents (altSecurityIdentities).
            </p>`
        : html`<p class="muted">
            No AD object to read claims from${adError ? ' (AD unavailable)' : ''}: AD FS would not recognise
            this device.
          </p>`
    }
    <p><a href="${href('/devices', { q: row.deviceId ?? undefined })}">Find in the device list</a></p>`;
  return { title: row.displayName ?? row.deviceId ?? 'Device', body, status: 200 };
}
