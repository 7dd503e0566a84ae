// The web console of `run` (Fastify, server-rendered HTML, no script): Overview, Devices, Device,
// Quarantine, Runs and Checks, plus /metrics (Prometheus) and /healthz. Every page and response is
// escaped and passed through the central secret redactor; see security.ts for who may use it.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { runChecks as defaultRunChecks } from '../checks/index.js';
import { causeText, DwbError } from '../errors.js';
import { logger, redactText } from '../log.js';
import type { WritebackService } from '../sync/service.js';
import { escapeUnsafeJson } from '../util/safe-text.js';
import { CONSOLE_CSS, FAVICON_SVG } from './assets.js';
import type { ConsoleContext } from './context.js';
import { DeviceIndex } from './device-index.js';
import { html, layout, postedKey, type Section, type SafeHtml } from './html.js';
import { WritebackMetrics } from './metrics.js';
import { checksPage } from './pages/checks.js';
import { devicePage } from './pages/device.js';
import { devicesPage, type DevicesParams } from './pages/devices.js';
import { overviewPage } from './pages/overview.js';
import { quarantinePage } from './pages/quarantine.js';
import { runPage, runsPage } from './pages/runs.js';
import { assertListenAllowed, ConsoleGuard } from './security.js';
import { SignInThrottle } from './sign-in-throttle.js';

export interface ConsoleOptions {
  service: WritebackService;
  /** host:port; port 0 picks a free one. */
  listen: string;
  /** The metrics the session's observers feed (a new registry otherwise). */
  metrics?: WritebackMetrics;
  /** Overrides config.web.token; null: no token (tests). */
  token?: string | null;
  runChecks?: ConsoleContext['runChecks'];
}

export interface RunningConsole {
  url: string;
  app: FastifyInstance;
  index: DeviceIndex;
  metrics: WritebackMetrics;
  close(): Promise<void>;
}

const NOTICES: Record<string, string> = {
  run: 'A cycle was requested: it starts as soon as the current one (if any) ends.',
  'run-forwarded':
    'This instance is a standby: the request for a cycle was passed to the leader, which starts one at its next renewal (within a second or two).',
  retry: 'Retry requested: the device is tried again in the cycle that starts now.',
  'retry-gone': 'That device is no longer in quarantine.',
  checks: 'The checks have run.',
  'signed-out': 'Signed out.',
  approved: 'The held deletions are approved: the cycle that starts now makes them.',
};

type Form = Record<string, string | undefined>;

/** A same-site path to go back to after an action (never an absolute or protocol-relative URL). */
function localPath(value: string | undefined, fallback: string): string {
  if (
    !value ||
    !value.startsWith('/') ||
    value.startsWith('//') ||
    value.includes('\\') ||
    /[\r\n]/.test(value)
  )
    return fallback;
  return value;
}

function healthBody(service: WritebackService): { status: number; body: Record<string, unknown> } {
  const h = service.health();
  const c = h.lastCycle;
  return {
    status: h.healthy ? 200 : 503,
    body: {
      status: h.healthy ? 'ok' : 'unhealthy',
      reason: h.reason,
      role: h.role,
      leader: h.leader
        ? { host: h.leader.host, pid: h.leader.pid, command: h.leader.command, epoch: h.leader.epoch }
        : null,
      connected: h.connected,
      running: h.running,
      lastCycle: c
        ? {
            startedAt: c.startedAt,
            finishedAt: c.finishedAt,
            ok: c.ok,
            ...(c.summary
              ? {
                  mode: c.summary.mode,
                  quarantined: c.summary.quarantined,
                  thresholdStopped: c.summary.thresholdStopped,
                }
              : {}),
            ...(c.error ? { error: c.error.code } : {}),
          }
        : null,
      lastSuccessAt: h.lastSuccessAt,
      nextRunAt: h.nextRunAt,
      forests: h.forests,
    },
  };
}

/** The device container(s) the console's header names. */
function containerLine(service: WritebackService): string {
  const forests = service.session?.forests ?? [];
  if (forests.length === 0) return 'not connected to the forest yet';
  const several = service.config.severalForests;
  return forests
    .map((f) => `${f.reached?.container.containerDn ?? 'not reached yet'}${several ? ` (${f.name})` : ''}`)
    .join('; ');
}

export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const { service } = options;
  const config = service.config;
  const token = options.token === null ? undefined : (options.token ?? config.web.token?.reveal());
  const address = assertListenAllowed(options.listen, token);
  const guard = new ConsoleGuard(token, address);
  const signIns = new SignInThrottle();
  const metrics = options.metrics ?? new WritebackMetrics();
  metrics.bind({ store: service.store, health: () => service.health() });
  const index = new DeviceIndex(service.store);
  await index.warm();
  const ctx: ConsoleContext = {
    service,
    store: service.store,
    config,
    index,
    metrics,
    runChecks: options.runChecks ?? defaultRunChecks,
    checks: {},
  };
  service.onCycle((cycle) => {
    // A cycle that changed nothing leaves the index as it is (pages refresh it on demand anyway);
    // this keeps an idle service's cost per cycle flat however many devices there are.
    const s = cycle.summary;
    if (s && s.mode === 'delta' && s.created + s.updated + s.deleted + s.quarantined === 0) return;
    index.warm().catch((err: unknown) => {
      logger().warn({ cause: causeText(err) }, 'the console could not refresh its device index');
    });
  });

  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, return503OnClosing: true });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });

  const send = (
    req: FastifyRequest,
    reply: FastifyReply,
    section: Section,
    page: { title: string; body: SafeHtml; status?: number },
  ): FastifyReply => {
    const notice = NOTICES[String((req.query as Record<string, unknown> | undefined)?.notice ?? '')];
    const signedIn = guard.tokenRequired && guard.session(req) ? { csrf: guard.csrfToken(req) } : undefined;
    return reply
      .code(page.status ?? 200)
      .type('text/html; charset=utf-8')
      .send(
        layout({
          title: page.title,
          section,
          body: page.body,
          notice,
          container: containerLine(service),
          signedIn,
        }),
      );
  };
  const refuse = (
    req: FastifyRequest,
    reply: FastifyReply,
    status: number,
    title: string,
    message: string,
  ): FastifyReply =>
    send(req, reply, 'none', {
      title,
      status,
      body: html`<h1>${title}</h1>
        <p class="error">${message}</p>
        <p><a href="/">Back to the overview</a></p>`,
    });

  const OPEN = new Set(['/healthz', '/login', '/assets/console.css', '/assets/favicon.svg']);
  app.addHook('onRequest', async (req, reply) => {
    const problem = guard.hostProblem(req);
    if (problem)
      return reply.code(421).type('text/plain; charset=utf-8').send(`Misdirected request: ${problem}.\n`);
    const path = req.url.split('?')[0] ?? '/';
    if (OPEN.has(path) || guard.authenticated(req)) return;
    if (req.method === 'GET' && path !== '/metrics') {
      return reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 303);
    }
    return reply
      .code(401)
      .header('WWW-Authenticate', 'Bearer realm="device-writeback"')
      .type('text/plain; charset=utf-8')
      .send('This console needs web.token: send "Authorization: Bearer <token>" or sign in at /login.\n');
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'same-origin'); // 'no-referrer' would make browsers send Origin: null on our own forms
    reply.header('X-Frame-Options', 'DENY');
    reply.header(
      'Content-Security-Policy',
      "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    if (!reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
    // Defence in depth: no registered secret (AD password, client secret, web token) leaves the process.
    if (typeof payload !== 'string') return payload;
    const text = redactText(payload);
    // JSON (/healthz, whose reason carries the DC's or Graph's message) is often read with curl on
    // a terminal: the characters JSON leaves raw are escaped as in `--json` output (same value parsed).
    return /json/i.test(String(reply.getHeader('content-type') ?? '')) ? escapeUnsafeJson(text) : text;
  });
  app.setNotFoundHandler((req, reply) =>
    refuse(req, reply, 404, 'Not found', `Nothing at ${req.url.split('?')[0]}.`),
  );
  app.setErrorHandler((err, req, reply) => {
    const status =
      typeof (err as { statusCode?: unknown }).statusCode === 'number'
        ? (err as { statusCode: number }).statusCode
        : 500;
    if (status >= 500)
      logger().error({ cause: causeText(err), url: req.url.split('?')[0] }, 'console request failed');
    return refuse(req, reply, status, status >= 500 ? 'Something went wrong' : 'Bad request', causeText(err));
  });

  const action = (req: FastifyRequest, reply: FastifyReply): Form | undefined => {
    const form = (req.body ?? {}) as Form;
    const problem = guard.actionProblem(req, form._csrf);
    if (problem) {
      refuse(req, reply, 403, 'Refused', problem);
      return undefined;
    }
    return form;
  };

  app.get('/assets/console.css', (_req, reply) =>
    reply.header('Cache-Control', 'public, max-age=3600').type('text/css; charset=utf-8').send(CONSOLE_CSS),
  );
  app.get('/assets/favicon.svg', (_req, reply) =>
    reply.header('Cache-Control', 'public, max-age=86400').type('image/svg+xml').send(FAVICON_SVG),
  );

  app.get('/healthz', (_req, reply) => {
    const h = healthBody(service);
    return reply.code(h.status).send(h.body);
  });
  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()));

  app.get('/', async (req, reply) =>
    send(req, reply, 'overview', await overviewPage(ctx, guard.csrfToken(req))),
  );
  app.get('/devices', async (req, reply) =>
    send(req, reply, 'devices', await devicesPage(ctx, req.query as DevicesParams)),
  );
  app.get('/devices/:key', async (req, reply) => {
    const { key } = req.params as { key: string };
    const page = await devicePage(ctx, key, req.query as { user?: string }, guard.csrfToken(req));
    return send(req, reply, 'devices', page);
  });
  app.get('/quarantine', async (req, reply) =>
    send(req, reply, 'quarantine', await quarantinePage(ctx, guard.csrfToken(req))),
  );
  app.get('/runs', async (req, reply) => send(req, reply, 'runs', await runsPage(ctx)));
  app.get('/runs/:id', async (req, reply) =>
    send(req, reply, 'runs', await runPage(ctx, Number((req.params as { id: string }).id))),
  );
  app.get('/checks', (req, reply) => send(req, reply, 'checks', checksPage(ctx, guard.csrfToken(req))));

  app.post('/deletions/approve', async (req, reply) => {
    if (!action(req, reply)) return reply;
    const released = await service.store.approveDeletions();
    logger().info({ released: released.length }, 'held deletions approved in the console');
    service.requestRun();
    return reply.redirect('/?notice=approved', 303);
  });
  app.post('/run', (req, reply) => {
    if (!action(req, reply)) return reply;
    service.requestRun();
    return reply.redirect(`/?notice=${service.health().role === 'standby' ? 'run-forwarded' : 'run'}`, 303);
  });
  app.post('/quarantine/retry', async (req, reply) => {
    const form = action(req, reply);
    if (!form) return reply;
    const key = postedKey(form.key);
    const marked = await service.store.requestRetry(key);
    if (marked) service.requestRun();
    const back = localPath(form.back, '/quarantine');
    return reply.redirect(
      `${back}${back.includes('?') ? '&' : '?'}notice=${marked ? 'retry' : 'retry-gone'}`,
      303,
    );
  });
  app.post('/checks', async (req, reply) => {
    if (!action(req, reply)) return reply;
    if (!ctx.checks.running) {
      const startedAt = new Date().toISOString();
      const started = Date.now();
      ctx.checks.running = ctx
        .runChecks(config)
        .then(
          (report) => {
            ctx.checks.last = { startedAt, durationMs: Date.now() - started, report };
          },
          (err: unknown) => {
            ctx.checks.last = { startedAt, durationMs: Date.now() - started, error: causeText(err) };
          },
        )
        .finally(() => {
          ctx.checks.running = undefined;
        });
    }
    await ctx.checks.running;
    return reply.redirect('/checks?notice=checks', 303);
  });

  const signInPage = (
    req: FastifyRequest,
    reply: FastifyReply,
    next: string,
    problem: { status: number; message: string } | undefined,
  ): FastifyReply =>
    send(req, reply, 'login', {
      title: 'Sign in',
      status: problem?.status ?? 200,
      body: html`<h1>Sign in</h1>
        <p>This console is protected by the access token of <span class="mono">web.token</span>.</p>
        ${problem ? html`<p class="error" role="alert">${problem.message}</p>` : ''}
        <form method="post" action="/login" class="stack">
          <input type="hidden" name="_csrf" value="${guard.csrfToken(req)}" />
          <input type="hidden" name="next" value="${next}" />
          <label for="token"
            >Access token
            <input id="token" name="token" type="password" autocomplete="current-password" required autofocus
          /></label>
          <p><button type="submit">Sign in</button></p>
        </form>`,
    });
  const tooMany = (req: FastifyRequest, reply: FastifyReply, next: string, waitMs: number): FastifyReply => {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    reply.header('Retry-After', String(seconds));
    return signInPage(req, reply, next, {
      status: 429,
      message: `Too many wrong tokens from your address: wait ${seconds} s before the next try.`,
    });
  };
  app.get('/login', (req, reply) => {
    if (!guard.tokenRequired) return reply.redirect('/', 303);
    const next = localPath(String((req.query as Record<string, unknown>).next ?? ''), '/');
    const failed = (req.query as Record<string, unknown>).failed !== undefined;
    const wait = signIns.waitMs(req.ip);
    if (wait > 0) return tooMany(req, reply, next, wait);
    return signInPage(
      req,
      reply,
      next,
      failed ? { status: 401, message: 'That token is not right.' } : undefined,
    );
  });
  app.post('/login', async (req, reply) => {
    const form = action(req, reply);
    if (!form) return reply;
    const next = localPath(form.next, '/');
    // A client that must wait is not even checked: parallel guesses gain nothing.
    const wait = signIns.waitMs(req.ip);
    if (wait > 0) return tooMany(req, reply, next, wait);
    const id = guard.signIn(form.token ?? '');
    if (!id) {
      signIns.failed(req.ip);
      await new Promise((r) => setTimeout(r, 400)); // and every guess costs the guesser time
      return reply.redirect(`/login?failed=1&next=${encodeURIComponent(next)}`, 303);
    }
    signIns.succeeded(req.ip);
    return reply.header('Set-Cookie', guard.sessionCookie(id)).redirect(next, 303);
  });
  app.post('/logout', (req, reply) => {
    if (!action(req, reply)) return reply;
    guard.signOut(req);
    return reply
      .header('Set-Cookie', guard.clearCookie())
      .redirect(guard.tokenRequired ? '/login?notice=signed-out' : '/', 303);
  });

  try {
    await app.listen({ host: address.host, port: address.port });
  } catch (err) {
    throw new DwbError(
      'DWB_WEB_LISTEN_FAILED',
      `the console cannot listen on ${options.listen}: ${causeText(err)}.`,
      { cause: err },
    );
  }
  const bound = app.server.address();
  const port = typeof bound === 'object' && bound ? bound.port : address.port;
  const url = `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${port}`;
  return {
    url,
    app,
    index,
    metrics,
    close: async () => {
      await app.close();
    },
  };
}
