// IMIAS: the service worker of the police officer's page (/verify/sw.js, scope /verify).
// It keeps the page and its scripts, so that with no network the page still opens and
// checks a QR code itself; the page keeps the signed trust and revocation lists in the
// same cache. Nothing personal is kept: a check's answer is never stored.
"use strict";
const CACHE = "imias-verify-v1";
const KEPT = ["/verify", "/verify/verify.js", "/verify/jsqr.js"];

// Fetched fresh each time it can be: a redirect (the session ended) is never kept.
async function keep(cache, path, response) {
  if (response.ok && !response.redirected && response.type === "basic") {
    await cache.put(path, response.clone());
  }
  return response;
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) =>
      Promise.all(KEPT.map((path) =>
        fetch(path, { credentials: "same-origin", cache: "no-store" })
          .then((response) => keep(cache, path, response))
          .catch(() => null))))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys
        .filter((k) => k.startsWith("imias-verify-") && k !== CACHE)
        .map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin ||
      !KEPT.includes(url.pathname)) {
    return;
  }
  event.respondWith(
    fetch(request)
      .then((response) => caches.open(CACHE).then((cache) => keep(cache, url.pathname, response)))
      .catch(() =>
        caches.match(url.pathname).then((kept) =>
          kept ||
          new Response(
            "<!doctype html><html lang=\"ru\"><meta charset=\"utf-8\"><title>Нет связи</title>" +
              "<p>Нет связи, а сохранённой копии этой страницы на этом устройстве нет.</p></html>",
            { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } }
          )
        )
      )
  );
});
