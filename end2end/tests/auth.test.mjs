// Sign-in in a real browser: local accounts with and without JavaScript, a viewer who is
// offered no deploy and whose forged deploy is refused, and signing out.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { newPage, signIn, startCanopy, uniqueName } from "./harness.mjs";

let canopy;
before(async () => {
  canopy = await startCanopy();
});
after(async () => {
  await canopy?.stop();
});

for (const javaScriptEnabled of [true, false]) {
  test(`signing in with a local account ${javaScriptEnabled ? "with" : "without"} JavaScript returns to the page asked for`, async () => {
    const person = await canopy.createUser();
    const { context, page } = await newPage(canopy.browser, { javaScriptEnabled, user: null });
    await page.goto(`${canopy.base}/energy`);
    assert.match(page.url(), /\/signin\?next=%2Fenergy$/, "anonymous visitors are sent to sign in");
    await page.fill("#username", person.username);
    await page.fill("#password", "not the password");
    await page.click('button:has-text("Sign in")');
    assert.match(await page.getByRole("alert").textContent(), /The user name or password is not right\./);
    await page.fill("#password", person.password);
    await page.click('button:has-text("Sign in")');
    await page.waitForURL(`${canopy.base}/energy`);
    assert.equal(await page.getByTestId("signed-in-as").textContent(), person.username);
    await context.close();
  });
}

test("a viewer sees no deploy form and a forged deploy is refused", async () => {
  const team = uniqueName("view");
  const viewer = await canopy.createUser({ team, role: "viewer" });
  const { context, page, problems } = await newPage(canopy.browser, { user: viewer });
  await page.goto(`${canopy.base}/services/${team}/web/deploy?env=dev`);
  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('button:has-text("Preview changes")').count(), 0, "no deploy form");
  assert.match(await page.getByTestId("read-only").textContent(), new RegExp(`deployer role in team ${team}`));

  // The same request the form would send, made by hand from the viewer's own page.
  const status = await page.evaluate(async (team) => {
    const body = new URLSearchParams({
      "form[team]": team, "form[name]": "web", "form[environment]": "dev",
      "form[image]": "ghcr.io/acme/web:1.0.0", "form[port]": "8080", "form[size]": "S",
      "form[scaling]": "fixed", "form[replicas]": "1", "form[min]": "", "form[max]": "",
      "form[target_cpu_percent]": "", "form[env]": "", "form[secrets]": "",
      "form[route_host]": "", "form[route_path]": "", "form[health_check]": "",
    });
    const response = await fetch("/api/fn/deploy_service", { method: "POST", body });
    return { status: response.status, body: await response.text() };
  }, team);
  assert.equal(status.status, 403, status.body);
  assert.match(status.body, /needs the deployer role/);

  // From another site, even an admin's browser is refused.
  const admin = await newPage(canopy.browser);
  const forged = await admin.context.request.post(`${canopy.base}/api/fn/register_service`, {
    form: { team, name: "planted" },
    headers: { origin: "https://evil.example" },
  });
  assert.equal(forged.status(), 403);
  await admin.context.close();
  // Only the hand-made forged call failed on the viewer's page (the browser logs its 403
  // without the URL; the response listener names it).
  assert.deepEqual(
    problems.filter((p) => !p.includes("/api/fn/deploy_service") && !/status of 403/.test(p)),
    [],
  );
  assert.ok(problems.some((p) => p.includes("403") && p.includes("/api/fn/deploy_service")), problems.join("\n"));
  await context.close();
});

test("signing out ends the session", async () => {
  const person = await canopy.createUser();
  const { context, page } = await newPage(canopy.browser, { user: person });
  await page.goto(`${canopy.base}/services`);
  await page.getByTestId("sign-out").click();
  await page.waitForURL(/\/signin$/);
  await page.goto(`${canopy.base}/services`);
  assert.match(page.url(), /\/signin\?next=%2Fservices$/);
  // Signing in again works in the same browser.
  await signIn(context, canopy.base, person);
  await page.goto(`${canopy.base}/services`);
  assert.equal(await page.getByTestId("signed-in-as").textContent(), person.username);
  await context.close();
});
