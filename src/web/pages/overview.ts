// Overview: is the service healthy, what did the last cycle do, when is the next one, how old is
// the watermark, how many devices are managed, unmanaged and quarantined, and the last errors.
import type { GroupMember, RecentDeviceError } from '../../state/store.js';
import type { ConsoleContext } from '../context.js';
import { ageText, durationText, timeText } from '../format.js';
import { badge, href, html, type SafeHtml } from '../html.js';

export async function overviewPage(
  ctx: ConsoleContext,
  csrf: string,
): Promise<{ title: string; body: SafeHtml }> {
  const health = ctx.service.health();
  const store = ctx.store;
  const counts = await ctx.index.counts();
  const last = health.lastCycle;
  const s = last?.summary;
  const errors: RecentDeviceError[] = await store.recentDeviceErrors(10);
  const failedRuns = (await store.recentRuns(20)).filter(
    (r) => r.outcome === 'failed' || r.outcome === 'threshold',
  );
  const { committedAt: watermarkAt, lastFullAt } = await store.watermark();
  const held = await store.heldDeletions();
  const waiting = held.filter((h) => !h.approvedAt);
  const members: GroupMember[] = await store.groupMembers();
  const me = store.group?.instanceId;
  const standby = health.role === 'standby';
  const card = (label: string, value: number, link: string): SafeHtml =>
    html`<div class="card">
      <a href="${link}"
        ><div class="label">${label}</div>
        <div class="value">${value.toLocaleString('en-US')}</div></a
      >
    </div>`;
  const entra = ctx.config.entra;
  const body = html` <h1>Overview</h1>
    <section class="health ${health.healthy ? 'ok' : 'bad'}" aria-labelledby="health-title">
      <strong id="health-title">${health.healthy ? 'Healthy' : 'Unhealthy'}</strong> — ${health.reason}.
      ${health.running ? html` A cycle is running now.` : health.nextRunAt ? html` Next cycle ${ageText(health.nextRunAt)} (${timeText(health.nextRunAt)}).` : ''}
    </section>
    <form method="post" action="/run" class="inline">
      <input type="hidden" name="_csrf" value="${csrf}" />
      <button type="submit">${standby ? 'Ask the leader for a cycle now' : 'Run a cycle now'}</button>
    </form>

    <h2>Instances</h2>
    ${
      members.length === 0
        ? html`<p class="muted">No instance holds the state store now.</p>`
        : html`<table>
            <caption>
              ${
                store.group
                  ? 'The instances of this group (one leads and writes to AD, the others stand by and serve this console read-only from the shared state)'
                  : 'The one writer of the state store (SQLite: the holder of its lock file)'
              }
            </caption>
            <thead>
              <tr>
                <th scope="col">Host</th>
                <th scope="col">Process</th>
                <th scope="col">Command</th>
                <th scope="col">Role</th>
                <th scope="col">Epoch</th>
                <th scope="col">Last heartbeat</th>
              </tr>
            </thead>
            <tbody>
              ${members.map(
                (m) =>
                  html`<tr>
                    <td class="mono">${m.host}</td>
                    <td class="mono">
                      ${m.pid}${m.instanceId === me ? html` <span class="muted">(this one)</span>` : ''}
                    </td>
                    <td class="mono">${m.command}</td>
                    <td>${badge(m.role)}</td>
                    <td>${m.epoch ?? '—'}</td>
                    <td>${ageText(m.heartbeatAt)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
    ${
      held.length > 0
        ? html`<section class="held" aria-labelledby="held-title">
            <h2 id="held-title">Deletions held by the deletion threshold</h2>
            <p>
              ${held.length} deletion${held.length === 1 ? ' is' : 's are'} held: together with the deletions
              of the last ${ctx.config.writeback.deleteWindowSeconds} s they would go over
              writeback.deleteThreshold (${ctx.config.writeback.deleteThreshold}), so none was made and the
              watermark waits. Check why so many devices left Entra ID or the scope before you release them.
              ${held.length - waiting.length > 0 ? html`${held.length - waiting.length} approved: the next cycle makes them.` : ''}
            </p>
            <table>
              <thead>
                <tr>
                  <th scope="col">Device ID</th>
                  <th scope="col">Object</th>
                  <th scope="col">Why</th>
                  <th scope="col">Held since</th>
                </tr>
              </thead>
              <tbody>
                ${held.slice(0, 20).map(
                  (h) =>
                    html`<tr>
                      <td class="mono">${h.deviceId}</td>
                      <td class="mono wrap">${h.dn}</td>
                      <td class="wrap">
                        ${h.reason}${h.approvedAt ? html` ${badge('ok', 'approved')}` : ''}
                      </td>
                      <td>${timeText(h.heldAt)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
            ${held.length > 20 ? html`<p class="muted">… and ${held.length - 20} more (device-writeback status lists them all).</p>` : ''}
            ${
              waiting.length > 0
                ? html`<form method="post" action="/deletions/approve" class="inline">
                    <input type="hidden" name="_csrf" value="${csrf}" />
                    <button type="submit">
                      Approve the ${waiting.length} held deletion${waiting.length === 1 ? '' : 's'}
                    </button>
                  </form>`
                : ''
            }
          </section>`
        : ''
    }

    <h2>Devices</h2>
    <div class="cards">
      ${card('Managed (written by device-writeback)', counts.managed, href('/devices', { state: 'managed' }))}
      ${card('Unmanaged objects in the container', counts.unmanaged, href('/devices', { state: 'unmanaged' }))}
      ${card('Quarantined', counts.quarantined, '/quarantine')}
      ${card('Known in Entra ID, not written', counts['not-written'], href('/devices', { state: 'not-written' }))}
      ${card('All rows', counts.all, '/devices')}
    </div>

    <h2>Sync</h2>
    <dl class="facts">
      <dt>Last cycle</dt>
      <dd>
        ${
          last
            ? s
              ? html`${badge(s.thresholdStopped ? 'threshold' : s.quarantined > 0 ? 'quarantined' : 'ok', s.thresholdStopped ? 'deletions held' : s.quarantined > 0 ? 'quarantined some' : 'ok')}
                ${s.mode}, ${timeText(last.startedAt)}: ${s.created} created, ${s.updated} updated,
                ${s.deleted} deleted, ${s.unchanged} unchanged, ${s.quarantined} quarantined, in
                ${durationText(s.durationMs)}`
              : html`${badge('failed')} ${timeText(last.startedAt)}:
                  <span class="mono">${last.error?.code}</span> ${last.error?.message}`
            : 'none yet in this process'
        }
      </dd>
      <dt>Last successful cycle</dt>
      <dd>
        ${health.lastSuccessAt ? `${timeText(health.lastSuccessAt)} (${ageText(health.lastSuccessAt)})` : 'none yet in this process'}
      </dd>
      <dt>Delta watermark</dt>
      <dd>
        ${watermarkAt ? `committed ${ageText(watermarkAt)} (${timeText(watermarkAt)})` : 'none yet: the next cycle is a full import'}
      </dd>
      <dt>Last full reconcile</dt>
      <dd>${lastFullAt ? `${ageText(lastFullAt)} (${timeText(lastFullAt)})` : 'never'}</dd>
      <dt>Schedule</dt>
      <dd>
        delta every ${ctx.config.writeback.intervalSeconds} s, full reconcile every
        ${ctx.config.writeback.fullEverySeconds} s, deletion threshold ${ctx.config.writeback.deleteThreshold}
      </dd>
      ${ctx.config.forests.map((f) => {
        const reached = ctx.service.session?.forests.find((l) => l.name === f.name)?.reached;
        const h = health.forests[f.name];
        return html`${
            ctx.config.severalForests
              ? html`<dt>Forest ${f.name}</dt>
                  <dd>
                    ${h ? badge(h.healthy ? 'ok' : 'failed', h.healthy ? 'ok' : 'down') : ''}
                    ${h && !h.healthy ? h.reason : ''}
                  </dd>`
              : ''
          }
          <dt>Device container</dt>
          <dd class="mono">${reached?.container.containerDn ?? 'not reached yet'}</dd>
          <dt>Domain controller</dt>
          <dd class="mono">${f.ad.url}</dd>
          <dt>Connector account</dt>
          <dd class="mono">${f.ad.bindDn}</dd>`;
      })}
      <dt>Microsoft Graph</dt>
      <dd class="mono">
        ${entra ? `${entra.graphUrl} (tenant ${entra.tenantId}, client ${entra.clientId})` : '—'}
      </dd>
    </dl>

    <h2>Last errors</h2>
    ${
      errors.length === 0 && failedRuns.length === 0
        ? html`<p class="muted">No device errors in the recorded runs.</p>`
        : html`<table>
            <caption>
              The most recent per-device errors and failed runs
            </caption>
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">When</th>
                <th scope="col">Device</th>
                <th scope="col">Code</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              ${failedRuns.slice(0, 5).map(
                (r) =>
                  html`<tr>
                    <td><a href="/runs/${r.id}">#${r.id}</a></td>
                    <td>${timeText(r.startedAt)}</td>
                    <td>—</td>
                    <td>${badge(r.outcome)}</td>
                    <td class="wrap">${r.error ?? ''}</td>
                  </tr>`,
              )}
              ${errors.map(
                (e) =>
                  html`<tr>
                    <td><a href="/runs/${e.runId}">#${e.runId}</a></td>
                    <td>${timeText(e.startedAt)}</td>
                    <td>
                      ${e.deviceId ? html`<a class="mono" href="${href(`/devices/${encodeURIComponent(e.deviceId)}`)}">${e.deviceId}</a>` : '—'}
                    </td>
                    <td class="mono">${e.code}</td>
                    <td class="wrap">${e.message}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }`;
  return { title: 'Overview', body };
}
