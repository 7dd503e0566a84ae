// The console's only static assets, served by the product itself (no CDN, works offline): one
// stylesheet and one icon. No script: every page works with the keyboard and without JavaScript.

export const CONSOLE_CSS = `
:root {
  --bg: #f6f7f9; --fg: #1b1f24; --muted: #57606a; --card: #ffffff; --line: #d0d7de;
  --accent: #0b5cad; --ok: #116329; --ok-bg: #dafbe1; --warn: #7d4e00; --warn-bg: #fff8c5;
  --bad: #a40e26; --bad-bg: #ffebe9; --info-bg: #ddf4ff; --diff-bg: #fff1e5; --focus: #fd8c00;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  font-size: 15px; line-height: 1.45; color: var(--fg); background: var(--bg);
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #9da7b3; --card: #161b22; --line: #30363d;
    --accent: #58a6ff; --ok: #3fb950; --ok-bg: #12261e; --warn: #d29922; --warn-bg: #2b2111;
    --bad: #ff7b72; --bad-bg: #2d1214; --info-bg: #0c2d4a; --diff-bg: #33200d;
  }
}
* { box-sizing: border-box; }
body { margin: 0; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: var(--card); padding: .5em 1em; }
.skip:focus { left: .5em; z-index: 10; }
header.top { display: flex; align-items: center; gap: 1.5em; padding: .6em 1.5em; background: #0b2540; color: #fff; }
header.top .brand { font-weight: 700; font-size: 1.1em; display: flex; align-items: center; gap: .5em; }
header.top .logo { width: 1.1em; height: 1.1em; border-radius: 3px; background: linear-gradient(135deg, #4aa3ff, #0b5cad); display: inline-block; }
header.top .container-dn { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85em; opacity: .85; overflow-wrap: anywhere; }
header.top .logout { margin-left: auto; }
header.top .link { color: #fff; }
nav ul { list-style: none; margin: 0; padding: 0 1.5em; display: flex; gap: .25em; background: var(--card); border-bottom: 1px solid var(--line); flex-wrap: wrap; }
nav a { display: inline-block; padding: .65em .9em; text-decoration: none; color: var(--fg); border-bottom: 3px solid transparent; }
nav a[aria-current="page"] { border-bottom-color: var(--accent); font-weight: 600; }
main { padding: 1.25em 1.5em 3em; max-width: 1400px; }
main:focus { outline: none; }
footer { padding: 1em 1.5em; color: var(--muted); font-size: .85em; }
h1 { font-size: 1.45em; margin: .2em 0 .6em; overflow-wrap: anywhere; }
h2 { font-size: 1.15em; margin: 1.6em 0 .6em; }
.muted { color: var(--muted); }
.mono, code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .92em; overflow-wrap: anywhere; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: .8em; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .8em 1em; }
.card .label { color: var(--muted); font-size: .85em; }
.card .value { font-size: 1.6em; font-weight: 650; }
.card a { text-decoration: none; color: inherit; }
.health { border-radius: 8px; padding: .9em 1.1em; border: 1px solid var(--line); margin-bottom: 1em; }
.health.ok { background: var(--ok-bg); border-color: var(--ok); }
.health.bad { background: var(--bad-bg); border-color: var(--bad); }
.health strong { font-size: 1.1em; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3em 1.2em; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line); }
caption { text-align: left; padding: .4em 0; color: var(--muted); caption-side: top; }
th, td { text-align: left; padding: .45em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; background: var(--bg); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { overflow-wrap: anywhere; max-width: 38em; }
tr.diff td { background: var(--diff-bg); }
tr.diff td:first-child { box-shadow: inset 4px 0 0 var(--warn); }
.badge { display: inline-block; padding: .05em .55em; border-radius: 999px; font-size: .82em; font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.badge-managed, .badge-pass, .badge-ok, .badge-same, .badge-yes, .badge-leader { color: var(--ok); }
.badge-unmanaged, .badge-skip, .badge-not-written, .badge-unknown, .badge-standby { color: var(--muted); }
.badge-quarantined, .badge-fail, .badge-failed, .badge-no, .badge-threshold { color: var(--bad); }
.badge-warn, .badge-differs, .badge-missing, .badge-running, .badge-interrupted { color: var(--warn); }
form.filters { display: flex; flex-wrap: wrap; gap: .8em 1em; align-items: flex-end; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .8em 1em; margin-bottom: 1em; }
form.filters label, form.stack label { display: flex; flex-direction: column; gap: .2em; font-size: .88em; color: var(--muted); }
input, select, button { font: inherit; color: var(--fg); background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .35em .55em; }
input[type="search"] { min-width: 18em; }
button, .button { cursor: pointer; background: var(--accent); color: #fff; border-color: var(--accent); padding: .4em .9em; text-decoration: none; display: inline-block; border-radius: 6px; }
button.secondary { background: var(--card); color: var(--accent); }
button.link { background: none; border: none; text-decoration: underline; padding: 0; }
form.inline { display: inline; margin: 0; }
.pager { display: flex; gap: 1em; align-items: center; margin: .8em 0; }
.notice { background: var(--info-bg); border: 1px solid var(--accent); border-radius: 6px; padding: .5em .8em; }
.error { background: var(--bad-bg); border: 1px solid var(--bad); border-radius: 6px; padding: .5em .8em; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 1.2em; }
@media (max-width: 900px) { .two { grid-template-columns: 1fr; } }
`;

export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0b5cad"/><rect x="3" y="4" width="10" height="7" rx="1" fill="#fff"/><rect x="6" y="12" width="4" height="1.5" fill="#fff"/></svg>`;
