// provider.mjs - an independent, standards-conforming OpenID provider
// (panva's oidc-provider 9, npm) served over https on 127.0.0.1, to run
// vap-host authorize against something that is not our simulator.
//
// node provider.mjs PORT CERT KEY CLIENT_ID CLIENT_SECRET REDIRECT_URI
// Prints the issuer (https://127.0.0.1:PORT) on stdout once it listens.
// With CLIENT_JWKS=FILE the client has no secret: it is registered with that
// public JWKS and private_key_jwt, the signing algorithms SMART names
// (RS384, ES384) enabled for client assertions.  GRANT=client_credentials
// registers it as a backend service instead (below).
// devInteractions gives the built-in login/consent forms (any login and
// password are accepted).  Nothing here is tuned to our plugin beyond what a
// practice would configure for a confidential client with PKCE and refresh.
import https from 'node:https';
import fs from 'node:fs';
import Provider from 'oidc-provider';

const [port, certPath, keyPath, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const issuer = `https://127.0.0.1:${port}`;

const client = {
  client_id: clientId,
  client_secret: clientSecret,
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: process.env.AUTH_METHOD || 'client_secret_basic',
};
const extra = {};
if (process.env.CLIENT_JWKS) {
  delete client.client_secret;
  client.token_endpoint_auth_method = 'private_key_jwt';
  client.jwks = JSON.parse(fs.readFileSync(process.env.CLIENT_JWKS, 'utf8'));
  extra.enabledJWA = { clientAuthSigningAlgValues: ['RS256', 'RS384', 'PS256', 'ES256', 'ES384'] };
}

// With GRANT=client_credentials the client is a backend service (SMART
// Backend Services): no redirect URI, no user, system/ scopes only.
const backend = process.env.GRANT === 'client_credentials';
// api:fhir as OpenEMR needs it next to FHIR scopes.
const systemScopes = ['api:fhir', 'system/Patient.read', 'system/Appointment.read'];
if (backend) {
  delete client.redirect_uris;
  client.grant_types = ['client_credentials'];
  client.response_types = [];
  client.scope = systemScopes.join(' ');
}

const provider = new Provider(issuer, {
  ...extra,
  clients: [client],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true }, clientCredentials: { enabled: backend } },
  claims: { openid: ['sub'], fhirUser: ['fhirUser'] },
  scopes: ['openid', 'offline_access', 'fhirUser', ...(backend ? systemScopes : [])],
  // Default refresh-token policy (OIDC Core §11: offline_access only with
  // prompt=consent), rotated on every use as OpenEMR does.
  rotateRefreshToken: true,
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, fhirUser: `${issuer}/fhir/Practitioner/${sub}` }),
  }),
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

https.createServer({ cert: fs.readFileSync(certPath), key: fs.readFileSync(keyPath) },
  provider.callback()).listen(Number(port), '127.0.0.1', () => {
  console.log(issuer);
});
