// The service worker of the live writer page: it keeps a cache of its own,
// as WhatsApp Web's does, rewritten while it runs.
self.addEventListener("install", e => e.waitUntil(caches.open("sw").then(c => c.put("/sw-installed", new Response("1")))));
self.addEventListener("activate", e => e.waitUntil(self.clients.claim()));
self.addEventListener("fetch", () => {});
