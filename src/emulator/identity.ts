// The slice of the Microsoft identity platform that a daemon app uses: OpenID metadata, signing
// keys, and the v2.0 token endpoint for the client credentials grant, with a client secret or a
// certificate (a signed client assertion, RFC 7523). Access tokens are RS256 JWTs shaped like
// Entra's app-only tokens (`roles`, `tid`, `appid`); Graph routes accept only tokens issued here.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  randomUUID,
  sign,
  timingSafeEqual,
  verify,
  X509Certificate,
  constants as cryptoConstants,
  type KeyObject,
} from 'node:crypto';
import { GraphError, IdentityError } from './errors.js';

export interface AppRegistration {
  tenantId: string;
  /** The tenant's initial domain, accepted in place of the tenant id (like contoso.onmicrosoft.com). */
  tenantDomain: string;
  clientId: string;
  clientSecret: string;
  displayName: string;
  /** Object id of the app's service principal (the `oid` of its tokens). */
  servicePrincipalId: string;
  /** PEM certificates registered as credentials of the app. */
  certificates: string[];
  /** Graph application permissions granted (with admin consent) to the app. */
  roles: string[];
}

export const MICROSOFT_GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const GRAPH_RESOURCE = 'https://graph.microsoft.com';
const TOKEN_LIFETIME_SECONDS = 3599;
/** Verified bearer tokens remembered (forgotten all at once beyond this; a client holds one at a time). */
const VERIFIED_TOKENS_KEPT = 256;
const CLOCK_SKEW_SECONDS = 300;

/** The claims Graph routes look at. */
export interface AccessTokenClaims {
  aud: string;
  iss: string;
  tid: string;
  appid: string;
  oid: string;
  roles: string[];
  exp: number;
  nbf: number;
  iat: number;
  /** Emulator-only: the access-token generation, to expire every token at once. */
  xms_emu_gen: number;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function decodeJwtPart<T>(part: string | undefined): T | undefined {
  if (!part) return undefined;
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

function constantTimeEquals(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right);
}

export class IdentityPlatform {
  /** Bumped to invalidate every access token issued so far. */
  accessTokenGeneration = 1;
  /** Bearer tokens whose signature was checked, with their claims (see verifySignature). */
  private readonly verifiedTokens = new Map<string, Readonly<AccessTokenClaims>>();
  tokensIssued = 0;
  private readonly signingKey: KeyObject;
  private readonly keyId: string;

  constructor(
    readonly app: AppRegistration,
    signingKeyPem: string,
  ) {
    this.signingKey = createPrivateKey(signingKeyPem);
    const spki = createPublicKey(this.signingKey).export({ type: 'spki', format: 'der' });
    this.keyId = createHash('sha1').update(spki).digest('base64url');
  }

  isKnownTenant(tenant: string): boolean {
    const t = tenant.toLowerCase();
    return t === this.app.tenantId.toLowerCase() || t === this.app.tenantDomain.toLowerCase();
  }

  /** `/{tenant}/v2.0/.well-known/openid-configuration`. */
  openIdConfiguration(origin: string): Record<string, unknown> {
    const base = `${origin}/${this.app.tenantId}`;
    const host = new URL(origin).host;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${origin}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: [
        'sub',
        'iss',
        'aud',
        'exp',
        'iat',
        'auth_time',
        'acr',
        'nonce',
        'tid',
        'ver',
        'oid',
        'roles',
      ],
      kerberos_endpoint: `${base}/kerberos`,
      tenant_region_scope: 'EU',
      cloud_instance_name: host,
      cloud_graph_host_name: host,
      msgraph_host: host,
      rbac_url: origin,
    };
  }

  /** `/{tenant}/discovery/v2.0/keys`. */
  jwks(): Record<string, unknown> {
    const jwk = createPublicKey(this.signingKey).export({ format: 'jwk' });
    return {
      keys: [
        {
          kty: 'RSA',
          use: 'sig',
          kid: this.keyId,
          n: jwk.n,
          e: jwk.e,
          issuer: `https://login.microsoftonline.com/${this.app.tenantId}/v2.0`,
        },
      ],
    };
  }

  /**
   * The token endpoint: client credentials with `client_secret` (body or HTTP Basic) or with a
   * `client_assertion` signed by a registered certificate. Throws IdentityError with the AADSTS
   * code the real service uses.
   */
  issueToken(
    tenant: string,
    form: URLSearchParams,
    authorization: string | undefined,
    origin: string,
  ): Record<string, unknown> {
    if (!this.isKnownTenant(tenant)) {
      throw new IdentityError(
        400,
        'invalid_request',
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      );
    }
    const grantType = form.get('grant_type');
    if (!grantType) {
      throw new IdentityError(
        400,
        'invalid_request',
        900144,
        "The request body must contain the following parameter: 'grant_type'.",
      );
    }
    if (grantType !== 'client_credentials') {
      throw new IdentityError(
        400,
        'unsupported_grant_type',
        70003,
        `The app requested an unsupported grant type '${grantType}'.`,
      );
    }

    let clientId = form.get('client_id') ?? undefined;
    let clientSecret = form.get('client_secret') ?? undefined;
    if (authorization?.toLowerCase().startsWith('basic ')) {
      const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        clientId ??= decodeURIComponent(decoded.slice(0, colon));
        clientSecret ??= decodeURIComponent(decoded.slice(colon + 1));
      }
    }
    if (!clientId) {
      throw new IdentityError(
        400,
        'invalid_request',
        900144,
        "The request body must contain the following parameter: 'client_id'.",
      );
    }
    if (clientId.toLowerCase() !== this.app.clientId.toLowerCase()) {
      throw new IdentityError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }

    const scope = form.get('scope');
    if (!scope) {
      throw new IdentityError(
        400,
        'invalid_request',
        900144,
        "The request body must contain the following parameter: 'scope'.",
      );
    }
    const audience = this.audienceFor(scope.trim(), origin);

    const assertion = form.get('client_assertion');
    let authMethod: '1' | '2';
    if (assertion) {
      const assertionType = form.get('client_assertion_type');
      if (assertionType !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
        throw new IdentityError(
          400,
          'invalid_request',
          50027,
          `Invalid client_assertion_type '${assertionType ?? ''}'.`,
        );
      }
      this.verifyClientAssertion(assertion, tenant);
      authMethod = '2';
    } else if (clientSecret !== undefined) {
      if (!constantTimeEquals(clientSecret, this.app.clientSecret)) {
        throw new IdentityError(
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${this.app.clientId}'.`,
        );
      }
      authMethod = '1';
    } else {
      throw new IdentityError(
        401,
        'invalid_client',
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
    }

    const now = Math.floor(Date.now() / 1000);
    const claims = {
      aud: audience,
      iss: `https://sts.windows.net/${this.app.tenantId}/`,
      iat: now,
      nbf: now,
      exp: now + TOKEN_LIFETIME_SECONDS,
      aio: base64url(randomUUID()),
      app_displayname: this.app.displayName,
      appid: this.app.clientId,
      appidacr: authMethod,
      idp: `https://sts.windows.net/${this.app.tenantId}/`,
      idtyp: 'app',
      oid: this.app.servicePrincipalId,
      rh: base64url(randomUUID()),
      roles: [...this.app.roles],
      sub: this.app.servicePrincipalId,
      tid: this.app.tenantId,
      uti: base64url(randomUUID()).slice(0, 22),
      ver: '1.0',
      xms_emu_gen: this.accessTokenGeneration,
    };
    this.tokensIssued++;
    return {
      token_type: 'Bearer',
      expires_in: TOKEN_LIFETIME_SECONDS,
      ext_expires_in: TOKEN_LIFETIME_SECONDS,
      access_token: this.signJwt(claims),
    };
  }

  /** Checks a bearer token on a Graph request; throws Graph's 401. Returns its claims. */
  authenticate(authorization: string | undefined): AccessTokenClaims {
    const unauthorized = (message: string): GraphError =>
      new GraphError(401, 'InvalidAuthenticationToken', message, {
        'WWW-Authenticate': `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="${MICROSOFT_GRAPH_APP_ID}"`,
      });
    if (!authorization || !/^bearer\s+\S/i.test(authorization)) throw unauthorized('Access token is empty.');
    const token = authorization.replace(/^bearer\s+/i, '').trim();
    const claims = this.verifiedTokens.get(token) ?? this.verifySignature(token, unauthorized);
    if (claims.tid !== this.app.tenantId)
      throw unauthorized('Access token validation failure. Invalid issuer.');
    const now = Math.floor(Date.now() / 1000);
    if (claims.exp <= now || claims.xms_emu_gen !== this.accessTokenGeneration) {
      throw unauthorized('Lifetime validation failed, the token is expired.');
    }
    if (claims.nbf > now + CLOCK_SKEW_SECONDS)
      throw unauthorized('Lifetime validation failed, the token is not yet valid.');
    return claims;
  }

  /**
   * Decodes a bearer token and checks its signature; remembers it, so that the requests of a
   * `$batch` and a client's next requests with the same token are not verified again (an RSA
   * verification per request was most of the emulator's CPU). The claims are still judged on
   * every request.
   */
  private verifySignature(token: string, unauthorized: (message: string) => GraphError): AccessTokenClaims {
    const [headerPart, payloadPart, signaturePart] = token.split('.');
    const header = decodeJwtPart<{ alg?: string; kid?: string }>(headerPart);
    const claims = decodeJwtPart<AccessTokenClaims>(payloadPart);
    if (!header || !claims || !signaturePart)
      throw unauthorized('CompactToken parsing failed with error code: 80049217');
    const signedPart = `${headerPart}.${payloadPart}`;
    const valid =
      header.alg === 'RS256' &&
      verify('sha256', Buffer.from(signedPart), this.signingKey, Buffer.from(signaturePart, 'base64url'));
    if (!valid) throw unauthorized('Access token validation failure. Invalid signature.');
    if (this.verifiedTokens.size >= VERIFIED_TOKENS_KEPT) this.verifiedTokens.clear();
    this.verifiedTokens.set(token, claims);
    return claims;
  }

  expireAccessTokens(): void {
    this.accessTokenGeneration++;
  }

  /** `https://graph.microsoft.com/.default` or `<emulator origin>/.default`; anything else is an unknown resource. */
  private audienceFor(scope: string, origin: string): string {
    const scopes = scope.split(/\s+/);
    const resourceScope = scopes.find((s) => s.endsWith('/.default'));
    if (!resourceScope || scopes.length !== 1) {
      throw new IdentityError(
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    }
    const resource = resourceScope.slice(0, -'/.default'.length).replace(/\/$/, '');
    const accepted = new Set([GRAPH_RESOURCE, MICROSOFT_GRAPH_APP_ID, origin.replace(/\/$/, '')]);
    const lower = resource.toLowerCase();
    for (const candidate of accepted) if (candidate.toLowerCase() === lower) return resource;
    // Any loopback origin (a client may reach the emulator as localhost or 127.0.0.1).
    try {
      const url = new URL(resource);
      if (url.protocol === 'https:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname))
        return resource;
    } catch {
      // not a URL: unknown resource below
    }
    throw new IdentityError(
      400,
      'invalid_resource',
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${this.app.tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
    );
  }

  private verifyClientAssertion(assertion: string, tenant: string): void {
    const fail = (aadsts: number, message: string): IdentityError =>
      new IdentityError(401, 'invalid_client', aadsts, message);
    const [headerPart, payloadPart, signaturePart] = assertion.split('.');
    const header = decodeJwtPart<{ alg?: string; x5t?: string; 'x5t#S256'?: string }>(headerPart);
    const claims = decodeJwtPart<{ aud?: string; iss?: string; sub?: string; exp?: number; nbf?: number }>(
      payloadPart,
    );
    if (!header || !claims || !signaturePart) throw fail(50027, 'JWT token is invalid or malformed.');

    const certificates = this.app.certificates.map((pem) => new X509Certificate(pem));
    const certificate = certificates.find((cert) => {
      if (header['x5t#S256'])
        return createHash('sha256').update(cert.raw).digest('base64url') === header['x5t#S256'];
      if (header.x5t) return createHash('sha1').update(cert.raw).digest('base64url') === header.x5t;
      return false;
    });
    const thumbprint = header['x5t#S256'] ?? header.x5t ?? '';
    if (!certificate) {
      throw fail(
        700027,
        `Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprint}']`,
      );
    }
    const data = Buffer.from(`${headerPart}.${payloadPart}`);
    const signature = Buffer.from(signaturePart, 'base64url');
    let valid = false;
    if (header.alg === 'RS256') valid = verify('sha256', data, certificate.publicKey, signature);
    else if (header.alg === 'PS256') {
      valid = verify(
        'sha256',
        data,
        {
          key: certificate.publicKey,
          padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
          saltLength: cryptoConstants.RSA_PSS_SALTLEN_AUTO,
        },
        signature,
      );
    }
    if (!valid) {
      throw fail(
        700027,
        `Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${thumbprint}']`,
      );
    }
    if (claims.iss !== this.app.clientId || claims.sub !== this.app.clientId) {
      throw fail(700021, "Client assertion application identifier doesn't match 'client_id' parameter.");
    }
    const expectedPath = `/${tenant}/oauth2/v2.0/token`.toLowerCase();
    let audiencePath = '';
    try {
      audiencePath = new URL(claims.aud ?? '').pathname.toLowerCase();
    } catch {
      audiencePath = '';
    }
    if (
      audiencePath !== expectedPath &&
      audiencePath !== `/${this.app.tenantId}/oauth2/v2.0/token`.toLowerCase()
    ) {
      throw fail(
        700016,
        `The client assertion audience '${claims.aud ?? ''}' is not the token endpoint of tenant '${tenant}'.`,
      );
    }
    const now = Math.floor(Date.now() / 1000);
    if (
      typeof claims.exp !== 'number' ||
      claims.exp < now - CLOCK_SKEW_SECONDS ||
      (claims.nbf ?? 0) > now + CLOCK_SKEW_SECONDS
    ) {
      throw fail(700024, 'Client assertion is not within its valid time range.');
    }
  }

  private signJwt(claims: Record<string, unknown>): string {
    const header = { typ: 'JWT', alg: 'RS256', x5t: this.keyId, kid: this.keyId };
    const signed = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    return `${signed}.${sign('sha256', Buffer.from(signed), this.signingKey).toString('base64url')}`;
  }
}

/** `https://<host>/common/discovery/instance`: what MSAL asks when instance discovery is on. */
export function instanceDiscovery(origin: string, tenant: string): Record<string, unknown> {
  const host = new URL(origin).host;
  return {
    tenant_discovery_endpoint: `${origin}/${tenant}/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  };
}
