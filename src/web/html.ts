// Server-side HTML: a tagged template that escapes every interpolated value (display names come
// from Entra ID and may be hostile: markup is escaped, and control characters and bidirectional
// overrides are shown as \u001b, \u202e), the page layout with its navigation, and small helpers.
// Only values wrapped in SafeHtml (built by this template) are inserted as they are. A value a form
// posts back unchanged (a device key) travels percent-encoded (formKey), so that it stays exact.
import { escapeUnsafe } from '../util/safe-text.js';

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Interpolation = SafeHtml | string | number | boolean | null | undefined | readonly Interpolation[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Text as HTML: markup escaped, and every character that could deceive the reader shown escaped. */
export function escapeHtml(text: string): string {
  return escapeUnsafe(text).replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** html`<p>${untrusted}</p>`: every value escaped, SafeHtml and arrays of it kept. */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

/** A key in a hidden form field: percent-encoded, so that no character is shown or changed. */
export function formKey(key: string): string {
  return encodeURIComponent(key);
}

/** The key a form posted (see formKey); a value that is not percent-encoded is taken as it is. */
export function postedKey(value: string | undefined): string {
  try {
    return decodeURIComponent(value ?? '');
  } catch {
    return value ?? '';
  }
}

/** Builds a URL path with a query string from non-empty parameters (values encoded). */
export function href(path: string, params: Record<string, string | number | undefined | null> = {}): string {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') query.set(k, String(v));
  const qs = query.toString();
  return qs ? `${path}?${qs}` : path;
}

export type Section = 'overview' | 'devices' | 'checks' | 'runs' | 'quarantine' | 'login' | 'none';

const NAV: { section: Section; path: string; label: string }[] = [
  { section: 'overview', path: '/', label: 'Overview' },
  { section: 'devices', path: '/devices', label: 'Devices' },
  { section: 'quarantine', path: '/quarantine', label: 'Quarantine' },
  { section: 'runs', path: '/runs', label: 'Runs' },
  { section: 'checks', path: '/checks', label: 'Checks' },
];

export interface LayoutOptions {
  title: string;
  section: Section;
  body: SafeHtml;
  /** A short status line for screen readers and eyes (e.g. after an action). */
  notice?: string;
  /** Shown in the header: where the devices go. */
  container?: string;
  signedIn?: { csrf: string } | undefined;
}

export function layout(o: LayoutOptions): string {
  const nav = NAV.map(
    (n) =>
      html`<li>
        <a href="${n.path}" ${n.section === o.section ? new SafeHtml(' aria-current="page"') : ''}
          >${n.label}</a
        >
      </li>`,
  );
  return `<!doctype html>${html`<html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="color-scheme" content="light dark" />
      <title>${o.title} · device-writeback</title>
      <link rel="stylesheet" href="/assets/console.css" />
      <link rel="icon" href="/assets/favicon.svg" type="image/svg+xml" />
    </head>
    <body>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <div class="brand"><span aria-hidden="true" class="logo"></span> device-writeback</div>
        ${o.container ? html`<div class="container-dn" title="device container">${o.container}</div>` : ''}
        ${
          o.signedIn
            ? html`<form method="post" action="/logout" class="logout">
                <input type="hidden" name="_csrf" value="${o.signedIn.csrf}" /><button
                  type="submit"
                  class="link"
                >
                  Sign out
                </button>
              </form>`
            : ''
        }
      </header>
      <nav aria-label="Sections">
        <ul>
          ${o.section === 'login' ? '' : nav}
        </ul>
      </nav>
      <main id="main" tabindex="-1">
        ${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ''} ${o.body}
      </main>
      <footer>Served by device-writeback on this host; no external resources are loaded.</footer>
    </body>
  </html>`}`;
}

/** A status word as a badge, with text (never colour alone). */
export function badge(kind: string, label?: string): SafeHtml {
  return html`<span class="badge badge-${kind.replace(/[^a-z0-9-]/gi, '')}">${label ?? kind}</span>`;
}
