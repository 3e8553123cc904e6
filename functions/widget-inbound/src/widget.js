/* casebridge chat widget. Embed with one tag:
 *   <script src="https://<api>/widget.js" data-title="Support" data-identity="<site JWT, optional>" async></script>
 * Optional: data-color, data-position="left", data-launcher (its label), data-lang (en, es, de,
 * fr, pt; else the page's or the browser's language), data-suggestions ("First question|Second",
 * up to four, offered while the conversation is empty), data-greeting (instead of the
 * settings' greeting), data-avatar (an image URL for the panel's head). docs/widget.md lists them.
 * No framework, no build step. Every message is rendered with textContent, never as HTML.
 * Replies are pushed over a WebSocket when the deployment has one (socket_url in the session's
 * answer): each carries its seq, a seq is shown once, and after every (re)connect one poll asks
 * for what was missed. Polling is the fallback: every 2 s while a person is on the case, backing
 * off to 30 s when nothing is new, once a minute while the socket is open, paused while the tab
 * is hidden; a dropped socket reconnects with backoff. A rep's reply seen with the panel open and
 * the tab visible is reported once (POST …/read), so the case shows it was read. A file (when the deployment allows
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
  var attr = function (k) { return script.getAttribute("data-" + k); };
  // The interface in the page's language: data-lang, else <html lang>, else the browser's.
  var T = {
    en: ["Chat with us", "Close chat", "Conversation", "Your message", "Type your message", "Send", "Attach a file", "You", "Assistant", "Support team", "Connecting you to a person\u2026", "You are chatting with our support team.", "Open attachment", "Sorry, that did not go through", "Please try again.", "Chat is unavailable right now", "new", "That file is too large to send", "Files of that type cannot be sent here.", "Assistant is typing\u2026"],
    es: ["Chatea con nosotros", "Cerrar el chat", "Conversaci\u00f3n", "Tu mensaje", "Escribe tu mensaje", "Enviar", "Adjuntar un archivo", "T\u00fa", "Asistente", "Equipo de soporte", "Te estamos pasando con una persona\u2026", "Est\u00e1s hablando con nuestro equipo de soporte.", "Abrir el adjunto", "Lo sentimos, no se pudo enviar", "Int\u00e9ntalo de nuevo.", "El chat no est\u00e1 disponible ahora", "nuevos", "Ese archivo es demasiado grande", "No se pueden enviar archivos de ese tipo.", "El asistente est\u00e1 escribiendo\u2026"],
    de: ["Chatten Sie mit uns", "Chat schlie\u00dfen", "Unterhaltung", "Ihre Nachricht", "Nachricht eingeben", "Senden", "Datei anh\u00e4ngen", "Sie", "Assistent", "Support-Team", "Wir verbinden Sie mit einem Menschen\u2026", "Sie chatten mit unserem Support-Team.", "Anhang \u00f6ffnen", "Das hat leider nicht geklappt", "Bitte versuchen Sie es erneut.", "Der Chat ist gerade nicht verf\u00fcgbar", "neu", "Diese Datei ist zu gro\u00df", "Dateien dieses Typs k\u00f6nnen hier nicht gesendet werden.", "Der Assistent schreibt\u2026"],
    fr: ["Discutez avec nous", "Fermer le chat", "Conversation", "Votre message", "\u00c9crivez votre message", "Envoyer", "Joindre un fichier", "Vous", "Assistant", "\u00c9quipe support", "Nous vous mettons en relation avec un conseiller\u2026", "Vous discutez avec notre \u00e9quipe support.", "Ouvrir la pi\u00e8ce jointe", "D\u00e9sol\u00e9, l'envoi a \u00e9chou\u00e9", "Veuillez r\u00e9essayer.", "Le chat est indisponible pour le moment", "nouveaux", "Ce fichier est trop volumineux", "Les fichiers de ce type ne peuvent pas \u00eatre envoy\u00e9s ici.", "L\u2019assistant \u00e9crit\u2026"],
    pt: ["Fale conosco", "Fechar o chat", "Conversa", "Sua mensagem", "Digite sua mensagem", "Enviar", "Anexar um arquivo", "Voc\u00ea", "Assistente", "Equipe de suporte", "Estamos te passando para uma pessoa\u2026", "Voc\u00ea est\u00e1 falando com nossa equipe de suporte.", "Abrir o anexo", "Desculpe, n\u00e3o foi enviado", "Tente de novo.", "O chat est\u00e1 indispon\u00edvel agora", "novas", "Esse arquivo \u00e9 grande demais", "Arquivos desse tipo n\u00e3o podem ser enviados aqui.", "O assistente est\u00e1 digitando\u2026"]
  };
  var lang = String(attr("lang") || document.documentElement.lang || navigator.language || "en").slice(0, 2).toLowerCase();
  if (!T[lang]) lang = "en";
  var t = T[lang];
  var title = attr("title") || t[0];
  var identity = attr("identity") || null;
  var color = attr("color") || "#2563eb";
  var side = attr("position") === "left" ? "left" : "right";
  var greeting = attr("greeting");
  // An image, and only an image: http(s), a same-site path, or an inline data:image.
  var avatar = (function (u) {
    if (!u) return null;
    try { var url = new URL(u, document.baseURI); } catch (e) { return null; }
    return /^https?:$/.test(url.protocol) || /^data:image\//.test(u) ? url.href : null;
  })(attr("avatar"));
  var suggestions = (attr("suggestions") || "").split("|").map(function (q) { return q.trim(); }).filter(Boolean).slice(0, 4);
  var store = window.localStorage;
  var KEY = "casebridge:" + api;

  var state = { session: null, token: null, last: 0, open: false, timer: null, delay: 2000, phase: "assistant" };
  try { Object.assign(state, JSON.parse(store.getItem(KEY) || "{}"), { open: false, timer: null, delay: 2000 }); } catch (e) { /* fresh start */ }
  // The push socket: open (live), its URL, and the wait before the next reconnect.
  var sock = { ws: null, live: false, url: state.socket || null, wait: 1000, timer: null, failed: 0 };
  function save() {
    try { store.setItem(KEY, JSON.stringify({ session: state.session, token: state.token, visitor: state.visitor, secret: state.secret, last: state.last, files: state.files, socket: sock.url, read: state.read })); } catch (e) { /* private mode */ }
  }

  function el(tag, attrs, text) {
    var n = document.createElement(tag);
    for (var k in attrs || {}) n.setAttribute(k, attrs[k]);
    if (text != null) n.textContent = text;
    return n;
  }

  var css = el("style", {}, [
    ".cb-launch{position:fixed;" + side + ":20px;bottom:20px;z-index:2147483000;border:0;border-radius:28px;padding:14px 20px;font:600 15px system-ui,sans-serif;color:#fff;background:" + color + ";box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer}",
    ".cb-launch:focus-visible,.cb-panel button:focus-visible,.cb-panel textarea:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}",
    ".cb-panel{position:fixed;" + side + ":20px;bottom:84px;z-index:2147483000;width:min(380px,calc(100vw - 24px));height:min(560px,calc(100vh - 110px));display:none;flex-direction:column;background:#fff;color:#111;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);font:15px/1.45 system-ui,sans-serif;overflow:hidden}",
    ".cb-panel.cb-open{display:flex}",
    ".cb-head{display:flex;justify-content:space-between;align-items:center;padding:12px 14px;background:" + color + ";color:#fff;font-weight:600}",
    ".cb-avatar{border-radius:50%;margin-right:8px;object-fit:cover}",
    ".cb-head button{background:transparent;border:0;color:#fff;font-size:22px;line-height:1;cursor:pointer}",
    ".cb-log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px}",
    ".cb-msg{max-width:85%;padding:8px 12px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}",
    ".cb-customer{align-self:flex-end;background:" + color + ";color:#fff}",
    ".cb-assistant{align-self:flex-start;background:#f1f5f9}",
    ".cb-agent{align-self:flex-start;background:#dcfce7}",
    ".cb-who{display:block;font-size:12px;opacity:.75}",
    ".cb-status{padding:6px 12px;font-size:13px;background:#fef3c7;display:none}",
    ".cb-status.cb-show{display:block}",
    ".cb-typing{display:none;padding:2px 12px 6px;font-size:13px;font-style:italic;opacity:.75}",
    ".cb-typing.cb-show{display:block;animation:cb-pulse 1.4s ease-in-out infinite}",
    "@keyframes cb-pulse{50%{opacity:.35}}",
    ".cb-form{display:flex;gap:8px;padding:10px;border-top:1px solid #e5e7eb}",
    ".cb-form textarea{flex:1;resize:none;border:1px solid #cbd5e1;border-radius:8px;padding:8px;font:inherit;min-height:40px;max-height:120px}",
    ".cb-form button{border:0;border-radius:8px;padding:0 14px;background:" + color + ";color:#fff;font-weight:600;cursor:pointer}",
    ".cb-form button:disabled{opacity:.5;cursor:default}",
    ".cb-form .cb-attach{background:#e2e8f0;color:#111;padding:0 10px;display:none}",
    ".cb-form .cb-attach.cb-show{display:block}",
    ".cb-file{display:block;margin-top:4px;color:inherit;text-decoration:underline}",
    ".cb-card-title{display:block}.cb-card{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:6px 0 0}.cb-card dt{opacity:.7}.cb-card dd{margin:0}",
    ".cb-badge{display:inline-block;min-width:1.2em;margin-left:6px;padding:0 5px;border-radius:9px;background:#dc2626;font-size:12px}.cb-badge:empty{display:none}",
    ".cb-suggest{align-self:flex-start;border:1px solid " + color + ";color:inherit;background:transparent;border-radius:14px;padding:4px 10px;cursor:pointer;font:inherit}",
    "@media (prefers-color-scheme:dark){.cb-panel{background:#111827;color:#f3f4f6}.cb-assistant{background:#1f2937}.cb-agent{background:#14532d}.cb-status{background:#78350f}.cb-form{border-color:#374151}.cb-form textarea{background:#1f2937;color:inherit;border-color:#4b5563}}",
    "@media (prefers-reduced-motion:reduce){.cb-panel,.cb-launch,.cb-typing{transition:none;animation:none;scroll-behavior:auto}}",
    "@media (max-width:480px){.cb-panel{" + side + ":0;bottom:0;width:100vw;height:100vh;border-radius:0}}"
  ].join("\n"));
  document.head.appendChild(css);

  var launch = el("button", { "class": "cb-launch", type: "button", "aria-haspopup": "dialog", "aria-expanded": "false" }, attr("launcher") || title);
  var badge = el("span", { "class": "cb-badge", "aria-label": t[16] });
  launch.appendChild(badge);
  var panel = el("section", { "class": "cb-panel", role: "dialog", "aria-label": title });
  var head = el("div", { "class": "cb-head" });
  if (avatar) {
    var img = el("img", { "class": "cb-avatar", alt: "", width: "28", height: "28", referrerpolicy: "no-referrer" });
    img.src = avatar;
    head.appendChild(img);
  }
  head.appendChild(el("span", {}, title));
  var close = el("button", { type: "button", "aria-label": t[1] }, "\u00d7");
  head.appendChild(close);
  var status = el("div", { "class": "cb-status", role: "status" });
  var log = el("div", { "class": "cb-log", role: "log", "aria-live": "polite", "aria-label": t[2] });
  // Shown while the assistant works on the visitor's message (the request is in flight).
  var typing = el("div", { "class": "cb-typing", role: "status" }, t[19]);
  var form = el("form", { "class": "cb-form" });
  var input = el("textarea", { rows: "1", "aria-label": t[3], placeholder: t[4], maxlength: "4000" });
  var send = el("button", { type: "submit" }, t[5]);
  var picker = el("input", { type: "file", hidden: "", "aria-hidden": "true", tabindex: "-1" });
  var attachBtn = el("button", { type: "button", "class": "cb-attach", "aria-label": t[6], title: t[6] }, "+");
  form.appendChild(picker);
  form.appendChild(attachBtn);
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(head);
  panel.appendChild(status);
  panel.appendChild(log);
  panel.appendChild(typing);
  panel.appendChild(form);
  document.body.appendChild(launch);
  document.body.appendChild(panel);

  var shown = {};
  var names = { customer: t[7], assistant: t[8], agent: t[9] };
  // While the panel is closed, what arrives is counted on the launcher and in the page title.
  var unread = 0, pageTitle = document.title;
  function count(n) {
    unread = n;
    badge.textContent = n ? String(n) : "";
    document.title = n ? "(" + n + ") " + pageTitle : pageTitle;
  }
  function render(m) {
    if (shown[m.seq] || !names[m.role]) return;
    shown[m.seq] = true;
    var b = el("div", { "class": "cb-msg cb-" + m.role, "data-role": m.role });
    b.appendChild(el("span", { "class": "cb-who" }, names[m.role]));
    if (m.card) card(b, m.card); else b.appendChild(document.createTextNode(m.text));
    (m.attachments || []).forEach(function (a) {
      if (!/^https?:\/\//.test(a.url)) return;
      var link = el("a", { "class": "cb-file", target: "_blank", rel: "noopener noreferrer" }, t[12]);
      link.href = a.url;
      b.appendChild(link);
    });
    log.appendChild(b);
    log.scrollTop = log.scrollHeight;
    if (!state.open && m.role !== "customer") count(unread + 1);
    if (m.role === "agent") { setPhase("with_agent"); seen = Math.max(seen, m.seq); markRead(); }
  }
  // A read receipt for the rep: the newest reply the visitor has had on screen, said once.
  var seen = 0;
  function markRead() {
    if (!state.open || document.hidden || !state.session || seen <= (state.read || 0)) return;
    var before = state.read || 0;
    state.read = seen;
    save();
    var undo = function () { state.read = Math.min(state.read, before); save(); };
    request("POST", "/widget/sessions/" + state.session + "/read", { seq: seen }).then(function (r) { if (r.status !== 200) undo(); }, undo);
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
    if (p === "handoff_requested") { status.textContent = t[10]; status.className = "cb-status cb-show"; }
    else if (p === "with_agent") { status.textContent = t[11]; status.className = "cb-status cb-show"; }
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
    body.language = lang;
    return request("POST", "/widget/sessions", body).then(function (r) {
      // An id from before ids were issued, or a secret that no longer matches: start afresh.
      if ((r.status === 400 || r.status === 401) && body.visitor_id) { state.visitor = state.secret = null; save(); return start(); }
      if (r.status !== 200) throw new Error(r.body.error || "could not start");
      if (state.session !== r.body.session_id) { state.read = 0; seen = 0; shown = {}; sock.failed = 0; }
      state.session = r.body.session_id; state.token = r.body.token;
      state.visitor = r.body.visitor_id; state.secret = r.body.visitor_secret;
      state.files = r.body.attachments || null;
      sock.url = r.body.socket_url || null;
      showAttach();
      save();
      if (!r.body.messages.length && (greeting || r.body.greeting)) note(greeting || r.body.greeting);
      if (!r.body.messages.length) offer();
      r.body.messages.forEach(render);
      state.last = r.body.last_seq;
      setPhase(r.body.state);
      connect();
    });
  }

  // Pushes: one socket per session, opened with the token and a proof the browser computes from
  // the visitor secret (HMAC, WebCrypto), valid four minutes: the secret never goes in a URL.
  function b64url(buf) {
    var t = "";
    new Uint8Array(buf).forEach(function (b) { t += String.fromCharCode(b); });
    return btoa(t).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function connect() {
    clearTimeout(sock.timer);
    if (sock.ws) { sock.ws.onclose = null; sock.ws.close(); sock.ws = null; sock.live = false; }
    var subtle = window.crypto && window.crypto.subtle;
    // Five handshakes that never opened (blocked, refused): polling only, until the next session.
    if (!sock.url || !state.session || !state.secret || !window.WebSocket || !subtle || sock.failed >= 5) return;
    var session = state.session, expires = Math.floor(Date.now() / 1000) + 240, enc = new TextEncoder();
    subtle.importKey("raw", enc.encode(state.secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]).then(function (k) {
      return subtle.sign("HMAC", k, enc.encode("casebridge-socket:" + session + ":" + expires));
    }).then(function (mac) {
      if (session !== state.session || sock.ws) return;
      var ws;
      try {
        ws = new WebSocket(sock.url + "?session=" + encodeURIComponent(session) + "&token=" + encodeURIComponent(state.token) + "&expires=" + expires + "&proof=" + b64url(mac));
      } catch (e) { return; }
      sock.ws = ws;
      ws.onopen = function () { sock.live = true; sock.wait = 1000; sock.failed = 0; state.delay = 60000; poll(); };
      ws.onmessage = function (e) {
        var f;
        try { f = JSON.parse(e.data); } catch (err) { return; }
        if (f.state) setPhase(f.state);
        // A seq skipped (a push lost while the socket was down): the poll brings it all, in order.
        if (f.first_seq > state.last + 1) poll();
        else {
          (f.messages || []).forEach(render);
          if (f.last_seq > state.last) { state.last = f.last_seq; save(); }
        }
        // Over: nothing more will come on this socket (the next message starts a new conversation).
        if (f.state === "closed") ws.close();
      };
      ws.onclose = function () {
        var was = sock.live;
        sock.ws = null; sock.live = false;
        if (!was) sock.failed = (sock.failed || 0) + 1;
        // Back to polling at once, and try the socket again later (not for a closed conversation:
        // the next message starts a new one, and its own socket).
        if (was) { state.delay = 2000; schedule(); }
        if (state.phase === "closed") return;
        sock.timer = setTimeout(connect, sock.wait);
        sock.wait = Math.min(sock.wait * 2, 30000);
      };
    }).catch(function () { /* no WebCrypto here: polling only */ });
  }

  function poll() {
    clearTimeout(state.timer);
    if (!state.session || document.hidden) return;
    request("GET", "/widget/sessions/" + state.session + "/messages?after=" + state.last).then(function (r) {
      if (r.status === 401 || r.status === 404) return start();
      var fresh = r.body.messages || [];
      fresh.forEach(render);
      if (r.body.last_seq > state.last) { state.last = r.body.last_seq; save(); }
      // One page at a time: more waiting is fetched at once. With a live socket, once a minute.
      state.delay = r.body.more ? 0 : sock.live ? 60000 : fresh.length ? 2000 : Math.min(state.delay * 2, 30000);
    }).catch(function () { state.delay = sock.live ? 60000 : Math.min(state.delay * 2, 30000); })
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
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { state.delay = sock.live ? 60000 : 2000; poll(); markRead(); } });

  var counter = 0;
  function busy(on) { send.disabled = on; attachBtn.disabled = on; if (!on) input.focus(); }
  function failed(err) { note(t[13] + " (" + err.message + "). " + t[14]); }
  function shown200(r) {
    if (r.status === 429) throw new Error(r.body.error || "too many messages; please wait");
    if (r.status !== 200) throw new Error(r.body.error || "not sent");
    r.body.messages.forEach(render);
    state.last = Math.max(state.last, r.body.last_seq);
    save();
    setPhase(r.body.state);
    state.delay = sock.live ? 60000 : 2000;
    schedule();
  }
  // Suggested first questions: buttons that send their text, gone once the visitor writes.
  function offer() {
    suggestions.forEach(function (q) {
      var b = el("button", { type: "button", "class": "cb-suggest" }, q);
      b.addEventListener("click", function () { input.value = q; form.requestSubmit ? form.requestSubmit() : send.click(); });
      log.appendChild(b);
    });
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    Array.prototype.forEach.call(log.querySelectorAll(".cb-suggest"), function (b) { b.remove(); });
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    busy(true);
    typing.className = "cb-typing cb-show";
    var clientId = "w-" + pageId + "-" + (counter++);
    var go = function () {
      return request("POST", "/widget/sessions/" + state.session + "/messages", { text: text, client_id: clientId });
    };
    (state.session ? Promise.resolve() : start()).then(go).then(function (r) {
      if (r.status === 401 || r.status === 404 || r.status === 409) return start().then(go);
      return r;
    }).then(shown200).catch(failed).then(function () { typing.className = "cb-typing"; busy(false); });
  });

  function showAttach() { attachBtn.className = "cb-attach" + (state.files ? " cb-show" : ""); }
  showAttach();
  attachBtn.addEventListener("click", function () { picker.click(); });
  picker.addEventListener("change", function () {
    var file = picker.files && picker.files[0];
    picker.value = "";
    if (!file || !state.files) return;
    if (file.size > state.files.max_bytes) return note(t[17] + " (max " + Math.floor(state.files.max_bytes / 1048576 * 10) / 10 + " MB).");
    if (state.files.types.indexOf((file.type || "").toLowerCase()) < 0) return note(t[18]);
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
    }).then(shown200).catch(failed).then(function () { typing.className = "cb-typing"; busy(false); });
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : send.click(); }
  });

  function toggle(open) {
    state.open = open;
    panel.className = "cb-panel" + (open ? " cb-open" : "");
    launch.setAttribute("aria-expanded", String(open));
    if (open) {
      count(0);
      markRead();
      (state.session ? Promise.resolve(poll()) : start()).catch(function (err) { note(t[15] + " (" + err.message + ")."); });
      if (state.session && !sock.ws) connect();
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
