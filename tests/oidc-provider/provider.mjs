// A real OpenID Connect provider (panva/oidc-provider, OpenID-certified) for vigie-oidc's
// integration test. Not for production: accounts are hard-coded and the login form asks for
// no password, because what the test exercises is the relying party, not the provider.
//
// Usage: node provider.mjs [PORT]   (or OIDC_PORT=...; 0, the default, picks a free port)
// Env:   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI (one confidential web client)
//        OIDC_HOST (default 127.0.0.1)
// Prints `listening <issuer>` on stdout once it accepts connections.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const required = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.mjs: ${name} must be set`);
    process.exit(2);
  }
  return value;
};

const clientId = required('OIDC_CLIENT_ID');
const clientSecret = required('OIDC_CLIENT_SECRET');
const redirectUri = required('OIDC_REDIRECT_URI');
const host = process.env.OIDC_HOST || '127.0.0.1';
const port = Number(process.argv[2] ?? process.env.OIDC_PORT ?? 0);

// The two accounts the test signs in as. acr values are agency-style assurance levels; amr values
// are RFC 8176 method references.
const ACCOUNTS = {
  'mfa-user': { amr: ['pwd', 'otp'], acr: 'eidas2', name: 'Mfa User' },
  'pwd-user': { amr: ['pwd'], acr: 'eidas1', name: 'Pwd User' },
};

// Fresh keys per run: nothing secret is committed, and the relying party must fetch the JWKS.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };

const server = createServer();

// Listen first so that port 0 works: the issuer is only known once the port is.
server.listen(port, host, () => {
  const { port: actualPort } = server.address();
  const issuer = `http://${host}:${actualPort}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    acrValues: ['eidas1', 'eidas2'],
    claims: {
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    features: {
      devInteractions: { enabled: false },
      // Like ProConnect: acr, amr and auth_time reach the ID token only when the relying party
      // asks for them with the claims parameter.
      claimsParameter: { enabled: true },
    },
    pkce: { required: () => true },
    interactions: {
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    async findAccount(ctx, sub) {
      const account = ACCOUNTS[sub];
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, email: `${sub}@agency.example`, email_verified: true, name: account.name };
        },
      };
    },
  });

  // oidc-provider runs behind `http.createServer`'s request handler; the interaction pages are
  // ours, everything else is the provider's.
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const match = /^\/interaction\/([^/?]+)(\/login)?(?:\?.*)?$/.exec(req.url);
    if (!match) {
      callback(req, res);
      return;
    }
    interaction(provider, req, res, match[2] === '/login').catch((err) => {
      console.error('interaction failed:', err);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end('interaction failed');
      }
    });
  });

  console.log(`listening ${issuer}`);
});

async function interaction(provider, req, res, isLoginPost) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session } = details;

  if (prompt.name === 'login') {
    if (!isLoginPost) {
      send(res, 200, `<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<form method="post" action="/interaction/${uid}/login">
  <label>Login <input name="login" autofocus></label>
  <button type="submit">Sign in</button>
</form>
</body></html>`);
      return;
    }
    const form = new URLSearchParams(await readBody(req));
    const login = form.get('login') ?? '';
    const account = ACCOUNTS[login];
    if (!account || req.method !== 'POST') {
      send(res, 400, 'unknown login');
      return;
    }
    await provider.interactionFinished(req, res, {
      login: { accountId: login, acr: account.acr, amr: account.amr, remember: false },
    }, { mergeWithLastSubmission: false });
    return;
  }

  if (prompt.name === 'consent') {
    // Consent is granted automatically: the agency's own IdP does not ask its agents.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }

  send(res, 400, `unsupported prompt ${prompt.name}`);
}

function send(res, status, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}

async function readBody(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('body too large');
  }
  return body;
}

// Exit when the parent (the test) closes our stdin, so no provider outlives its test even if the
// test process is killed without running destructors.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
