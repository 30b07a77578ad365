// The console's service worker: it keeps the console's shell (its static files and config.json,
// which hold nothing personal) so the console opens without a connection. It answers only for
// the shell's own URLs; every other request (the /v1 APIs, the dev sign-in, the identity
// provider) goes to the network untouched and is never stored: they carry personal data and
// tokens. The server writes a hash of the shell into VERSION, so a release that changes any
// file is a new worker with a new cache, and the old cache is deleted when it activates.
const VERSION = "__SHELL_VERSION__";
const CACHE = `linli-console-${VERSION}`;
const SHELL = ["./", "index.html", "app.js", "i18n.js", "oidc.js", "style.css", "config.json"];
const scope = new URL(self.registration.scope);
const shellUrls = new Set(SHELL.map((path) => new URL(path, scope).href));
const INDEX = new URL("./", scope).href;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL.map((path) => new Request(new URL(path, scope), { cache: "reload" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("linli-console-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

// Which cached copy answers a request; null for everything that is not the shell.
function shellKey(request) {
  if (request.method !== "GET") return null;
  const url = new URL(request.url);
  if (url.origin !== scope.origin) return null;
  // A page load (also the identity provider's redirect back, with ?code=…) is the index page;
  // its query is never part of a cache key.
  if (request.mode === "navigate") {
    return url.pathname === scope.pathname || url.pathname === `${scope.pathname}index.html` ? INDEX : null;
  }
  url.search = "";
  return shellUrls.has(url.href) ? url.href : null;
}

// Stale-while-revalidate: the cached copy at once, a fresh one stored for the next start.
self.addEventListener("fetch", (event) => {
  const key = shellKey(event.request);
  if (!key) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const cached = await cache.match(key);
    const fresh = fetch(key, { cache: "no-cache" }).then(async (response) => {
      if (response.ok) await cache.put(key, response.clone());
      return response;
    });
    if (cached) {
      event.waitUntil(fresh.catch(() => null));
      return cached;
    }
    return fresh;
  })());
});
