// The visit page's script. Without it the page is plain forms; with it:
// - the draft is saved as the doctor types: at once to this browser (localStorage), and
//   after a second's pause to the server; a dropped connection loses nothing, and on
//   reload the newer of the two fills the form;
// - the ICD-10 code fields offer codes and titles as she types (GET /api/v1/diagnoses).
(function () {
  "use strict";
  const signed = document.querySelector("[data-clear-draft]");
  if (signed) {  // signed: the browser's copy of the draft is no longer needed
    try { localStorage.removeItem("imias-visit-draft-" + signed.dataset.clearDraft); } catch (e) { /* private mode */ }
  }
  document.querySelectorAll("form").forEach(function (form) {
    if (form.querySelector("[data-dx-row]")) { diagnosisRows(form); }
  });
  const rxForm = document.getElementById("rx-form");
  if (rxForm) { prescribing(rxForm); }
  const form = document.getElementById("visit-form");
  if (!form) { return; }

  const key = "imias-visit-draft-" + form.dataset.encounter;
  const csrf = form.querySelector("input[name=csrf]").value;
  const status = document.getElementById("draft-status");
  let timer = null;
  let sending = false;
  let again = false;

  function collect() {
    const protocol = {};
    form.querySelectorAll("[data-section]").forEach(function (t) { protocol[t.dataset.section] = t.value; });
    const vitals = {};
    form.querySelectorAll("[data-vital]").forEach(function (i) {
      const v = i.value.trim();
      if (v) { vitals[i.dataset.vital] = v.slice(0, 20); }
    });
    const diagnoses = [];
    form.querySelectorAll("[data-dx-row]").forEach(function (row) {
      const get = function (n) { return (row.querySelector("[data-dx=" + n + "]").value || "").trim().slice(0, 16); };
      const code = get("code");
      if (code) {
        diagnoses.push({ code: code, rank: get("rank"), course: get("course"), verification: get("verification") });
      }
    });
    return { protocol: protocol, diagnoses: diagnoses, vitals: vitals };
  }

  function fill(draft) {
    const protocol = draft.protocol || {};
    form.querySelectorAll("[data-section]").forEach(function (t) {
      if (typeof protocol[t.dataset.section] === "string") { t.value = protocol[t.dataset.section]; }
    });
    const vitals = draft.vitals || {};
    form.querySelectorAll("[data-vital]").forEach(function (i) { i.value = vitals[i.dataset.vital] || ""; });
    const diagnoses = draft.diagnoses || [];
    while (form.querySelectorAll("[data-dx-row]").length < diagnoses.length + 1) { form.addDiagnosisRow(); }
    form.querySelectorAll("[data-dx-row]").forEach(function (row, n) {
      const d = diagnoses[n] || {};
      row.querySelector("[data-dx=code]").value = d.code || "";
      ["rank", "course", "verification"].forEach(function (f) {
        if (d[f]) { row.querySelector("[data-dx=" + f + "]").value = d[f]; }
      });
      row.querySelector(".dx-title").textContent = "";
    });
  }

  function say(text) { status.textContent = text; }

  function keepLocally(synced) {
    try {
      localStorage.setItem(key, JSON.stringify({ at: Date.now(), synced: synced, draft: collect() }));
    } catch (e) { /* storage full or disabled: the server copy still goes */ }
  }

  async function send() {
    if (sending) { again = true; return; }
    sending = true;
    try {
      const answer = await fetch(form.action.replace(/\/sign$/, "/draft"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(collect()),
      });
      if (!answer.ok) { throw new Error("HTTP " + answer.status); }
      const saved = await answer.json();
      keepLocally(true);
      say(form.dataset.textSaved + " " + saved.shown);
    } catch (e) {
      say(form.dataset.textLocal);
    } finally {
      sending = false;
      if (again) { again = false; schedule(); }
    }
  }

  function schedule() {
    keepLocally(false);
    clearTimeout(timer);
    timer = setTimeout(send, 1000);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  window.addEventListener("online", function () { schedule(); });
  form.addEventListener("submit", function () { clearTimeout(timer); });

  // On load: a copy the server never got (or newer than the server's) fills the form,
  // unless the page shows a refused signature's typed values.
  let local = null;
  try { local = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { local = null; }
  const serverAt = Date.parse(form.dataset.savedAt || "") || 0;
  if (local && local.draft && !form.dataset.posted && !local.synced && local.at > serverAt) {
    fill(local.draft);
    say(form.dataset.textRestored);
    schedule();
  }

  // -- a prescription: the drug's type-ahead, its products, the checks as she types ----
  function prescribing(rx) {
    const lang = document.documentElement.lang || "ru";
    const csrf = rx.querySelector("input[name=csrf]").value;
    const drug = rx.querySelector("#rx-drug");
    const list = rx.querySelector("#rx-drug-list");
    const product = rx.querySelector("#rx-product");
    const unit = rx.querySelector("#rx-unit");
    const findings = rx.querySelector("#rx-findings");
    const computed = rx.querySelector("#rx-computed");
    const overrideBox = rx.querySelector("#rx-override-box");
    const find = rx.querySelector("#rx-find");
    let wait = null;
    let checkWait = null;
    let asked = 0;
    let checked = 0;
    let active = -1;
    let found = [];
    if (find) { find.hidden = true; }  // the type-ahead finds as she types

    function close() {
      list.hidden = true;
      drug.setAttribute("aria-expanded", "false");
      drug.removeAttribute("aria-activedescendant");
      active = -1;
    }
    function products(d) {
      product.innerHTML = "";
      d.products.forEach(function (p, i) {
        const o = document.createElement("option");
        o.value = p.code;
        o.dataset.unit = p.dosage_unit;
        o.textContent = d.name + ", " + p.form + ", " + p.strength + " (" + p.pack + " " + rx.dataset.textPack + ")";
        if (i === 0) { o.selected = true; }
        product.appendChild(o);
      });
      showUnit();
    }
    function choose(n) {
      const d = found[n];
      if (!d) { return; }
      drug.value = d.name;
      products(d);
      close();
      scheduleCheck();
    }
    function mark(n) {
      const options = list.querySelectorAll("[role=option]");
      if (!options.length || !found.length) { return; }
      active = (n + options.length) % options.length;
      options.forEach(function (o, i) { o.setAttribute("aria-selected", i === active ? "true" : "false"); });
      drug.setAttribute("aria-activedescendant", options[active].id);
    }
    async function ask() {
      const q = drug.value.trim();
      if (q.length < 2) { close(); return; }
      const mine = ++asked;
      let answer = [];
      try {
        const r = await fetch("/api/v1/drugs?limit=10&q=" + encodeURIComponent(q.slice(0, 60)),
                              { headers: { "Accept-Language": lang } });
        answer = r.ok ? await r.json() : [];
      } catch (e) { answer = []; }
      if (mine !== asked) { return; }
      found = answer;
      list.innerHTML = "";
      answer.forEach(function (d, i) {
        const li = document.createElement("li");
        li.id = "rx-drug-option-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.textContent = d.name + (d.matched.toLowerCase() !== d.name.toLowerCase() ? " (" + d.matched + ")" : "");
        li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(i); });
        list.appendChild(li);
      });
      if (!answer.length) {
        const li = document.createElement("li");
        li.id = "rx-drug-option-none";
        li.setAttribute("role", "option");
        li.setAttribute("aria-disabled", "true");
        li.setAttribute("aria-selected", "false");
        li.textContent = rx.dataset.textNone;
        list.appendChild(li);
      }
      list.hidden = false;
      drug.setAttribute("aria-expanded", "true");
      active = -1;
    }
    drug.addEventListener("input", function () { clearTimeout(wait); wait = setTimeout(ask, 250); });
    drug.addEventListener("keydown", function (ev) {
      if (list.hidden) { return; }
      if (ev.key === "ArrowDown") { ev.preventDefault(); mark(active + 1); }
      else if (ev.key === "ArrowUp") { ev.preventDefault(); mark(active - 1); }
      else if (ev.key === "Enter" && active >= 0) { ev.preventDefault(); choose(active); }
      else if (ev.key === "Escape") { close(); }
    });
    drug.addEventListener("blur", function () { setTimeout(close, 150); });

    function showUnit() {
      const o = product.selectedOptions[0];
      unit.textContent = o && o.dataset.unit ? "(" + o.dataset.unit + ")" : "";
    }
    function value(id) { return (rx.querySelector(id).value || "").trim().replace(",", "."); }
    function body() {
      const b = {
        product: product.value,
        dose: Number(value("#rx-dose")),
        per_day: Number(value("#rx-per-day")),
        days: Number(value("#rx-days")),
        schedule: rx.querySelector("#rx-schedule").value,
      };
      if (value("#rx-quantity")) { b.quantity = Number(value("#rx-quantity")); }
      if (b.schedule !== "once" && value("#rx-months")) { b.months = Number(value("#rx-months")); }
      if (rx.querySelector("#rx-benefit").value) { b.benefit = rx.querySelector("#rx-benefit").value; }
      return b;
    }
    function line(cls, text, alert) {
      const p = document.createElement("p");
      p.className = "finding " + cls;
      if (alert) { p.setAttribute("role", "alert"); }
      p.textContent = text;
      return p;
    }
    async function check() {
      const b = body();
      if (!b.product || !b.dose || !b.per_day || !b.days) { return; }
      const mine = ++checked;
      let answer = null;
      let ok = false;
      try {
        const r = await fetch(rx.dataset.checks, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept-Language": lang },
          body: JSON.stringify(b),
        });
        ok = r.ok;
        answer = await r.json();
      } catch (e) { return; }  // no connection: the form's own check still works
      if (mine !== checked || !answer) { return; }
      findings.innerHTML = "";
      if (!ok) {
        computed.textContent = "";
        findings.appendChild(line("major", answer.error || answer.detail || "", false));
        return;
      }
      const labels = JSON.parse(rx.dataset.labels || "{}");
      answer.findings.forEach(function (f) {
        const head = (labels[f.severity] || f.severity) + " (" + (labels[f.check] || f.check) + "): ";
        const p = line(f.severity, "", f.severity === "contraindicated");
        const strong = document.createElement("strong");
        strong.textContent = head.charAt(0).toUpperCase() + head.slice(1);
        p.appendChild(strong);
        p.appendChild(document.createTextNode(f.message));
        findings.appendChild(p);
      });
      if (!answer.findings.length) { findings.appendChild(line("ok", rx.dataset.textClean, false)); }
      computed.textContent = rx.dataset.textQuantity + ": " + answer.quantity + "; " + rx.dataset.textValid +
        " " + answer.valid_until_text + (answer.periods > 1 ? "; " + rx.dataset.textPeriods + ": " + answer.periods : "");
      overrideBox.hidden = !answer.blocked;
    }
    function scheduleCheck() { clearTimeout(checkWait); checkWait = setTimeout(check, 400); }
    product.addEventListener("change", function () { showUnit(); scheduleCheck(); });
    ["#rx-dose", "#rx-per-day", "#rx-days", "#rx-quantity", "#rx-months"].forEach(function (id) {
      rx.querySelector(id).addEventListener("input", scheduleCheck);
    });
    ["#rx-schedule", "#rx-benefit"].forEach(function (id) { rx.querySelector(id).addEventListener("change", scheduleCheck); });
    showUnit();
  }

  // -- ICD-10 type-ahead: a combobox with a listbox of the API's answers --------------
  function diagnosisRows(owner) {
    const rows = owner.querySelector("#dx-rows");
    const more = owner.querySelector("#dx-more");
    owner.addDiagnosisRow = function () {
      const all = rows.querySelectorAll("[data-dx-row]");
      const copy = all[all.length - 1].cloneNode(true);
      const n = all.length;
      copy.querySelectorAll("[id]").forEach(function (el) { el.id = el.id.replace(/^dx-\d+-/, "dx-" + n + "-"); });
      copy.querySelectorAll("[for]").forEach(function (el) { el.htmlFor = el.htmlFor.replace(/^dx-\d+-/, "dx-" + n + "-"); });
      copy.querySelectorAll("[name]").forEach(function (el) { el.name = el.name.replace(/^dx-\d+-/, "dx-" + n + "-"); });
      copy.querySelectorAll("[aria-controls]").forEach(function (el) { el.setAttribute("aria-controls", "dx-" + n + "-list"); });
      copy.querySelectorAll("[aria-describedby]").forEach(function (el) { el.setAttribute("aria-describedby", "dx-" + n + "-title"); });
      const label = copy.querySelector("label");
      label.textContent = label.textContent.replace(/\d+/, String(n + 1));
      const code = copy.querySelector("[data-dx=code]");
      code.value = "";
      copy.querySelector(".dx-title").textContent = "";
      const list = copy.querySelector("[role=listbox]");
      list.innerHTML = "";
      list.hidden = true;
      rows.appendChild(copy);
      combobox(copy);
      return copy;
    };
    if (more) {
      more.hidden = false;
      more.addEventListener("click", function () { owner.addDiagnosisRow().querySelector("[data-dx=code]").focus(); });
    }
    rows.querySelectorAll("[data-dx-row]").forEach(combobox);
  }

  function combobox(row) {
    const input = row.querySelector("[data-dx=code]");
    const list = row.querySelector("[role=listbox]");
    const title = row.querySelector(".dx-title");
    const lang = document.documentElement.lang || "ru";
    let wait = null;
    let active = -1;
    let asked = 0;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }
    function choose(option) {
      input.value = option.dataset.code;
      title.textContent = option.dataset.title;
      close();
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
    function mark(n) {
      const options = list.querySelectorAll("[role=option]");
      if (!options.length) { return; }
      active = (n + options.length) % options.length;
      options.forEach(function (o, i) { o.setAttribute("aria-selected", i === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", options[active].id);
      options[active].scrollIntoView({ block: "nearest" });
    }
    async function ask() {
      const q = input.value.trim();
      if (q.length < 2) { close(); return; }
      const mine = ++asked;
      let found = [];
      try {
        const answer = await fetch("/api/v1/diagnoses?limit=15&q=" + encodeURIComponent(q.slice(0, 60)),
                                   { headers: { "Accept-Language": lang } });
        found = answer.ok ? await answer.json() : [];
      } catch (e) { found = []; }
      if (mine !== asked) { return; }  // a later question is on its way
      list.innerHTML = "";
      found.forEach(function (d, i) {
        const li = document.createElement("li");
        li.id = list.id + "-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.dataset.code = d.code;
        li.dataset.title = d.title;
        li.textContent = d.code + " — " + d.title;
        li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(li); });
        list.appendChild(li);
      });
      if (!found.length) {
        const li = document.createElement("li");
        li.setAttribute("role", "option");
        li.setAttribute("aria-disabled", "true");
        li.setAttribute("aria-selected", "false");
        li.id = list.id + "-none";
        li.textContent = (form && form.dataset.textNone) || "—";
        list.appendChild(li);
      }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
    }
    input.addEventListener("input", function () {
      title.textContent = "";
      clearTimeout(wait);
      wait = setTimeout(ask, 250);
    });
    input.addEventListener("keydown", function (ev) {
      if (list.hidden) { return; }
      if (ev.key === "ArrowDown") { ev.preventDefault(); mark(active + 1); }
      else if (ev.key === "ArrowUp") { ev.preventDefault(); mark(active - 1); }
      else if (ev.key === "Enter" && active >= 0) {
        ev.preventDefault();
        const option = list.querySelectorAll("[role=option]")[active];
        if (option && option.dataset.code) { choose(option); }
      } else if (ev.key === "Escape") { close(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  }
})();
