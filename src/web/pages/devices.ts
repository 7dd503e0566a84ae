// Devices: every device the engine knows and every unmanaged object in the container, searched,
// filtered and paged on the server (the index answers in milliseconds with 100,000 devices).
import type { ConsoleContext } from '../context.js';
import { DEVICE_STATES, type DeviceQuery, type DeviceState, type ListedDevice } from '../device-index.js';
import { ageText, timeText } from '../format.js';
import { badge, href, html, type SafeHtml } from '../html.js';

export interface DevicesParams {
  q?: string;
  state?: string;
  enabled?: string;
  os?: string;
  owner?: string;
  /** Devices not written for this rule (out of scope, unrouted). */
  rule?: string;
  forest?: string;
  page?: string;
  size?: string;
}

const STATE_LABELS: Record<DeviceState, string> = {
  managed: 'managed (written by device-writeback)',
  unmanaged: 'unmanaged (left alone)',
  quarantined: 'quarantined',
  'not-written': 'not written (out of scope, unrouted or pending)',
};

/** The scope keys (and unrouted) as the reason filter names them. */
const RULE_LABELS: Record<string, string> = {
  trustTypes: 'trustType (writeback.trustTypes)',
  operatingSystems: 'operating system (scope.operatingSystems)',
  managedOnly: 'not managed (scope.managedOnly)',
  compliantOnly: 'not compliant (scope.compliantOnly)',
  groups: 'not in a scope group (scope.groups)',
  requireOnPremisesOwner: 'owner without on-premises account (scope.requireOnPremisesOwner)',
  unrouted: 'unrouted (no forest holds the owner)',
};

export function deviceQuery(p: DevicesParams): DeviceQuery {
  const state = DEVICE_STATES.find((s) => s === p.state);
  return {
    search: p.q?.slice(0, 200),
    state,
    enabled: p.enabled === 'yes' ? true : p.enabled === 'no' ? false : undefined,
    os: p.os?.slice(0, 200) || undefined,
    owner: p.owner?.slice(0, 200),
    rule: p.rule?.slice(0, 100) || undefined,
    forest: p.forest?.slice(0, 64) || undefined,
    page: Number(p.page) || 1,
    pageSize: Number(p.size) || 50,
  };
}

export function deviceLink(row: Pick<ListedDevice, 'key'>): string {
  return `/devices/${encodeURIComponent(row.key)}`;
}

export async function devicesPage(
  ctx: ConsoleContext,
  p: DevicesParams,
): Promise<{ title: string; body: SafeHtml }> {
  const query = deviceQuery(p);
  const result = await ctx.index.query(query);
  const systems = await ctx.index.operatingSystems();
  const rules = await ctx.index.notWrittenRules();
  const keep = {
    q: query.search,
    state: query.state,
    enabled: p.enabled,
    os: query.os,
    owner: query.owner,
    rule: query.rule,
    forest: query.forest,
    size: p.size,
  };
  const several = ctx.config.severalForests;
  const option = (value: string, label: string, selected: string | undefined): SafeHtml =>
    html`<option value="${value}" ${value === (selected ?? '') ? html` selected` : ''}>${label}</option>`;
  const first = (result.page - 1) * result.pageSize + 1;
  const last = first + result.rows.length - 1;
  const body = html` <h1>Devices</h1>
    <form method="get" action="/devices" class="filters" role="search" aria-label="Filter devices">
      <label for="f-q"
        >Search (name, deviceId, OS, owner)
        <input
          id="f-q"
          type="search"
          name="q"
          value="${query.search ?? ''}"
          maxlength="200"
          autocomplete="off"
      /></label>
      <label for="f-state"
        >State
        <select id="f-state" name="state">
          ${option('', 'any', query.state)}
          ${DEVICE_STATES.map((s) => option(s, STATE_LABELS[s], query.state))}
        </select></label
      >
      <label for="f-enabled"
        >Enabled
        <select id="f-enabled" name="enabled">
          ${option('', 'any', p.enabled)}${option('yes', 'enabled', p.enabled)}${option('no', 'disabled', p.enabled)}
        </select></label
      >
      <label for="f-os"
        >Operating system
        <select id="f-os" name="os">
          ${option('', 'any', query.os)} ${systems.map((s) => option(s, s, query.os))}
        </select></label
      >
      <label for="f-rule"
        >Why not written
        <select id="f-rule" name="rule">
          ${option('', 'any', query.rule)} ${rules.map((r) => option(r, RULE_LABELS[r] ?? r, query.rule))}
        </select></label
      >
      ${
        several
          ? html`<label for="f-forest"
              >Forest
              <select id="f-forest" name="forest">
                ${option('', 'any', query.forest)}
                ${ctx.config.forests.map((f) => option(f.name, f.name, query.forest))}
              </select></label
            >`
          : ''
      }
      <label for="f-owner"
        >Owner (UPN or SID)
        <input
          id="f-owner"
          type="text"
          name="owner"
          value="${query.owner ?? ''}"
          maxlength="200"
          autocomplete="off"
      /></label>
      <button type="submit">Apply</button>
      <a href="/devices">Clear</a>
    </form>
    <p role="status" id="result-count">
      ${
        result.total === 0
          ? 'No device matches.'
          : `${result.total.toLocaleString('en-US')} device${result.total === 1 ? '' : 's'}; showing ${first}–${last}.`
      }
    </p>
    ${
      result.rows.length === 0
        ? ''
        : html`<table aria-describedby="result-count">
            <thead>
              <tr>
                <th scope="col">Display name</th>
                <th scope="col">Device ID</th>
                <th scope="col">State</th>
                ${several ? html`<th scope="col">Forest</th>` : ''}
                <th scope="col">Enabled</th>
                <th scope="col">Operating system</th>
                <th scope="col">Trust type</th>
                <th scope="col">Registered owner</th>
                <th scope="col">Last written</th>
              </tr>
            </thead>
            <tbody>
              ${result.rows.map(
                (r) =>
                  html`<tr>
                    <td class="wrap">
                      <a href="${deviceLink(r)}">${r.displayName ?? '(no display name)'}</a>
                    </td>
                    <td class="mono">${r.deviceId ?? '—'}</td>
                    <td>
                      ${badge(r.state, r.state === 'not-written' ? 'not written' : r.state)}${r.quarantine ? html` <span class="mono">${r.quarantine.code}</span>` : ''}${r.state === 'not-written' && r.why ? html`<br /><span class="muted">${r.why.reason}</span>` : ''}
                    </td>
                    ${several ? html`<td>${r.forest ?? '—'}</td>` : ''}
                    <td>${r.enabled === null ? '—' : r.enabled ? badge('yes') : badge('no', 'disabled')}</td>
                    <td>${[r.osType, r.osVersion].filter(Boolean).join(' ') || '—'}</td>
                    <td>${r.trustType ?? '—'}</td>
                    <td class="wrap">${r.owner ?? '—'}</td>
                    <td>
                      ${r.lastSyncedAt ? html`<span title="${timeText(r.lastSyncedAt)}">${ageText(r.lastSyncedAt)}</span>` : '—'}
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
    <nav class="pager" aria-label="Pages">
      ${result.page > 1 ? html`<a href="${href('/devices', { ...keep, page: result.page - 1 })}" rel="prev">← Previous</a>` : ''}
      <span>Page ${result.page} of ${result.pages}</span>
      ${result.page < result.pages ? html`<a href="${href('/devices', { ...keep, page: result.page + 1 })}" rel="next">Next →</a>` : ''}
    </nav>`;
  return { title: 'Devices', body };
}
