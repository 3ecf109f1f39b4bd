// IMIAS portal service worker: keeps the last "my appointments", "prescriptions" and
// "certificates" pages (the patient's own, or a linked child's) so that upcoming
// appointments stay readable, a prescription's QR code can be shown at a pharmacy, and a
// certificate's QR code at a traffic stop, with no connection. Only those pages are
// kept; signing out clears them (Clear-Site-Data).
"use strict";
const CACHE = "imias-portal-v3";
const KEPT = ["/appointments", "/prescriptions", "/certificates"];

self.addEventListener("install", () => self.skipWaiting());

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      // Only the portal's older copies: the officer's page (/verify) keeps its own.
      .then((keys) => Promise.all(
        keys.filter((k) => k.startsWith("imias-portal-") && k !== CACHE).map((k) => caches.delete(k))
      ))
      .then(() => self.clients.claim())
  );
});

// One copy per patient shown: the page's address without passing notices (?booked=).
function keyOf(url) {
  const key = new URL(url.pathname, self.location.origin);
  const patient = url.searchParams.get("patient_id");
  if (patient) key.searchParams.set("patient_id", patient);
  return key.href;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || !KEPT.includes(url.pathname)) {
    return;
  }
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok && !response.redirected) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(keyOf(url), copy));
        }
        return response;
      })
      .catch(() =>
        caches.match(keyOf(url)).then(
          (kept) =>
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
