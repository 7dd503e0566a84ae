// Checks: runs the same checks as `device-writeback check` (SPEC §4) on demand and shows the table
// with what each saw and the fix.
import type { CheckStatus } from '../../checks/types.js';
import type { ConsoleContext } from '../context.js';
import { ageText, durationText, timeText } from '../format.js';
import { badge, html, type SafeHtml } from '../html.js';

export function checksPage(ctx: ConsoleContext, csrf: string): { title: string; body: SafeHtml } {
  const last = ctx.checks.last;
  const report = last?.report;
  const count = (s: CheckStatus): number => report?.checks.filter((c) => c.status === s).length ?? 0;
  const body = html` <h1>Checks</h1>
    <p>
      The prerequisites of device writeback, as <span class="mono">device-writeback check</span> verifies
      them: the AD schema, the Device Registration Service object, the device container, the connector's
      rights, Entra ID and the state store.
    </p>
    <form method="post" action="/checks" class="inline">
      <input type="hidden" name="_csrf" value="${csrf}" />
      <button type="submit">${report ? 'Run the checks again' : 'Run the checks'}</button>
    </form>
    ${ctx.checks.running ? html`<p class="notice" role="status">The checks are running…</p>` : ''}
    ${
      !last
        ? html`<p class="muted">The checks have not run in this process yet.</p>`
        : last.error
          ? html`<p class="error">The checks could not run: ${last.error}</p>`
          : report
            ? html`<p role="status">
                  ${report.ok ? 'Nothing failed' : 'Some checks failed'}: ${count('pass')} passed,
                  ${count('warn')} warning${count('warn') === 1 ? '' : 's'}, ${count('fail')} failed,
                  ${count('skip')} skipped — run ${ageText(last.startedAt)} (${timeText(last.startedAt)}),
                  took ${durationText(last.durationMs)}.
                </p>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Result</th>
                      <th scope="col">Check</th>
                      <th scope="col">What it saw</th>
                      <th scope="col">Fix</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${report.checks.map(
                      (c) =>
                        html`<tr>
                          <td>${badge(c.status)}</td>
                          <td><span class="mono">${c.id}</span><br />${c.title}</td>
                          <td class="wrap">${c.detail}</td>
                          <td class="wrap">${c.fix || html`<span class="muted">—</span>`}</td>
                        </tr>`,
                    )}
                  </tbody>
                </table>`
            : ''
    }`;
  return { title: 'Checks', body };
}
