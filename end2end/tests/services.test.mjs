// Registering a service (/services/new) in a real browser, with and without JavaScript, inline
// errors, and proof that the page hydrated (the wasm bundle ran under the
// Content-Security-Policy). The catalogue itself: catalogue.test.mjs.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { newPage, startCanopy, uniqueName } from "./harness.mjs";

let canopy;
before(async () => {
  canopy = await startCanopy();
});
after(async () => {
  await canopy?.stop();
});

/// The catalogue's rows for a search by `name` (a fresh page load).
async function serviceNames(page, name) {
  await page.goto(`${canopy.base}/services?q=${encodeURIComponent(name)}`);
  return page.locator('[data-testid="catalogue-row"] td:first-child').allTextContents();
}

/// Types into the name field until the live hint answers: it only does once the wasm has loaded.
async function waitForHydration(page) {
  const hint = page.locator('[data-testid="name-live-hint"]');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    await page.fill("#name", "");
    await page.type("#name", "Bad_Name");
    if (await hint.count()) return hint;
    await page.waitForTimeout(250);
  }
  throw new Error("the page never hydrated: the live hint did not appear");
}

test("the page hydrates: the name hint updates as you type, with no CSP violations", async () => {
  const { context, page, problems } = await newPage(canopy.browser);
  await page.goto(`${canopy.base}/services/new`);
  const hint = await waitForHydration(page);
  assert.match(await hint.textContent(), /Service name may contain only lowercase letters/);
  await page.fill("#name", "");
  await page.type("#name", "good-name");
  assert.match(await hint.textContent(), /“good-name” is a valid name/);
  assert.deepEqual(problems, [], `console errors: ${problems.join("\n")}`);
  await context.close();
});

test("registering with JavaScript says so, links to the service, and the catalogue lists it at once", async () => {
  const { context, page, problems } = await newPage(canopy.browser);
  await page.goto(`${canopy.base}/services/new`);
  await waitForHydration(page);
  const name = uniqueName("js");
  await page.fill("#team", "payments");
  await page.fill("#name", name);
  await page.click('form.register-form button[type="submit"]');
  const status = page.getByRole("status").filter({ hasText: `Registered ${name} for team payments.` });
  await status.waitFor();
  assert.equal(await status.getByRole("link", { name: "Open its page" }).getAttribute("href"), `/services/payments/${name}`);
  // The catalogue lists it at once (this replica refreshed it before answering).
  assert.deepEqual(await serviceNames(page, name), [name]);
  assert.deepEqual(problems, []);
  await context.close();
});

test("a bad name gets an inline error with JavaScript and nothing is registered", async () => {
  const { context, page } = await newPage(canopy.browser);
  await page.goto(`${canopy.base}/services/new`);
  await waitForHydration(page);
  await page.fill("#team", "payments");
  await page.fill("#name", "Not_A_Label");
  await page.click('form.register-form button[type="submit"]');
  const error = page.locator("#name-error");
  await error.waitFor();
  assert.match(await error.textContent(), /Service name: may contain only lowercase letters.*found 'N'/);
  assert.deepEqual(await serviceNames(page, "not_a_label"), []);
  await context.close();
});

test("the catalogue links to the register page", async () => {
  const { context, page } = await newPage(canopy.browser, { javaScriptEnabled: false });
  await page.goto(`${canopy.base}/services`);
  await Promise.all([page.waitForURL(`${canopy.base}/services/new`), page.getByRole("link", { name: "Register a service" }).click()]);
  assert.equal(await page.locator("h1").textContent(), "Register a service");
  await context.close();
});

test("registering works with JavaScript disabled, and so do inline errors", async () => {
  const { context, page } = await newPage(canopy.browser, { javaScriptEnabled: false });
  await page.goto(`${canopy.base}/services/new`);
  const name = uniqueName("nojs");
  await page.fill("#team", "search");
  await page.fill("#name", name);
  await Promise.all([page.waitForURL(`${canopy.base}/services/new`), page.click('form.register-form button[type="submit"]')]);
  assert.deepEqual(await serviceNames(page, name), [name], "listed after the form post");
  await page.goto(`${canopy.base}/services/new`);

  // The same name again in the same team: the page says it exists.
  await page.fill("#team", "search");
  await page.fill("#name", name);
  await Promise.all([page.waitForURL(/__err=/), page.click('form.register-form button[type="submit"]')]);
  assert.match(await page.locator("#name-error").textContent(), /already exists in team “search”/);

  // A bad name: inline error, nothing written.
  await page.fill("#team", "search");
  await page.fill("#name", "-bad-");
  await Promise.all([page.waitForURL(/__err=/), page.click('form.register-form button[type="submit"]')]);
  assert.match(
    await page.locator("#name-error").textContent(),
    /Service name: must start and end with a lowercase letter or digit/,
  );
  assert.deepEqual(await serviceNames(page, "-bad-"), []);
  await context.close();
});
