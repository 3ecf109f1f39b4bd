// IMIAS: the police officer's page /verify. It posts the check form in the background
// (the form works without this script too), reads a QR code with the camera or from a
// photo, remembers the place, and, when the network is gone, checks a QR itself, as
// ehr/certificates/trust.py `check_offline` does: the text is "MC1:" + base45(zlib(a
// COSE_Sign1)); its ES256 signature is checked with WebCrypto against the clinic's key
// in the trust list, and the revocation list names revoked numbers by their hash. Both
// lists are COSE_Sign1 documents signed by the city's trust anchor, whose public key
// (DER SubjectPublicKeyInfo) comes with the page, never from the network.
//
// window.imiasVerify exposes the checker (tests run it against Python-made vectors).
"use strict";
(function () {
  const PREFIX = "MC1:";
  const MAX_QR = 4096; // characters (ehr.certificates.cose._MAX_QR)
  const MAX_INFLATED = 16384; // bytes a payload may inflate to (cose._MAX_INFLATED)
  const CONTENT_CLAIM = -65537;
  const ES256 = -7;
  const KINDS = ["driver", "school", "pe_group", "pool"];
  const B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  const CACHE = "imias-verify-v1"; // shared with /verify/sw.js
  const TRUST_URL = "/.well-known/imias/trust-list";
  const REVOCATIONS_URL = "/.well-known/imias/revocations";
  const ONLINE_SECONDS = 8; // how long a check waits for the server before checking here
  const REFRESH_MINUTES = 5; // how often the kept lists are fetched again

  class Malformed extends Error {}

  // -- base45 (RFC 9285) ---------------------------------------------------------------

  function b45decode(text) {
    if (text.length % 3 === 1) throw new Malformed("base45: bad length");
    const value = (ch) => {
      const i = B45.indexOf(ch);
      if (ch.length !== 1 || i < 0) throw new Malformed("base45: bad character");
      return i;
    };
    const out = new Uint8Array(Math.floor(text.length / 3) * 2 + (text.length % 3 ? 1 : 0));
    let o = 0;
    for (let i = 0; i < text.length; i += 3) {
      if (i + 2 < text.length) {
        const n = value(text[i]) + value(text[i + 1]) * 45 + value(text[i + 2]) * 2025;
        if (n > 0xffff) throw new Malformed("base45: out of range");
        out[o++] = n >> 8;
        out[o++] = n & 0xff;
      } else {
        const n = value(text[i]) + value(text[i + 1]) * 45;
        if (n > 0xff) throw new Malformed("base45: out of range");
        out[o++] = n;
      }
    }
    return out;
  }

  // -- zlib ----------------------------------------------------------------------------

  async function inflate(bytes) {
    const reader = new Blob([bytes]).stream()
      .pipeThrough(new DecompressionStream("deflate")).getReader();
    const chunks = [];
    let size = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        if (size > MAX_INFLATED) {
          reader.cancel().catch(() => {});
          throw new Malformed("zlib: oversized");
        }
        chunks.push(value);
      }
    } catch (e) {
      throw e instanceof Malformed ? e : new Malformed("zlib: damaged");
    }
    return concat(chunks);
  }

  function concat(parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }

  // -- CBOR (RFC 8949): what the certificate and the lists use -------------------------

  // One data item from the start of `bytes` (the rest is ignored, as cbor2.loads does).
  // Maps become Map (integer and text keys), byte strings Uint8Array, tags {tag, value}.
  function cborDecode(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const text = new TextDecoder("utf-8", { fatal: true });
    let pos = 0;
    const need = (n) => {
      if (n > bytes.length - pos) throw new Malformed("cbor: truncated");
    };
    function argument(info) {
      if (info < 24) return info;
      if (info === 24) { need(1); return bytes[pos++]; }
      if (info === 25) { need(2); const v = view.getUint16(pos); pos += 2; return v; }
      if (info === 26) { need(4); const v = view.getUint32(pos); pos += 4; return v; }
      if (info === 27) {
        need(8);
        const hi = view.getUint32(pos), lo = view.getUint32(pos + 4);
        pos += 8;
        if (hi > 0x1fffff) throw new Malformed("cbor: integer too large");
        return hi * 4294967296 + lo;
      }
      throw new Malformed("cbor: indefinite length");
    }
    function item(depth) {
      if (depth > 32) throw new Malformed("cbor: too deep");
      need(1);
      const first = bytes[pos++];
      const major = first >> 5, info = first & 31;
      switch (major) {
        case 0: return argument(info);
        case 1: return -1 - argument(info);
        case 2: {
          const n = argument(info); need(n);
          const v = bytes.slice(pos, pos + n); pos += n; return v;
        }
        case 3: {
          const n = argument(info); need(n);
          let v;
          try { v = text.decode(bytes.subarray(pos, pos + n)); } catch (e) {
            throw new Malformed("cbor: bad UTF-8");
          }
          pos += n; return v;
        }
        case 4: {
          const n = argument(info); const a = [];
          for (let i = 0; i < n; i++) a.push(item(depth + 1));
          return a;
        }
        case 5: {
          const n = argument(info); const m = new Map();
          for (let i = 0; i < n; i++) { const k = item(depth + 1); m.set(k, item(depth + 1)); }
          return m;
        }
        case 6: { const tag = argument(info); return { tag, value: item(depth + 1) }; }
        default: // 7: simple values and floats
          if (info === 20) return false;
          if (info === 21) return true;
          if (info === 22) return null;
          if (info === 23) return undefined;
          if (info === 25) { need(2); const v = half(view.getUint16(pos)); pos += 2; return v; }
          if (info === 26) { need(4); const v = view.getFloat32(pos); pos += 4; return v; }
          if (info === 27) { need(8); const v = view.getFloat64(pos); pos += 8; return v; }
          throw new Malformed("cbor: unsupported simple value");
      }
    }
    return item(0);
  }

  function half(h) {
    const exp = (h >> 10) & 0x1f, mant = h & 0x3ff, sign = h & 0x8000 ? -1 : 1;
    if (exp === 0) return sign * mant * 2 ** -24;
    if (exp === 31) return mant ? NaN : sign * Infinity;
    return sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }

  function cborHead(major, n) {
    if (n < 24) return [(major << 5) | n];
    if (n < 0x100) return [(major << 5) | 24, n];
    if (n < 0x10000) return [(major << 5) | 25, n >> 8, n & 0xff];
    return [(major << 5) | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  }

  function bstr(bytes) {
    return concat([Uint8Array.from(cborHead(2, bytes.length)), bytes]);
  }

  // The Sig_structure of a COSE_Sign1 (RFC 9052 §4.4): ["Signature1", protected, h'',
  // payload], over the protected header's bytes as received.
  function sigStructure(protectedBytes, payload) {
    const context = new TextEncoder().encode("Signature1");
    return concat([
      Uint8Array.from([0x84]),
      Uint8Array.from(cborHead(3, context.length)), context,
      bstr(protectedBytes),
      Uint8Array.from([0x40]),
      bstr(payload),
    ]);
  }

  // -- COSE_Sign1 ------------------------------------------------------------------------

  // A tagged COSE_Sign1 signed ES256, not verified yet: its key id, payload, what is
  // signed and the signature; Malformed when it is not one (cose.open1).
  function openSign1(raw) {
    const message = cborDecode(raw);
    if (!message || message.tag !== 18 || !Array.isArray(message.value) ||
        message.value.length !== 4) {
      throw new Malformed("not a COSE_Sign1 message");
    }
    const [protectedBytes, unprotected, payload, signature] = message.value;
    if (!(protectedBytes instanceof Uint8Array) || !(unprotected instanceof Map) ||
        !(signature instanceof Uint8Array)) {
      throw new Malformed("not a COSE_Sign1 message");
    }
    const headers = protectedBytes.length ? cborDecode(protectedBytes) : new Map();
    if (!(headers instanceof Map)) throw new Malformed("not a COSE_Sign1 message");
    if (headers.get(1) !== ES256) throw new Malformed("not signed with ES256");
    const kid = headers.get(4);
    if (!(kid instanceof Uint8Array) || !(payload instanceof Uint8Array)) {
      throw new Malformed("no key id or no payload");
    }
    return { kid, payload, toBeSigned: sigStructure(protectedBytes, payload), signature };
  }

  async function verifies(opened, key) {
    if (opened.signature.length !== 64) return false; // r || s, 32 bytes each
    return crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-256" }, key, opened.signature, opened.toBeSigned);
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function sameBytes(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  // A P-256 public key from its DER SubjectPublicKeyInfo, with its key id (the first 8
  // bytes of the SHA-256 of that DER, cose.key_id).
  async function publicKey(spki) {
    const key = await crypto.subtle.importKey(
      "spki", spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    return { key, kid: (await sha256(spki)).slice(0, 8) };
  }

  function fromBase64(text) {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  }

  function toBase64(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  // -- the signed lists (ehr/certificates/trust.py) ------------------------------------------

  // A list's body, its signature checked against the anchor; throws when it is not the
  // anchor's or not of the expected shape (cose.open_document).
  async function openDocument(raw, anchor, shape) {
    const opened = openSign1(raw);
    if (!sameBytes(opened.kid, anchor.kid) || !(await verifies(opened, anchor.key))) {
      throw new Error("the list is not signed by the trust anchor");
    }
    const body = cborDecode(opened.payload);
    if (!(body instanceof Map) || !shape(body)) throw new Error("the list has an unexpected shape");
    return body;
  }

  // The trust list: {iat, keys: Map(kid hex -> {kid, clinic, org, key, since, withdrawn})}.
  async function openTrustList(raw, anchor) {
    const body = await openDocument(raw, anchor, (b) =>
      Array.isArray(b.get("keys")) && Number.isInteger(b.get("iat")));
    const keys = new Map();
    for (const k of body.get("keys")) {
      if (!(k instanceof Map) || !(k.get("kid") instanceof Uint8Array) ||
          !(k.get("spki") instanceof Uint8Array)) {
        throw new Error("a key of the trust list has an unexpected shape");
      }
      const { key, kid } = await publicKey(k.get("spki"));
      if (!sameBytes(kid, k.get("kid"))) throw new Error("a key's id does not match its public key");
      const withdrawn = k.get("wdn");
      keys.set(hex(kid), {
        kid, key,
        clinic: Number(k.get("clinic")),
        org: String(k.get("org")),
        since: Number(k.get("nbf")),
        withdrawn: withdrawn === null || withdrawn === undefined ? null : Number(withdrawn),
      });
    }
    return { iat: body.get("iat"), keys };
  }

  // The revocation list: {iat, hashes: Set of hex(SHA-256(number)[:16])}.
  async function openRevocations(raw, anchor) {
    const body = await openDocument(raw, anchor, (b) =>
      Array.isArray(b.get("rev")) && Number.isInteger(b.get("iat")));
    const hashes = new Set();
    for (const h of body.get("rev")) {
      if (!(h instanceof Uint8Array)) throw new Error("a revocation has an unexpected shape");
      hashes.add(hex(h));
    }
    return { iat: body.get("iat"), hashes };
  }

  // -- the check (trust.genuine, trust.check_offline, rules.status_on) -------------------------

  async function openQr(text) {
    text = text.trim();
    if (!text.startsWith(PREFIX) || text.length > MAX_QR) {
      throw new Malformed("not a medical certificate's QR code");
    }
    const opened = openSign1(await inflate(b45decode(text.slice(PREFIX.length))));
    let claims;
    try { claims = cborDecode(opened.payload); } catch (e) {
      throw new Malformed("the payload is not CBOR");
    }
    const content = claims instanceof Map ? claims.get(CONTENT_CLAIM) : undefined;
    if (!(content instanceof Map)) throw new Malformed("no certificate in the payload");
    return { opened, content };
  }

  function isoDate(value) {
    if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(value)) {
      throw new Error("not a date");
    }
    const d = new Date(value + "T00:00:00Z");
    if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== value) {
      throw new Error("not a date");
    }
    return value;
  }

  function required(content, key) {
    if (!content.has(key)) throw new Error("missing " + key);
    return content.get(key);
  }

  function strings(value) {
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw new Error("not a list");
    return value.map(String);
  }

  // The signed content as the officer sees it (trust.shown); throws when it is not a
  // certificate's shape.
  function shown(content) {
    const kind = content.get("k");
    if (!KINDS.includes(kind) || content.get("v") !== 1) {
      throw new Error("not a certificate of a known kind");
    }
    const group = content.get("grp");
    return {
      number: String(required(content, "n")),
      kind,
      holder: String(required(content, "nm")),
      birth_date: isoDate(required(content, "dob")),
      categories: strings(content.get("cat")),
      restrictions: strings(content.get("res")),
      pe_group: group === undefined ? null : group,
      valid_from: isoDate(required(content, "df")),
      valid_until: isoDate(required(content, "du")),
      clinic: String(required(content, "org")),
    };
  }

  async function genuine(text, trust) {
    let opened, content;
    try {
      ({ opened, content } = await openQr(text));
    } catch (e) {
      if (e instanceof Malformed) return { verdict: "not_genuine", certificate: null };
      throw e;
    }
    const key = trust.keys.get(hex(opened.kid));
    if (!key) return { verdict: "unknown_key", certificate: null };
    if (!(await verifies(opened, key.key))) return { verdict: "not_genuine", certificate: null };
    if (key.withdrawn !== null) return { verdict: "key_withdrawn", certificate: null };
    try {
      return { verdict: "genuine", certificate: shown(content) };
    } catch (e) {
      return { verdict: "not_genuine", certificate: null };
    }
  }

  function statusOn(validFrom, until, revoked, today) {
    if (revoked) return "revoked";
    if (today > until) return "expired";
    if (today < validFrom) return "not_yet_valid";
    return "valid";
  }

  async function revocationHash(number) {
    return hex((await sha256(new TextEncoder().encode(number))).slice(0, 16));
  }

  // A QR checked with no network, as check_offline: `today` is the city's "YYYY-MM-DD".
  async function checkOffline(text, trust, revocations, today) {
    const asOf = revocations ? revocations.iat : null;
    const { verdict, certificate } = await genuine(text, trust);
    if (!certificate) {
      return { verdict, certificate: null, checked: "offline", revocations_as_of: asOf };
    }
    const revoked = revocations !== null &&
      revocations.hashes.has(await revocationHash(certificate.number));
    return {
      verdict: statusOn(certificate.valid_from, certificate.valid_until, revoked, today),
      certificate,
      checked: "offline",
      revocations_as_of: asOf,
    };
  }

  // The city's day in its time zone, "YYYY-MM-DD".
  function cityToday(zone, now) {
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
    }).formatToParts(now || new Date());
    const part = (type) => parts.find((p) => p.type === type).value;
    return `${part("year")}-${part("month")}-${part("day")}`;
  }

  window.imiasVerify = {
    b45decode, inflate, cborDecode, sigStructure, openSign1, openQr, publicKey,
    openTrustList, openRevocations, checkOffline, cityToday, fromBase64, Malformed,
  };

  // -- the page ------------------------------------------------------------------------------

  const configElement = document.getElementById("verify-config");
  const form = document.getElementById("check-form");
  if (!configElement || !form) return; // loaded by a test, not by the page
  const config = JSON.parse(configElement.textContent);
  const $ = (id) => document.getElementById(id);
  const field = { place: $("place"), qr: $("qr"), number: $("number"), birth: $("birth_date") };
  const errorBox = $("form-error");
  const scanStatus = $("scan-status");
  const listsStatus = $("lists-status");
  const PLACE_KEY = "imias-verify-place";
  const lists = { anchor: null, trust: null, revocations: null };

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/verify/sw.js", { scope: "/verify" }).catch(() => {});
  }

  // The place: remembered on this device; coordinates on request.
  try {
    if (!field.place.value) field.place.value = localStorage.getItem(PLACE_KEY) || "";
  } catch (e) { /* storage refused: typed each time */ }
  field.place.addEventListener("input", () => {
    try { localStorage.setItem(PLACE_KEY, field.place.value.trim()); } catch (e) { /* ignored */ }
  });
  const locate = $("locate");
  if (navigator.geolocation) {
    locate.hidden = false;
    locate.addEventListener("click", () => {
      navigator.geolocation.getCurrentPosition((position) => {
        const c = position.coords;
        const accuracy = c.accuracy ? ` (±${Math.round(c.accuracy)} м)` : "";
        field.place.value = `${c.latitude.toFixed(5)}, ${c.longitude.toFixed(5)}${accuracy}`;
        field.place.dispatchEvent(new Event("input"));
      }, () => say(config.sentences.place_failed), { enableHighAccuracy: true, timeout: 15000 });
    });
  }

  function say(text) {
    errorBox.textContent = text || "";
    errorBox.hidden = !text;
  }

  function formatTime(seconds) {
    return new Intl.DateTimeFormat(config.lang === "ru" ? "ru-RU" : "en-GB", {
      timeZone: config.zone, day: "2-digit", month: "2-digit", year: "numeric",
      hour: "2-digit", minute: "2-digit",
    }).format(new Date(seconds * 1000));
  }

  function formatDay(iso) {
    const [y, m, d] = iso.split("-");
    return `${d}.${m}.${y}`;
  }

  // -- the kept lists ----------------------------------------------------------------------

  async function keptBytes(url) {
    const kept = await caches.match(url);
    return kept ? new Uint8Array(await kept.arrayBuffer()) : null;
  }

  // The list from the network when it answers with one the anchor signed (and not older
  // than the one kept), else the one kept.
  async function freshList(url, open) {
    let kept = null;
    const keptRaw = await keptBytes(url).catch(() => null);
    if (keptRaw) kept = await open(keptRaw, lists.anchor).catch(() => null);
    try {
      const response = await fetch(url, { cache: "no-store" });
      if (response.ok) {
        const raw = new Uint8Array(await response.arrayBuffer());
        const fetched = await open(raw, lists.anchor);
        if (!kept || fetched.iat >= kept.iat) {
          const cache = await caches.open(CACHE);
          await cache.put(url, new Response(raw, { headers: { "Content-Type": "application/cose" } }));
          return fetched;
        }
      }
    } catch (e) { /* no network, or not the anchor's: the kept one */ }
    return kept;
  }

  async function refreshLists() {
    try {
      if (!lists.anchor) lists.anchor = await publicKey(fromBase64(config.anchor));
      const [trust, revocations] = await Promise.all([
        freshList(TRUST_URL, openTrustList),
        freshList(REVOCATIONS_URL, openRevocations),
      ]);
      lists.trust = trust || lists.trust;
      lists.revocations = revocations || lists.revocations;
    } catch (e) { /* shown below as missing */ }
    if (lists.trust && lists.revocations) {
      listsStatus.textContent = config.sentences.lists
        .replace("{trust}", formatTime(lists.trust.iat))
        .replace("{revocations}", formatTime(lists.revocations.iat));
    } else {
      listsStatus.textContent = config.sentences.lists_missing;
    }
    listsStatus.dataset.ready = lists.trust && lists.revocations ? "yes" : "no";
  }

  // -- the result ------------------------------------------------------------------------------

  function element(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function facts(certificate, verdict) {
    const names = config.restrictions;
    const restrictions = certificate.restrictions
      .map((code) => (names[code] ? `${code} — ${names[code]}` : code)).join("; ");
    const rows = [
      ["holder", certificate.holder],
      ["birth_date", formatDay(certificate.birth_date)],
      ["categories", certificate.categories.join(", ") || "—"],
      ["restrictions", restrictions || config.labels.none],
    ];
    if (certificate.pe_group !== null) {
      rows.push(["pe_group", config.pe_groups[certificate.pe_group] || String(certificate.pe_group)]);
    }
    if (verdict === "not_yet_valid") rows.push(["valid_from", formatDay(certificate.valid_from)]);
    rows.push(["valid_until", formatDay(certificate.valid_until)],
      ["clinic", certificate.clinic], ["number", certificate.number]);
    const dl = element("dl", { class: "facts" });
    for (const [key, value] of rows) {
      dl.append(element("dt", {}, config.labels[key]), element("dd", { "data-fact": key }, value));
    }
    return dl;
  }

  // The result box of a check made here, as the server renders one (check.html).
  function showOffline(check) {
    const v = config.verdicts[check.verdict];
    const box = element("section", {
      id: "result", class: `result tone-${v.tone}`, tabindex: "-1",
      "aria-labelledby": "verdict-word", "data-verdict": check.verdict, "data-checked": "offline",
    });
    const verdict = element("p", { class: "verdict" });
    verdict.append(element("span", { class: "mark", "aria-hidden": "true" }, v.mark), " ",
      element("span", { id: "verdict-word" }, v.word));
    box.append(verdict, element("p", { class: "meaning" }, v.meaning));
    const c = check.certificate;
    if (c) {
      if (c.kind !== "driver") {
        const note = element("p", { class: "meaning" });
        note.append(element("strong", {},
          config.labels.not_driver.replace("{title}", config.kinds[c.kind] || c.kind)));
        box.append(note);
      }
      box.append(facts(c, check.verdict));
    }
    const how = check.revocations_as_of === null
      ? config.sentences.offline_no_revocations
      : config.sentences.offline.replace("{time}", formatTime(check.revocations_as_of));
    box.append(element("p", { class: "how", id: "checked-how" }, how));
    putResult(box);
  }

  function putResult(box) {
    const slot = $("result-slot");
    slot.replaceChildren(...(box ? [box] : []));
    if (box) {
      box.scrollIntoView({ block: "start" });
      box.focus({ preventScroll: true });
    }
  }

  // -- the check --------------------------------------------------------------------------------

  function way(submitter) {
    const chosen = submitter && submitter.value;
    const qr = field.qr.value.trim(), number = field.number.value.trim();
    return chosen === "number" || (!qr && number) ? "number" : "qr";
  }

  async function checkHere(text) {
    if (!lists.trust) await refreshLists();
    if (!lists.trust) { putResult(null); say(config.sentences.offline_no_trust); return; }
    const check = await checkOffline(text, lists.trust, lists.revocations, cityToday(config.zone));
    say("");
    showOffline(check);
    field.qr.value = "";
  }

  // The form posted in the background; the server's page answers and its result box is
  // put in place. False when the server could not be reached.
  async function checkOnline(how) {
    const body = new URLSearchParams(new FormData(form));
    body.set("way", how);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), ONLINE_SECONDS * 1000);
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST", body, credentials: "same-origin", signal: abort.signal,
      });
    } catch (e) {
      return false;
    } finally {
      clearTimeout(timer);
    }
    if (response.redirected && new URL(response.url).pathname !== new URL(form.action).pathname) {
      location.assign(response.url); // the session ended: sign in again
      return true;
    }
    const answer = new DOMParser().parseFromString(await response.text(), "text/html");
    const error = answer.getElementById("form-error");
    const slot = answer.getElementById("result-slot");
    if (!slot) { // not the page: an error page
      putResult(null);
      say((answer.querySelector("[role=alert]") || answer.body).textContent.trim());
      return true;
    }
    const result = slot.querySelector("#result");
    say(error && !error.hidden ? error.textContent : "");
    putResult(result);
    if (result && how === "qr") field.qr.value = ""; // as the server's page: the next scan
    return true;
  }

  let busy = false;
  async function check(how) {
    if (busy) return;
    if (!field.place.value.trim()) {
      say(config.sentences.no_place);
      field.place.focus();
      return;
    }
    if (how === "qr" && !field.qr.value.trim()) {
      say(config.sentences.no_qr);
      field.qr.focus();
      return;
    }
    busy = true;
    form.setAttribute("aria-busy", "true");
    try {
      const online = navigator.onLine !== false && (await checkOnline(how));
      if (!online) {
        if (how === "qr") await checkHere(field.qr.value);
        else { putResult(null); say(config.sentences.offline_number); }
      }
    } finally {
      busy = false;
      form.removeAttribute("aria-busy");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    check(way(event.submitter));
  });

  // -- the camera and the photo ----------------------------------------------------------------

  const scanners = $("scanners");
  const scanButton = $("scan");
  const video = $("camera-view");
  const photo = $("photo");
  const scanLabel = scanButton.textContent;
  let detector = null;
  let stream = null;
  scanners.hidden = false;

  let decoderLoaded = null;
  function jsQRDecoder() {
    if (!decoderLoaded) {
      decoderLoaded = new Promise((resolve, reject) => {
        const s = document.createElement("script");
        s.src = "/verify/jsqr.js";
        s.onload = () => resolve(window.jsQR);
        s.onerror = () => { decoderLoaded = null; reject(new Error("no decoder")); };
        document.head.append(s);
      });
    }
    return decoderLoaded;
  }

  // The QR's text in an image (a video frame, a photo; jsQR reads it scaled down to
  // `largest` pixels a side), or null.
  async function readImage(source, width, height, largest) {
    if ("BarcodeDetector" in window) {
      try {
        detector = detector || new window.BarcodeDetector({ formats: ["qr_code"] });
        const found = await detector.detect(source);
        return found.length ? found[0].rawValue : null;
      } catch (e) { /* fall back to jsQR */ }
    }
    const jsQR = await jsQRDecoder();
    const scale = Math.min(1, largest / Math.max(width, height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(source, 0, 0, canvas.width, canvas.height);
    const image = context.getImageData(0, 0, canvas.width, canvas.height);
    const code = jsQR(image.data, image.width, image.height, { inversionAttempts: "attemptBoth" });
    return code ? code.data : null;
  }

  function scanned(text) {
    field.qr.value = text;
    scanStatus.textContent = "";
    check("qr");
  }

  function stopCamera() {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    video.hidden = true;
    scanButton.textContent = scanLabel;
  }

  scanButton.addEventListener("click", async () => {
    if (stream) { stopCamera(); return; }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment" }, audio: false,
      });
    } catch (e) {
      stopCamera();
      scanStatus.textContent = config.sentences.camera_failed;
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    scanButton.textContent = config.scan_off;
    scanStatus.textContent = config.sentences.camera_on;
    await video.play().catch(() => {});
    const look = async () => {
      if (!stream) return;
      let text = null;
      if (video.readyState >= 2 && video.videoWidth) {
        text = await readImage(video, video.videoWidth, video.videoHeight, 960)
          .catch(() => null);
      }
      if (text) { stopCamera(); scanned(text); return; }
      setTimeout(look, 150);
    };
    look();
  });

  photo.addEventListener("change", async () => {
    const file = photo.files && photo.files[0];
    if (!file) return;
    let text = null;
    try {
      const bitmap = await createImageBitmap(file);
      text = await readImage(bitmap, bitmap.width, bitmap.height, 1600);
      bitmap.close();
    } catch (e) { text = null; }
    photo.value = "";
    if (text) scanned(text);
    else scanStatus.textContent = config.sentences.photo_failed;
  });

  // -- start ---------------------------------------------------------------------------------------

  refreshLists();
  setInterval(refreshLists, REFRESH_MINUTES * 60 * 1000);
  window.addEventListener("online", refreshLists);
  const shownResult = $("result");
  if (shownResult) shownResult.focus({ preventScroll: true });
  window.imiasVerify.page = { lists, refreshLists, toBase64 };
})();
