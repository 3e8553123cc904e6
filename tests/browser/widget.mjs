// Drives the chat widget on the local stack's demo page in Debian's headless Chromium.
// Usage: node widget.mjs <base url> <screenshot path> <console url>
// Prints HANDED-OFF once the widget shows the handoff, and AGENT-REPLY-SEEN once the rep's reply
// is on screen (the Rust test injects it through /creatio/reply in between); then, in the local
// console, replies as a rep and resolves the case with its buttons, and prints CONSOLE-OK once
// the widget shows that reply.
import { chromium } from "playwright-core";

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
  console.log("AGENT-REPLY-SEEN");
  // The console, as a new user drives it: its forms must pass its own cross-site check.
  const desk = await browser.newPage();
  await desk.goto(consoleUrl);
  await desk.fill(".case textarea[name=text]", "Carol here from the console");
  await desk.click(".case button:has-text('Send reply')");
  await desk.waitForSelector("li >> text=Carol here from the console", { timeout: 15000 });
  await page.waitForSelector(".cb-agent >> text=Carol here from the console", { timeout: 40000 });
  await desk.click(".case button:has-text('Resolve the case')");
  await desk.waitForSelector("h1 >> text=Cases in Creatio", { timeout: 15000 });
  console.log("CONSOLE-OK");
  // Another visitor, on the Spanish page: the interface and the greeting in Spanish.
  const es = await (await browser.newContext()).newPage();
  await es.goto(base + "/?lang=es");
  await es.click(".cb-launch");
  await es.waitForSelector(".cb-form button[type=submit] >> text=Enviar");
  if ((await es.getAttribute(".cb-form textarea", "placeholder")) !== "Escribe tu mensaje") throw new Error("the placeholder is not Spanish");
  await es.waitForSelector(".cb-assistant >> text=Hola", { timeout: 15000 });
  console.log("SPANISH-OK");
} finally {
  await browser.close();
}
