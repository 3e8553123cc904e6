// Drives the chat widget on the local stack's demo page in Debian's headless Chromium.
// Usage: node widget.mjs <base url> <screenshot path> <console url>
// Tells the Rust test (tests/tests/browser.rs) where it is, a line at a time on stdout:
// - HANDED-OFF once the widget shows the handoff; AGENT-REPLY-SEEN once the rep's reply (which
//   the Rust test sends through /creatio/reply in between) is on screen;
// - MEASURE: the Rust test sends ten replies, one at a time, timing each from the webhook call to
//   the line SEEN <i> printed when it is on screen; NO-POLLS: no poll was made meanwhile;
// - DROP-READY: the Rust test drops every socket and sends a reply at once, then, on RECONNECTED,
//   one more; RECONNECT-OK: both shown, each once;
// - AXE-OK: axe-core finds no violation on the open panel;
// - CONSOLE-OK: the local console's buttons reply and resolve, and the widget closes its socket
//   when the closed case is pushed; SPANISH-OK: data-lang="es";
// - BLOCKED-HANDED-OFF / POLLED-OK: a visitor whose WebSockets never connect gets the reply by
//   polling.
import { chromium } from "playwright-core";
import { createRequire } from "node:module";

const [base, shot, consoleUrl] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 420, height: 760 } });
  page.on("dialog", async (d) => { await d.dismiss(); throw new Error("a dialog opened: script injection"); });
  await page.goto(base + "/");
  // Keyboard only: tab to the launcher, open it, type, press Enter.
  await page.focus(".cb-launch");
  await page.keyboard.press("Enter");
  await page.waitForSelector(".cb-panel.cb-open");
  // The page's own greeting and avatar.
  await page.waitForSelector(".cb-assistant >> text=try order 5511");
  if (!(await page.$(".cb-head img.cb-avatar"))) throw new Error("no avatar");
  // The page's suggested first questions are offered while the conversation is empty.
  await page.waitForSelector(".cb-suggest >> text=What is your return policy?");
  if ((await page.$$(".cb-suggest")).length !== 2) throw new Error("not the two suggestions");
  await page.focus(".cb-form textarea");
  // The first answer is held back for a moment: "typing…" shows while the assistant works, and
  // goes once the answer is on screen.
  const slow = async (route) => {
    if (route.request().method() === "POST") await new Promise((r) => setTimeout(r, 1500));
    await route.continue();
  };
  await page.route("**/widget/sessions/*/messages", slow);
  await page.keyboard.type("What is your return policy?");
  await page.keyboard.press("Enter");
  await page.waitForSelector(".cb-typing.cb-show >> text=Assistant is typing", { timeout: 5000 });
  await page.waitForSelector(".cb-assistant >> text=30 days", { timeout: 15000 });
  await page.waitForSelector(".cb-typing.cb-show", { state: "detached", timeout: 5000 });
  await page.unroute("**/widget/sessions/*/messages", slow);
  await page.keyboard.type("I want to talk to a human");
  await page.keyboard.press("Enter");
  await page.waitForSelector(".cb-status.cb-show >> text=Connecting you to a person", { timeout: 15000 });
  await page.keyboard.type("<img src=x onerror=alert(1)> are you there?");
  await page.keyboard.press("Enter");
  await page.waitForSelector(".cb-customer >> text=are you there?", { timeout: 15000 });
  // A file, through the attach button's input: presigned upload, then the message that names it.
  await page.setInputFiles(".cb-form input[type=file]", {
    name: "receipt.pdf", mimeType: "application/pdf", buffer: Buffer.from("%PDF-1.4 casebridge e2e receipt"),
  });
  await page.waitForSelector(".cb-customer >> text=Sent a file: receipt.pdf", { timeout: 15000 });
  const href = await page.$eval(".cb-customer a.cb-file", (a) => a.href);
  const got = await page.evaluate(async (u) => (await fetch(u)).text(), href);
  if (got !== "%PDF-1.4 casebridge e2e receipt") throw new Error("the attachment link did not return the file: " + got);
  // Closed while the person answers: the launcher and the page title count what arrives.
  await page.keyboard.press("Escape");
  await page.waitForSelector(".cb-panel:not(.cb-open)", { state: "hidden" });
  console.log("HANDED-OFF");
  await page.waitForSelector(".cb-badge >> text=1", { timeout: 40000 });
  if (!(await page.title()).startsWith("(1) ")) throw new Error("the page title does not count: " + (await page.title()));
  await page.click(".cb-launch");
  await page.waitForSelector(".cb-agent >> text=Bob from support", { timeout: 40000 });
  if (await page.$eval(".cb-badge", (b) => b.textContent)) throw new Error("the count stayed after opening");
  const markup = await page.$$eval(".cb-msg img, .cb-msg b, .cb-msg script", (e) => e.length);
  if (markup) throw new Error("message markup was rendered as HTML");
  await page.screenshot({ path: shot, fullPage: true });
  // Every request the widget makes for new messages, from here on.
  let polls = 0;
  page.on("request", (r) => { if (r.method() === "GET" && /\/widget\/sessions\/[^/]+\/messages/.test(r.url())) polls++; });
  const sockets = [];
  page.on("websocket", (ws) => sockets.push(ws));
  // Reopened: its one poll now, so the next is a minute away while the socket is open.
  await page.keyboard.press("Escape");
  const reopened = page.waitForResponse((r) => /\/messages\?after=/.test(r.url()));
  await page.click(".cb-launch");
  await reopened;
  polls = 0;
  console.log("AGENT-REPLY-SEEN");
  console.log("MEASURE");
  for (let i = 1; i <= 10; i++) {
    await page.waitForSelector(`.cb-agent >> text=Measured reply ${i}.`, { timeout: 20000 });
    console.log("SEEN " + i);
  }
  if (polls !== 0) throw new Error(polls + " polls while the socket was open");
  console.log("NO-POLLS");
  // The socket drops (the Rust test closes it); a reply sent meanwhile and one after the
  // reconnect are each shown once.
  const before = sockets.length;
  console.log("DROP-READY");
  await page.waitForSelector(".cb-agent >> text=While you were away", { timeout: 20000 });
  for (let t = 0; sockets.length <= before || sockets[sockets.length - 1].isClosed(); t++) {
    if (t > 200) throw new Error("the socket did not reconnect");
    await page.waitForTimeout(100);
  }
  // Open, and its catch-up poll answered.
  await page.waitForTimeout(500);
  console.log("RECONNECTED");
  await page.waitForSelector(".cb-agent >> text=After the reconnect", { timeout: 20000 });
  for (const text of ["While you were away", "After the reconnect", "Measured reply 1.", "Measured reply 10."]) {
    const n = await page.$$eval(".cb-agent", (els, t) => els.filter((e) => e.textContent.includes(t)).length, text);
    if (n !== 1) throw new Error(`"${text}" is shown ${n} times`);
  }
  console.log("RECONNECT-OK");
  // axe-core on the open panel: names, roles, contrast (WCAG 2 A and AA).
  await page.addScriptTag({ path: createRequire(import.meta.url).resolve("axe-core/axe.min.js") });
  const axe = await page.evaluate(async () => {
    const r = await window.axe.run(".cb-panel, .cb-launch", { runOnly: ["wcag2a", "wcag2aa"] });
    return r.violations.map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", "));
  });
  if (axe.length) throw new Error("axe: " + axe.join("; "));
  console.log("AXE-OK");
  // The console, as a new user drives it: its forms must pass its own cross-site check.
  const desk = await browser.newPage();
  await desk.goto(consoleUrl);
  await desk.fill(".case textarea[name=text]", "Carol here from the console");
  await desk.click(".case button:has-text('Send reply')");
  await desk.waitForSelector("li >> text=Carol here from the console", { timeout: 15000 });
  await page.waitForSelector(".cb-agent >> text=Carol here from the console", { timeout: 40000 });
  await desk.click(".case button:has-text('Resolve the case')");
  await desk.waitForSelector("h1 >> text=Cases in Creatio", { timeout: 15000 });
  // The case resolved: the push says the conversation is over, and the widget closes its socket.
  for (let t = 0; !sockets[sockets.length - 1].isClosed(); t++) {
    if (t > 200) throw new Error("the socket stayed open after the case closed");
    await page.waitForTimeout(100);
  }
  console.log("CONSOLE-OK");
  // Another visitor, on the Spanish page: the interface and the greeting in Spanish.
  const es = await (await browser.newContext()).newPage();
  await es.goto(base + "/?lang=es");
  await es.click(".cb-launch");
  await es.waitForSelector(".cb-form button[type=submit] >> text=Enviar");
  if ((await es.getAttribute(".cb-form textarea", "placeholder")) !== "Escribe tu mensaje") throw new Error("the placeholder is not Spanish");
  await es.waitForSelector(".cb-assistant >> text=Hola", { timeout: 15000 });
  console.log("SPANISH-OK");
  // A visitor whose network blocks WebSockets (every socket fails to connect): polling still
  // brings the rep's reply.
  const blocked = await browser.newContext();
  await blocked.addInitScript(() => {
    const Real = window.WebSocket;
    window.__socketsTried = 0;
    window.WebSocket = function (url, protocols) { window.__socketsTried++; return new Real("ws://127.0.0.1:9/blocked", protocols); };
  });
  const poller = await blocked.newPage();
  let polled = 0;
  poller.on("request", (r) => { if (r.method() === "GET" && /\/messages\?after=/.test(r.url())) polled++; });
  await poller.goto(base + "/");
  await poller.click(".cb-launch");
  await poller.fill(".cb-form textarea", "I want to talk to a human");
  await poller.press(".cb-form textarea", "Enter");
  await poller.waitForSelector(".cb-status.cb-show >> text=Connecting you to a person", { timeout: 15000 });
  console.log("BLOCKED-HANDED-OFF");
  await poller.waitForSelector(".cb-agent >> text=Polling still works", { timeout: 40000 });
  if (!(await poller.evaluate(() => window.__socketsTried))) throw new Error("the widget never tried a socket");
  if (!polled) throw new Error("the reply came without a poll");
  console.log("POLLED-OK");
} finally {
  await browser.close();
}
