// Runs: the history the engine records (mode, outcome, counts, duration), and one run's errors.
import type { ConsoleContext } from '../context.js';
import { durationText, timeText } from '../format.js';
import { badge, html, type SafeHtml } from '../html.js';

export async function runsPage(ctx: ConsoleContext): Promise<{ title: string; body: SafeHtml }> {
  const runs = await ctx.store.recentRuns(100);
  const errorCounts =
    runs.length > 0 ? await ctx.store.runErrorCounts(runs[runs.length - 1]!.id) : new Map<number, number>();
  const body = html` <h1>Runs</h1>
    ${
      runs.length === 0
        ? html`<p class="muted">No run recorded yet.</p>`
        : html`<table>
            <caption>
              The last ${runs.length} runs, newest first (sync and run both record here)
            </caption>
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Started</th>
                <th scope="col">Mode</th>
                <th scope="col">Outcome</th>
                <th scope="col" class="num">Created</th>
                <th scope="col" class="num">Updated</th>
                <th scope="col" class="num">Deleted</th>
                <th scope="col" class="num">Unchanged</th>
                <th scope="col" class="num">Quarantined</th>
                <th scope="col" class="num">Duration</th>
                <th scope="col">Errors</th>
              </tr>
            </thead>
            <tbody>
              ${runs.map(
                (r) =>
                  html`<tr>
                    <td><a href="/runs/${r.id}">#${r.id}</a></td>
                    <td>${timeText(r.startedAt)}</td>
                    <td>${r.mode}${r.dryRun ? ' (dry run)' : ''}</td>
                    <td>${badge(r.outcome)}</td>
                    <td class="num">${r.created}</td>
                    <td class="num">${r.updated}</td>
                    <td class="num">${r.deleted}</td>
                    <td class="num">${r.unchanged}</td>
                    <td class="num">${r.quarantined}</td>
                    <td class="num">${durationText(r.durationMs)}</td>
                    <td class="wrap">
                      ${errorCounts.get(r.id) ? html`<a href="/runs/${r.id}">${errorCounts.get(r.id)} device error${errorCounts.get(r.id) === 1 ? '' : 's'}</a>` : ''}${r.error ? html` ${r.error}` : ''}
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }`;
  return { title: 'Runs', body };
}

export async function runPage(
  ctx: ConsoleContext,
  id: number,
): Promise<{ title: string; body: SafeHtml; status: number }> {
  const record = await ctx.store.getRun(id);
  if (!record)
    return {
      title: 'Run not found',
      status: 404,
      body: html`<h1>Run not found</h1>
        <p><a href="/runs">Back to the runs</a></p>`,
    };
  const errors = await ctx.store.runErrors(id);
  const body = html` <p><a href="/runs">← Runs</a></p>
    <h1>Run #${id} ${badge(record.outcome)}</h1>
    <dl class="facts">
      <dt>Started</dt>
      <dd>${timeText(record.startedAt)}</dd>
      <dt>Finished</dt>
      <dd>${timeText(record.finishedAt)}</dd>
      <dt>Mode</dt>
      <dd>${record.mode}${record.dryRun ? ' (dry run)' : ''}</dd>
      <dt>Counts</dt>
      <dd>
        ${record.created} created, ${record.updated} updated, ${record.deleted} deleted, ${record.unchanged}
        unchanged, ${record.quarantined} quarantined
      </dd>
      <dt>Duration</dt>
      <dd>${durationText(record.durationMs)}</dd>
      ${
        record.error
          ? html`<dt>Error</dt>
              <dd>${record.error}</dd>`
          : ''
      }
    </dl>
    <h2>Device errors</h2>
    ${
      errors.length === 0
        ? html`<p class="muted">None.</p>`
        : html`<table>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Code</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              ${errors.map(
                (e) =>
                  html`<tr>
                    <td>
                      ${e.deviceId ? html`<a class="mono" href="/devices/${encodeURIComponent(e.deviceId)}">${e.deviceId}</a>` : '—'}
                    </td>
                    <td class="mono">${e.code}</td>
                    <td class="wrap">${e.message}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }`;
  return { title: `Run #${id}`, body, status: 200 };
}
