/* casebridge chat widget. Embed with one tag:
 *   <script src="https://<api>/widget.js" data-title="Support" data-identity="<site JWT, optional>" async></script>
 * No framework, no build step. Every message is rendered with textContent, never as HTML.
 * Agent replies arrive by polling: every 2 s while a person is on the case, backing off to 30 s
 * when nothing is new, and paused while the tab is hidden. A file (when the deployment allows
 * attachments) goes straight to storage with the presigned upload the API hands out.
 * The visitor id and its secret the API issues are kept in localStorage and presented together
 * to resume; a message's client_id is random per page load, so a retry is stored once and no
 * two visitors' ids meet. A 429 (a limit) is shown to the visitor as the API words it. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__casebridge) return;
  window.__casebridge = true;
  var api = (script.getAttribute("data-api") || new URL(script.src).origin).replace(/\/$/, "");
  var title = script.getAttribute("data-title") || "Chat with us";
  var identity = script.getAttribute("data-identity") || null;
  var color = script.getAttribute("data-color") || "#2563eb";
  var store = window.localStorage;
  var KEY = "casebridge:" + api;

  var state = { session: null, token: null, last: 0, open: false, timer: null, delay: 2000, phase: "assistant" };
  try { Object.assign(state, JSON.parse(store.getItem(KEY) || "{}"), { open: false, timer: null, delay: 2000 }); } catch (e) { /* fresh start */ }
  function save() {
    try { store.setItem(KEY, JSON.stringify({ session: state.session, token: state.token, visitor: state.visitor, secret: state.secret, last: state.last, files: state.files })); } catch (e) { /* private mode */ }
  }

  function el(tag, attrs, text) {
    var n = document.createElement(tag);
    for (var k in attrs || {}) n.setAttribute(k, attrs[k]);
    if (text != null) n.textContent = text;
    return n;
  }

  var css = el("style", {}, [
    ".cb-launch{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:28px;padding:14px 20px;font:600 15px system-ui,sans-serif;color:#fff;background:" + color + ";box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer}",
    ".cb-launch:focus-visible,.cb-panel button:focus-visible,.cb-panel textarea:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}",
    ".cb-panel{position:fixed;right:20px;bottom:84px;z-index:2147483000;width:min(380px,calc(100vw - 24px));height:min(560px,calc(100vh - 110px));display:none;flex-direction:column;background:#fff;color:#111;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);font:15px/1.45 system-ui,sans-serif;overflow:hidden}",
    ".cb-panel.cb-open{display:flex}",
    ".cb-head{display:flex;justify-content:space-between;align-items:center;padding:12px 14px;background:" + color + ";color:#fff;font-weight:600}",
    ".cb-head button{background:transparent;border:0;color:#fff;font-size:22px;line-height:1;cursor:pointer}",
    ".cb-log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px}",
    ".cb-msg{max-width:85%;padding:8px 12px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}",
    ".cb-customer{align-self:flex-end;background:" + color + ";color:#fff}",
    ".cb-assistant{align-self:flex-start;background:#f1f5f9}",
    ".cb-agent{align-self:flex-start;background:#dcfce7}",
    ".cb-who{display:block;font-size:12px;opacity:.75}",
    ".cb-status{padding:6px 12px;font-size:13px;background:#fef3c7;display:none}",
    ".cb-status.cb-show{display:block}",
    ".cb-form{display:flex;gap:8px;padding:10px;border-top:1px solid #e5e7eb}",
    ".cb-form textarea{flex:1;resize:none;border:1px solid #cbd5e1;border-radius:8px;padding:8px;font:inherit;min-height:40px;max-height:120px}",
    ".cb-form button{border:0;border-radius:8px;padding:0 14px;background:" + color + ";color:#fff;font-weight:600;cursor:pointer}",
    ".cb-form button:disabled{opacity:.5;cursor:default}",
    ".cb-form .cb-attach{background:#e2e8f0;color:#111;padding:0 10px;display:none}",
    ".cb-form .cb-attach.cb-show{display:block}",
    ".cb-file{display:block;margin-top:4px;color:inherit;text-decoration:underline}",
    ".cb-card-title{display:block}.cb-card{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:6px 0 0}.cb-card dt{opacity:.7}.cb-card dd{margin:0}",
    "@media (max-width:480px){.cb-panel{right:0;bottom:0;width:100vw;height:100vh;border-radius:0}}"
  ].join("\n"));
  document.head.appendChild(css);

  var launch = el("button", { "class": "cb-launch", type: "button", "aria-haspopup": "dialog", "aria-expanded": "false" }, title);
  var panel = el("section", { "class": "cb-panel", role: "dialog", "aria-label": title });
  var head = el("div", { "class": "cb-head" });
  head.appendChild(el("span", {}, title));
  var close = el("button", { type: "button", "aria-label": "Close chat" }, "\u00d7");
  head.appendChild(close);
  var status = el("div", { "class": "cb-status", role: "status" });
  var log = el("div", { "class": "cb-log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  var form = el("form", { "class": "cb-form" });
  var input = el("textarea", { rows: "1", "aria-label": "Your message", placeholder: "Type your message", maxlength: "4000" });
  var send = el("button", { type: "submit" }, "Send");
  var picker = el("input", { type: "file", hidden: "", "aria-hidden": "true", tabindex: "-1" });
  var attachBtn = el("button", { type: "button", "class": "cb-attach", "aria-label": "Attach a file", title: "Attach a file" }, "+");
  form.appendChild(picker);
  form.appendChild(attachBtn);
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(head);
  panel.appendChild(status);
  panel.appendChild(log);
  panel.appendChild(form);
  document.body.appendChild(launch);
  document.body.appendChild(panel);

  var shown = {};
  var names = { customer: "You", assistant: "Assistant", agent: "Support team" };
  function render(m) {
    if (shown[m.seq] || !names[m.role]) return;
    shown[m.seq] = true;
    var b = el("div", { "class": "cb-msg cb-" + m.role, "data-role": m.role });
    b.appendChild(el("span", { "class": "cb-who" }, names[m.role]));
    if (m.card) card(b, m.card); else b.appendChild(document.createTextNode(m.text));
    (m.attachments || []).forEach(function (a) {
      if (!/^https?:\/\//.test(a.url)) return;
      var link = el("a", { "class": "cb-file", target: "_blank", rel: "noopener noreferrer" }, "Open attachment");
      link.href = a.url;
      b.appendChild(link);
    });
    log.appendChild(b);
    log.scrollTop = log.scrollHeight;
    if (m.role === "agent") setPhase("with_agent");
  }
  // An action's answer: title, label/value rows, https links; every part a text node.
  function card(b, c) {
    b.appendChild(el("strong", { "class": "cb-card-title" }, c.title));
    if (c.lead) b.appendChild(el("span", { "class": "cb-card-title" }, c.lead));
    var dl = el("dl", { "class": "cb-card" });
    (c.rows || []).slice(0, 8).forEach(function (r) {
      dl.appendChild(el("dt", {}, r.label));
      dl.appendChild(el("dd", {}, r.value));
    });
    b.appendChild(dl);
    (c.links || []).slice(0, 3).forEach(function (l) {
      if (!/^https:\/\//.test(l.url)) return;
      var a = el("a", { "class": "cb-file", target: "_blank", rel: "noopener noreferrer" }, l.label);
      a.href = l.url;
      b.appendChild(a);
    });
  }
  function note(text) {
    var b = el("div", { "class": "cb-msg cb-assistant" }, text);
    log.appendChild(b);
    log.scrollTop = log.scrollHeight;
  }
  function setPhase(p) {
    state.phase = p;
    if (p === "handoff_requested") { status.textContent = "Connecting you to a person\u2026"; status.className = "cb-status cb-show"; }
    else if (p === "with_agent") { status.textContent = "You are chatting with our support team."; status.className = "cb-status cb-show"; }
    else { status.className = "cb-status"; }
  }

  function request(method, path, body) {
    var headers = { "content-type": "application/json" };
    if (state.token) headers.authorization = "Bearer " + state.token;
    return fetch(api + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined })
      .then(function (r) { return r.json().then(function (j) { return { status: r.status, body: j }; }); });
  }

  function start() {
    var body = {};
    if (state.visitor && state.secret) { body.visitor_id = state.visitor; body.visitor_secret = state.secret; }
    if (identity) body.identity = identity;
    var lang = document.documentElement.lang || navigator.language;
    if (lang) body.language = String(lang).slice(0, 35);
    return request("POST", "/widget/sessions", body).then(function (r) {
      // An id from before ids were issued, or a secret that no longer matches: start afresh.
      if ((r.status === 400 || r.status === 401) && body.visitor_id) { state.visitor = state.secret = null; save(); return start(); }
      if (r.status !== 200) throw new Error(r.body.error || "could not start");
      state.session = r.body.session_id; state.token = r.body.token;
      state.visitor = r.body.visitor_id; state.secret = r.body.visitor_secret;
      state.files = r.body.attachments || null;
      showAttach();
      save();
      if (!r.body.messages.length && r.body.greeting) note(r.body.greeting);
      r.body.messages.forEach(render);
      state.last = r.body.last_seq;
      setPhase(r.body.state);
    });
  }

  function poll() {
    clearTimeout(state.timer);
    if (!state.session || document.hidden) return;
    request("GET", "/widget/sessions/" + state.session + "/messages?after=" + state.last).then(function (r) {
      if (r.status === 401 || r.status === 404) return start();
      var fresh = r.body.messages || [];
      fresh.forEach(render);
      if (r.body.last_seq > state.last) { state.last = r.body.last_seq; save(); }
      // One page at a time: more waiting is fetched at once.
      state.delay = r.body.more ? 0 : fresh.length ? 2000 : Math.min(state.delay * 2, 30000);
    }).catch(function () { state.delay = Math.min(state.delay * 2, 30000); })
      .then(schedule);
  }
  function schedule() {
    clearTimeout(state.timer);
    if (state.phase === "assistant" && !state.open) return;
    state.timer = setTimeout(poll, state.delay);
  }
  // 128 random bits per page load, then a counter: unique to this page, never reused.
  var pageId = (function () {
    var b = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  })();
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { state.delay = 2000; poll(); } });

  var counter = 0;
  function busy(on) { send.disabled = on; attachBtn.disabled = on; if (!on) input.focus(); }
  function failed(err) { note("Sorry, that did not go through (" + err.message + "). Please try again."); }
  function shown200(r) {
    if (r.status === 429) throw new Error(r.body.error || "too many messages; please wait");
    if (r.status !== 200) throw new Error(r.body.error || "not sent");
    r.body.messages.forEach(render);
    state.last = Math.max(state.last, r.body.last_seq);
    save();
    setPhase(r.body.state);
    state.delay = 2000;
    schedule();
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    busy(true);
    var clientId = "w-" + pageId + "-" + (counter++);
    var go = function () {
      return request("POST", "/widget/sessions/" + state.session + "/messages", { text: text, client_id: clientId });
    };
    (state.session ? Promise.resolve() : start()).then(go).then(function (r) {
      if (r.status === 401 || r.status === 404 || r.status === 409) return start().then(go);
      return r;
    }).then(shown200).catch(failed).then(function () { busy(false); });
  });

  function showAttach() { attachBtn.className = "cb-attach" + (state.files ? " cb-show" : ""); }
  showAttach();
  attachBtn.addEventListener("click", function () { picker.click(); });
  picker.addEventListener("change", function () {
    var file = picker.files && picker.files[0];
    picker.value = "";
    if (!file || !state.files) return;
    if (file.size > state.files.max_bytes) return note("That file is too large to send (the limit is " + Math.floor(state.files.max_bytes / 1048576 * 10) / 10 + " MB).");
    if (state.files.types.indexOf((file.type || "").toLowerCase()) < 0) return note("Files of that type cannot be sent here.");
    busy(true);
    var path = function (tail) { return "/widget/sessions/" + state.session + "/" + tail; };
    (state.session ? Promise.resolve() : start()).then(function () {
      return request("POST", path("attachments"), { name: file.name, content_type: file.type.toLowerCase(), size: file.size });
    }).then(function (r) {
      if (r.status !== 200) throw new Error(r.body.error || "not accepted");
      return fetch(r.body.upload.url, { method: "PUT", headers: r.body.upload.headers, body: file }).then(function (u) {
        if (!u.ok) throw new Error("the upload failed");
        return request("POST", path("messages"), { attachment_id: r.body.attachment_id });
      });
    }).then(shown200).catch(failed).then(function () { busy(false); });
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : send.click(); }
  });

  function toggle(open) {
    state.open = open;
    panel.className = "cb-panel" + (open ? " cb-open" : "");
    launch.setAttribute("aria-expanded", String(open));
    if (open) {
      (state.session ? Promise.resolve(poll()) : start()).catch(function (err) { note("Chat is unavailable right now (" + err.message + ")."); });
      input.focus();
    } else {
      launch.focus();
      schedule();
    }
  }
  launch.addEventListener("click", function () { toggle(!state.open); });
  close.addEventListener("click", function () { toggle(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") toggle(false); });
})();
