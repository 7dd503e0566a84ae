// Quarantine: each device the engine could not write, with its reason and a retry button. Retry
// marks the device and asks the service for a cycle now; the engine tries every quarantined
// device again with its latest cloud state, and releases it when it is written.
import type { ConsoleContext } from '../context.js';
import { ageText, timeText } from '../format.js';
import { formKey, html, type SafeHtml } from '../html.js';

export async function quarantinePage(
  ctx: ConsoleContext,
  csrf: string,
): Promise<{ title: string; body: SafeHtml }> {
  const store = ctx.store;
  const [entries, retries] = await Promise.all([store.quarantined(), store.retryRequests()]);
  const body = html` <h1>Quarantine</h1>
    <p>
      A quarantined device could not be written (a value that does not convert, a name taken by an unmanaged
      object, a write AD refused). The rest of the run went on without it. Fix the device in Entra ID (or the
      conflict in AD), then retry: the next cycle writes it with its latest values and releases it.
    </p>
    ${
      entries.length === 0
        ? html`<p class="notice" role="status">No device is quarantined.</p>`
        : html`<table>
            <caption>
              ${entries.length} quarantined device${entries.length === 1 ? '' : 's'}, most recent first
            </caption>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Device ID</th>
                <th scope="col">Reason</th>
                <th scope="col">Attempts</th>
                <th scope="col">Since</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              ${entries.map((e) => {
                const retryAt = retries.get(e.key);
                const name = e.displayName ?? e.deviceId ?? e.key;
                return html`<tr>
                  <td class="wrap"><a href="/devices/${encodeURIComponent(e.key)}">${name}</a></td>
                  <td class="mono">${e.deviceId ?? '—'}</td>
                  <td class="wrap"><span class="mono">${e.code}</span>: ${e.message}</td>
                  <td class="num">${e.attempts}</td>
                  <td>
                    ${timeText(e.firstSeen)}<br /><span class="muted">last ${ageText(e.lastSeen)}</span>
                  </td>
                  <td>
                    <form method="post" action="/quarantine/retry" class="inline">
                      <input type="hidden" name="_csrf" value="${csrf}" />
                      <input type="hidden" name="key" value="${formKey(e.key)}" />
                      <button type="submit" aria-label="${`Retry ${name}`}">Retry</button>
                    </form>
                    ${retryAt ? html`<div class="muted">retry requested ${ageText(retryAt)}</div>` : ''}
                  </td>
                </tr>`;
              })}
            </tbody>
          </table>`
    }`;
  return { title: 'Quarantine', body };
}
