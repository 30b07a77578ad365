// OpenID Connect Authorization Code flow with PKCE (RFC 7636), for a public client in the
// browser. Tokens stay in memory; only the verifier and state survive the redirect (in
// sessionStorage, cleared as soon as the code is exchanged).
const PENDING = "linli.console.oidc";

const base64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

function randomString() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function discover(settings) {
  const response = await fetch(settings.discovery_url);
  if (!response.ok) throw new Error(`discovery failed: HTTP ${response.status}`);
  return response.json();
}

const redirectUri = () => `${location.origin}${location.pathname}`;

export async function oidcSignIn(settings) {
  const provider = await discover(settings);
  const verifier = randomString();
  const state = randomString();
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state }));
  const url = new URL(provider.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code", client_id: settings.client_id, redirect_uri: redirectUri(),
    scope: settings.scopes, state, code_challenge: challenge, code_challenge_method: "S256",
  }).toString();
  location.assign(url);
}

async function tokenRequest(settings, body) {
  const provider = await discover(settings);
  const response = await fetch(provider.token_endpoint, {
    method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: settings.client_id, ...body }),
  });
  const tokens = await response.json();
  if (!response.ok) throw new Error(`token request refused: ${tokens.error || response.status}`);
  return tokens;
}

/** After the provider redirected back: exchange the code (once) for tokens; null otherwise. */
export async function oidcCallback(settings) {
  const query = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  if (!query.has("code") || !pending) return null;
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, "", redirectUri() + "#/today");
  if (query.get("state") !== pending.state) throw new Error("sign-in state mismatch");
  return tokenRequest(settings, {
    grant_type: "authorization_code", code: query.get("code"), redirect_uri: redirectUri(), code_verifier: pending.verifier,
  });
}

export async function oidcRefresh(settings, tokens) {
  if (!tokens.refresh_token) throw new Error("signed out: no refresh token");
  const fresh = await tokenRequest(settings, { grant_type: "refresh_token", refresh_token: tokens.refresh_token });
  tokens.access_token = fresh.access_token;
  tokens.refresh_token = fresh.refresh_token || tokens.refresh_token;
  return tokens;
}
