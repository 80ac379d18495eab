// The weekly team e-mail in a real browser, as `make run` offers it with no SMTP server: a team
// admin opens it from the team page, previews it (its chart loads under the preview's own
// policy), sends the week, and finds one .eml per member in the outbox.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { newPage, startCanopy, uniqueName } from "./harness.mjs";

let canopy;
before(async () => {
  canopy = await startCanopy();
});
after(async () => {
  await canopy?.stop();
});

test("a team admin previews the week's e-mail, sends it, and finds one .eml per member in the outbox", async () => {
  const team = uniqueName("mail");
  const admin = await canopy.createUser({ team, role: "admin" });
  await canopy.createUser({ team, role: "viewer" });
  const { context, page, problems } = await newPage(canopy.browser, { user: admin });

  // The team exists once it has a service.
  await page.goto(`${canopy.base}/services/new`);
  await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
  await page.fill("#team", team);
  await page.fill("#name", "web");
  await page.click('form.register-form button[type="submit"]');
  await page.getByRole("status").filter({ hasText: `Registered web for team ${team}.` }).waitFor();

  await page.goto(`${canopy.base}/teams/${team}`);
  await Promise.all([
    page.waitForURL(`${canopy.base}/teams/${team}/weekly-email`),
    page.getByTestId("team-weekly-email-link").click(),
  ]);

  // The preview: the e-mail's own HTML; no figures yet, and it says so.
  await Promise.all([page.waitForURL(/\/weekly-email\/preview$/), page.getByTestId("preview-link").click()]);
  assert.match(await page.textContent("body"), /No energy was reported for this team's services this week/);
  assert.equal(await page.locator("img").count(), 0, "no chart of figures that do not exist");
  const chart = await context.request.get(`${canopy.base}/teams/${team}/weekly-email/chart.png`);
  assert.equal(chart.headers()["content-type"], "image/png");
  assert.deepEqual([...(await chart.body()).subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
  await page.goBack();

  await page.click('[data-testid="send-week"]');
  assert.match(
    await page.getByTestId("notice").textContent(),
    /Queued the week of \d{4}-\d{2}-\d{2} for 2 members\./,
  );
  // Sent at once by this Canopy's sender: the history says so after a reload.
  let history = "";
  for (let i = 0; i < 50 && (history.match(/\bsent\b/g) ?? []).length < 2; i++) {
    await page.waitForTimeout(200);
    await page.reload();
    history = await page.getByTestId("history").textContent();
  }
  assert.equal((history.match(/written to/g) ?? []).length, 2, history);

  const files = fs
    .readdirSync(path.join(canopy.dataDir, "outbox"))
    .filter((name) => name.startsWith(`weekly.${team}.`) && name.endsWith(".eml"));
  assert.equal(files.length, 2, files.join(", "));
  const eml = fs.readFileSync(path.join(canopy.dataDir, "outbox", files[0]), "utf8");
  assert.match(eml, /List-Unsubscribe-Post: List-Unsubscribe=One-Click/);
  assert.match(eml, /\nTo: [a-z0-9-]+@example\.test\r?\n/);

  // The organisation admin's outbox page lists them.
  const orgAdmin = await newPage(canopy.browser);
  await orgAdmin.page.goto(`${canopy.base}/admin/outbox`);
  const listed = await orgAdmin.page.getByTestId("eml-files").textContent();
  assert.equal((listed.match(new RegExp(`weekly\\.${team}\\.`, "g")) ?? []).length, 2, listed);
  await orgAdmin.context.close();

  assert.deepEqual(problems, [], `console errors or policy violations: ${problems.join("\n")}`);
  await context.close();
});
