// The home page (/) in a real browser, with and without JavaScript: a failed rollout of one of
// the person's teams under "Needs attention" with a link that opens the service page in that
// environment, the organisation's recent deploys, and this week's energy against last week's.
//
// The history is written straight into the database (psql): two past weeks of energy cannot be
// produced by agents during a test, and a failed rollout needs no cluster to be shown.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { newPage, startCanopy, uniqueName } from "./harness.mjs";

let canopy;
let member;
const team = uniqueName("home");

function sql(statement) {
  execFileSync("psql", ["-q", "-v", "ON_ERROR_STOP=1", process.env.CANOPY_E2E_DATABASE_URL, "-c", statement]);
}

before(async () => {
  canopy = await startCanopy();
  member = await canopy.createUser({ team, role: "deployer" });
  sql(`
    INSERT INTO teams (name) VALUES ('${team}');
    INSERT INTO services (team_id, name) SELECT id, s FROM teams, unnest(ARRAY['checkout', 'search']) s
      WHERE name = '${team}';
    INSERT INTO deploys (service_id, environment, revision, spec, image, requested_by, status,
                         failure_reason, started_at, finished_at)
    SELECT s.id, 'prod', r, '{}'::jsonb, 'registry.example/checkout:' || r, 'ana', st, fr,
           now() - make_interval(mins => m), now() - make_interval(mins => m - 1)
    FROM services s JOIN teams t ON t.id = s.team_id,
         (VALUES (1, 'succeeded', NULL, 30), (2, 'failed', 'The container keeps crashing: exit code 1', 1))
           AS d (r, st, fr, m)
    WHERE t.name = '${team}' AND s.name = 'checkout';
    INSERT INTO deploys (service_id, environment, revision, spec, image, requested_by, status,
                         started_at, finished_at)
    SELECT s.id, 'dev', 1, '{}'::jsonb, 'registry.example/search:1', 'bo', 'succeeded',
           now() - interval '10 minutes', now() - interval '9 minutes'
    FROM services s JOIN teams t ON t.id = s.team_id WHERE t.name = '${team}' AND s.name = 'search';
  `);
  // Last week 1 kWh a day, this week 1.5 kWh a day (measured): +50 %.
  for (let day = 1; day <= 14; day++) {
    const joules = (day <= 7 ? 1.5 : 1.0) * 3.6e6;
    const day_sql = `date_trunc('day', now(), 'UTC') - make_interval(days => ${day})`;
    const columns = "(bucket, cluster, node, namespace, team, service, kind, source, energy_joules)";
    const values = `SELECT ${day_sql}, 'default', 'node-1', '${team}-prod', '${team}', 'checkout', 'workload', 'measured', ${joules}`;
    // Stored as Canopy leaves it: a rolled day in the rolled daily table and in the per-service
    // daily totals (compaction filled those before the day was rolled), a later day pending.
    const totals = `SELECT ${day_sql}, 'default', 'workload', 'measured', '${team}-prod', '${team}', 'checkout', ${joules}`;
    sql(`INSERT INTO energy_rollup_daily_rolled ${columns} ${values} WHERE ${day_sql} < energy_daily_rolled_through();
         INSERT INTO energy_service_daily (day, cluster, kind, source, namespace, team, service, energy_joules)
             ${totals} WHERE ${day_sql} < energy_daily_rolled_through();
         INSERT INTO energy_rollup_pending ${columns} ${values} WHERE ${day_sql} >= energy_daily_rolled_through();`);
  }
});

after(async () => {
  await canopy?.stop();
});

async function checkHome(page) {
  const attention = page.getByTestId("home-attention");
  await attention.waitFor();
  await attention.getByText(`My teams (${team})`).waitFor();
  const failed = attention.getByTestId("home-failed").filter({ hasText: `${team}/checkout (prod)` });
  assert.match(await failed.textContent(), /revision 2\) failed .*The container keeps crashing/);
  const rising = attention.getByTestId("home-rising").filter({ hasText: `${team}/checkout` });
  assert.match(await rising.textContent(), /used 50 % more energy this week than last: 10\.5 kWh against 7\.00 kWh \(100 % measured\)/);

  const feed = page.getByTestId("home-activity");
  const items = feed.getByTestId("home-activity-item").filter({ hasText: team });
  // Newest first: the failed revision 2, then search's deploy, then revision 1.
  const texts = await items.allTextContents();
  assert.equal(texts.length, 3, texts.join("\n"));
  assert.match(texts[0], new RegExp(`ana deployed revision 2 of ${team}/checkout \\(prod\\) Failed (\\d+ s|1 min( \\d+ s)?) ago`));
  assert.match(texts[1], new RegExp(`bo deployed revision 1 of ${team}/search \\(dev\\) Running 10 min( \\d+ s)? ago`));
  const time = items.first().locator("time");
  assert.match(await time.getAttribute("datetime"), /^\d{4}-\d\d-\d\dT/);
  assert.match(await time.getAttribute("title"), /UTC$/);

  const mine = page.getByTestId("home-energy-team");
  const row = await mine.textContent();
  assert.match(row, /10\.5 kWh · [\d.]+ (g|kg) CO2e measured/);
  assert.match(row, /7\.00 kWh · [\d.]+ (g|kg) CO2e measured/);
  assert.match(row, /\+50\.0 % \(\+3\.50 kWh\) · CO2e \+50\.0 %/);
  assert.ok(await page.getByTestId("home-energy-org").count(), "the organisation's row");
  return failed;
}

for (const javaScriptEnabled of [true, false]) {
  test(`the home page shows what needs attention, the feed and the weeks (JavaScript ${javaScriptEnabled ? "on" : "off"})`, async () => {
    const { context, page, problems } = await newPage(canopy.browser, { javaScriptEnabled, user: member });
    await page.goto(`${canopy.base}/`);
    if (javaScriptEnabled) await page.locator('main[data-hydrated="true"]').waitFor({ timeout: 30_000 });
    const failed = await checkHome(page);
    assert.deepEqual(problems, [], `console errors: ${problems.join("\n")}`);
    await Promise.all([
      page.waitForURL(`${canopy.base}/services/${team}/checkout?env=prod`),
      failed.getByRole("link", { name: `${team}/checkout (prod)` }).click(),
    ]);
    await page.getByRole("heading", { level: 1, name: "checkout" }).waitFor();
    await context.close();
  });
}
