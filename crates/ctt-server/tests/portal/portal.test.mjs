// The web portal end to end, in real headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core), against the real binary:
// `ctt gen --preset small` + a crafted XSS log file + one delivered log
// edited, `ctt ingest --verify`, tokens from
// `ctt token create`, and `ctt serve` on 127.0.0.1 and a free port.
//
// What it shows: sign-in and sign-out; the dashboard's figures equal the API's
// answers for the same period; dashboard → user → event by clicking; the filter
// form lists the API's events; a `self` user cannot see or reach anyone else's
// data; the XSS events show their text and run nothing; the API docs (Swagger
// UI) work under their Content-Security-Policy; an event from an edited log
// file is marked and counted (SPEC §14); alerts are counted, listed and shown
// (SPEC §12); what is left running is counted and listed (SPEC §11).
// Screenshots of each
// page go to target/screenshots/.
//
//   cargo build -p ctt && (cd crates/ctt-server/tests/portal && npm ci && npm test)
//
// CTT_BIN overrides the binary (default: $CARGO_TARGET_DIR or target, /debug/ctt);
// CHROMIUM the browser (default /usr/bin/chromium).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const TARGET = resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target');
const CTT = process.env.CTT_BIN || join(TARGET, 'debug', 'ctt');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = join(TARGET, 'screenshots');

// The generated history ends here; the period examined is the 15 days before.
const END = '2018-06-15T12:00:00Z';
const FROM = '2018-05-31T12:00:00Z';
const PERIOD = `from=${encodeURIComponent(FROM)}&to=${encodeURIComponent(END)}`;

const XSS_USER = 'mallory';
const SCRIPT_UA = '<script>alert(1)</script>';
const IMG_PARAM = '<img src=x onerror=alert(1)>';

let work;
let server;
let base;
let browser;
let teacherToken;
let studentToken;
let student;
let other;
let tampered; // the record changed in a delivered log file (SPEC §14)

function ctt(args) {
  return execFileSync(CTT, ['--db', join(work, 'ctt.db'), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/// A CloudTrail record by `mallory`.
function crafted(id, time, source, name, extra) {
  return {
    eventVersion: '1.08',
    userIdentity: {
      type: 'IAMUser', userName: XSS_USER, accountId: '111122223333',
      principalId: 'AIDAMALLORY', arn: 'arn:aws:iam::111122223333:user/mallory',
    },
    eventTime: time,
    eventSource: `${source}.amazonaws.com`,
    eventName: name,
    awsRegion: 'us-east-1',
    sourceIPAddress: '203.0.113.66',
    userAgent: 'aws-cli/2.15.0',
    requestParameters: {},
    responseElements: null,
    eventID: id,
    readOnly: false,
    eventType: 'AwsApiCall',
    recipientAccountId: '111122223333',
    ...extra,
  };
}

/// Changes the source IP of one write record in one delivered log file, as
/// someone covering their tracks would; returns that record.
function tamperOneLog(root) {
  const logs = readdirSync(root, { recursive: true })
    .filter((f) => f.endsWith('.json.gz') && !f.includes('CloudTrail-Digest'))
    .sort();
  for (const name of logs.slice(logs.length / 2)) {
    const path = join(root, name);
    const log = JSON.parse(gunzipSync(readFileSync(path)));
    const record = log.Records.find((r) => r.readOnly === false && r.userIdentity?.userName);
    if (!record) continue;
    record.sourceIPAddress = '198.51.100.7';
    writeFileSync(path, gzipSync(JSON.stringify(log)));
    return record;
  }
  throw new Error('no write record to tamper with');
}

async function startServer() {
  const child = spawn(CTT, ['--db', join(work, 'ctt.db'), 'serve', '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const url = await new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`ctt serve did not start:\n${log}`)), 30000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const match = log.match(/serving (http:\/\/127\.0\.0\.1:\d+)/);
      if (match) {
        clearTimeout(timer);
        resolvePromise(match[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ctt serve exited (${code}):\n${log}`));
    });
  });
  child.removeAllListeners('exit');
  return { child, url };
}

async function api(path, token) {
  const response = await fetch(base + path, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
  return response.json();
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/// A fresh browser context (its own cookies) signed in with `token`; every
/// dialog is recorded (and none is expected).
async function signedIn(token, options = {}) {
  const context = await browser.newContext({ baseURL: base, ...options });
  const page = await context.newPage();
  const dialogs = [];
  page.on('dialog', async (dialog) => {
    dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  await page.goto('/ui/');
  assert.match(page.url(), /\/login\?next=/);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The dashboard; a `self` user of one course lands on their page of it.
  await page.waitForURL(/\/ui\/($|courses\/lab-course\/students\/)/);
  return { context, page, dialogs };
}

/// `[[data-key, data-count], …]` of a chart's links.
async function chartValues(page, id) {
  return page.$$eval(`[data-chart="${id}"] a[data-key]`, (links) =>
    links.map((a) => [a.dataset.key, Number(a.dataset.count)]));
}

async function counter(page, key) {
  return Number(await page.getAttribute(`[data-counter="${key}"]`, 'data-count'));
}

async function rowIds(page) {
  return page.$$eval('table.events tbody tr', (rows) => rows.map((r) => r.dataset.eventId));
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  work = mkdtempSync(join(tmpdir(), 'ctt-portal-'));
  const logs = join(work, 'logs');
  execFileSync(CTT, ['gen', logs, '--preset', 'small', '--end', END], { stdio: 'ignore' });
  mkdirSync(join(logs, 'crafted'), { recursive: true });
  writeFileSync(join(logs, 'crafted', 'xss.json'), JSON.stringify({
    Records: [
      crafted('xss-user-agent', '2018-06-14T09:00:00Z', 'ec2', 'RunInstances',
        { userAgent: SCRIPT_UA }),
      crafted('xss-parameter', '2018-06-14T09:05:00Z', 's3', 'CreateBucket',
        { requestParameters: { bucketName: IMG_PARAM } }),
    ],
  }));
  tampered = tamperOneLog(logs);
  // Loaded and verified against the generator's signed digests: one file is
  // not valid, so the exit status is 4.
  const ingest = spawnSync(CTT, ['--db', join(work, 'ctt.db'), 'ingest', logs, '--no-progress',
    '--verify', '--public-keys', join(logs, 'cloudtrail-public-keys.json')], { encoding: 'utf8' });
  assert.equal(ingest.status, 4, ingest.stderr);
  // A course (SPEC §10) over the generated fortnight.
  writeFileSync(join(work, 'course.toml'), [
    'id = "lab-course"', 'name = "Cloud labs"', 'from = "2018-06-01"', 'to = "2018-06-15"',
    'students = "^alucloud[0-9]{3}$"',
    '[[lab]]', 'id = "ec2"', 'name = "EC2"',
    'requires = [{ event = "ec2:RunInstances", count = 2 }, { event = "ec2:TerminateInstances" }]',
    '[[lab]]', 'id = "s3"', 'name = "S3"', 'requires = [{ event = "s3:CreateBucket" }]', '',
  ].join('\n'));
  ctt(['course', 'add', join(work, 'course.toml')]);
  teacherToken = ctt(['token', 'create', '--role', 'viewer', '--name', 'teacher']).trim();
  ({ child: server, url: base } = await startServer());

  // The student: the most active alucloud user of the period; `other`, the next.
  const users = await api(`/stats?group_by=user&${PERIOD}`, teacherToken);
  const students = users.map((g) => g.key).filter((u) => u.startsWith('alucloud'));
  assert.ok(students.length >= 2, `students in the period: ${JSON.stringify(users)}`);
  [student, other] = students;
  studentToken = ctt(['token', 'create', '--role', 'self', '--user', student, '--name', 'student']).trim();
  // A running server sees a new token within its refresh (2 s): wait for it.
  for (let i = 0; ; i += 1) {
    const response = await fetch(`${base}/scan?count=true`, { headers: { Authorization: `Bearer ${studentToken}` } });
    if (response.status === 200) break;
    assert.ok(i < 100, 'the server never accepted the new token');
    await new Promise((r) => setTimeout(r, 100));
  }

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // A fresh temporary profile (user-data dir) per launch.
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run',
    ],
  });
});

after(async () => {
  await browser?.close();
  if (server) {
    server.kill('SIGTERM');
  }
  if (work) {
    rmSync(work, { recursive: true, force: true });
  }
});

test('sign-in is required; a wrong token is refused; the cookie is HttpOnly and SameSite=Strict', async () => {
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  await page.goto(`/ui/users?${PERIOD}`);
  assert.match(page.url(), /\/login\?next=%2Fui%2Fusers/);
  await shot(page, 'login');
  await page.getByLabel('API token').fill(`${teacherToken}x`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('This token is not valid').waitFor();
  assert.equal((await context.cookies()).length, 0);
  await page.getByLabel('API token').fill(teacherToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/ui\/users\?from=/);
  assert.equal(await page.locator('h1').textContent(), 'Users');
  const [cookie] = await context.cookies();
  assert.equal(cookie.name, 'ctt_session');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.secure, false, 'plain HTTP on loopback');
  assert.equal(cookie.path, '/');
  assert.ok(!cookie.value.includes(teacherToken), 'the token is not in the cookie');
  assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read it');
  await context.close();
});

test("the dashboard's totals and charts equal the API's answers for the same period", async () => {
  const { context, page, dialogs } = await signedIn(teacherToken);
  const response = await page.goto(`/ui/?${PERIOD}`);
  const csp = response.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /style-src 'self'/);

  const total = await api(`/scan?${PERIOD}&count=true`, teacherToken);
  assert.ok(total > 100, `events in the period: ${total}`);
  assert.equal(await counter(page, 'total'), total);
  assert.equal(await page.getAttribute('[data-counter="total"]', 'data-from'), FROM);
  assert.equal(await page.getAttribute('[data-counter="total"]', 'data-to'), END);

  const asPairs = (groups) => groups.map((g) => [g.key, g.count]);
  assert.deepEqual(await chartValues(page, 'services'),
    asPairs(await api(`/stats?group_by=service&limit=20&${PERIOD}`, teacherToken)));
  assert.deepEqual(await chartValues(page, 'users'),
    asPairs(await api(`/stats?group_by=user&limit=10&${PERIOD}`, teacherToken)));
  assert.deepEqual(await chartValues(page, 'activity'),
    asPairs(await api(`/stats?group_by=day&${PERIOD}`, teacherToken)));

  for (const [key, query] of [
    ['RunInstances', 'eventName=RunInstances'],
    ['CreateDBInstance', 'eventName=CreateDBInstance'],
    ['CreateFunction', 'eventName=CreateFunction&begin_with=true'],
    ['CreateLoadBalancer', 'eventName=CreateLoadBalancer'],
  ]) {
    assert.equal(await counter(page, key), await api(`/scan?${PERIOD}&${query}&count=true`, teacherToken), key);
  }
  const errorCodes = (await api(`/stats?group_by=errorCode&${PERIOD}`, teacherToken))
    .filter((g) => g.key !== '');
  assert.equal(await counter(page, 'errors'), errorCodes.reduce((n, g) => n + g.count, 0));

  // Latest events: newest first, the API's last events of the period.
  const ids = await rowIds(page);
  assert.equal(ids.length, 10);
  const times = await page.$$eval('section.latest time', (ts) => ts.map((t) => t.getAttribute('datetime')));
  assert.deepEqual([...times].sort().reverse(), times, 'newest first');

  await shot(page, 'dashboard');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'dashboard-phone');
  await page.setViewportSize({ width: 1280, height: 800 });

  // A bar leads to the list it counts.
  const ec2 = page.locator('[data-chart="services"] a[data-key="ec2"]');
  const ec2Count = Number(await ec2.getAttribute('data-count'));
  await ec2.click();
  await page.waitForURL(/\/ui\/events\?service=ec2/);
  assert.equal(Number(await page.getAttribute('[data-testid="match-count"]', 'data-count')), ec2Count);
  assert.deepEqual(dialogs, []);
  await context.close();
});

test('dashboard → user → event, by clicking', async () => {
  const { context, page, dialogs } = await signedIn(teacherToken);
  await page.goto(`/ui/?${PERIOD}`);
  const userLink = page.locator('section.latest tbody tr').first().locator('a[href^="/ui/users/"]');
  const user = await userLink.textContent();
  await userLink.click();
  await page.waitForURL(/\/ui\/users\//);
  assert.equal(await page.locator('h1').textContent(), user);
  assert.match(page.url(), /from=2018-05-31T12%3A00%3A00Z/, 'the same period');
  assert.ok(await counter(page, 'total') > 0);
  await shot(page, 'user');

  const firstEvent = page.locator('table.events tbody tr').first();
  const eventId = await firstEvent.getAttribute('data-event-id');
  await firstEvent.locator('td').first().locator('a').click();
  await page.waitForURL(/\/ui\/events\/[^?]+$/);
  assert.equal(decodeURIComponent(page.url().split('/ui/events/')[1]), eventId);
  await page.getByText(eventId, { exact: true }).first().waitFor();
  // The record, collapsible: a top-level object starts open and folds on click.
  const detail = page.locator('.json details').nth(1);
  assert.equal(await detail.getAttribute('open'), '');
  await detail.locator('summary').first().click();
  assert.equal(await detail.getAttribute('open'), null);
  await detail.locator('summary').first().focus();
  await page.keyboard.press('Enter');
  assert.equal(await detail.getAttribute('open'), '', 'keyboard opens it again');
  const record = await api(`/events/${encodeURIComponent(eventId)}`, teacherToken);
  assert.equal(await page.locator('h1').textContent(), record.eventName);
  await shot(page, 'event');
  assert.deepEqual(dialogs, []);
  await context.close();
});

test('the filter form lists what the API answers, page by page, with downloads', async () => {
  const { context, page } = await signedIn(teacherToken);
  await page.goto('/ui/events');
  await page.getByLabel('Service').selectOption('ec2');
  await page.getByLabel('Event name').fill('Run');
  await page.getByLabel(/Match as a prefix/).check();
  await page.getByLabel('From (UTC)').fill('2018-05-31T12:00:00');
  await page.getByLabel('To (UTC, inclusive)').fill('2018-06-15T12:00:00');
  await page.getByLabel('Per page').selectOption('25');
  await page.getByRole('button', { name: 'Show events' }).click();
  await page.waitForURL(/\/ui\/events\?/);

  const query = `${PERIOD}&eventName=Run&begin_with=true`;
  const count = await api(`/services/ec2?${query}&count=true`, teacherToken);
  assert.ok(count > 25, `RunInstances… in ec2: ${count}`);
  assert.equal(Number(await page.getAttribute('[data-testid="match-count"]', 'data-count')), count);
  const first = await api(`/services/ec2?${query}&limit=25`, teacherToken);
  assert.deepEqual(await rowIds(page), first.map((e) => e.eventID));
  await shot(page, 'events');

  // Next page: the API's second page.
  const response = await fetch(`${base}/services/ec2?${query}&limit=25`,
    { headers: { Authorization: `Bearer ${teacherToken}` } });
  const next = response.headers.get('link').match(/<([^>]+)>/)[1];
  const second = await api(next, teacherToken);
  await page.getByRole('link', { name: 'Next page »' }).click();
  await page.waitForURL(/cursor=/);
  assert.deepEqual(await rowIds(page), second.map((e) => e.eventID));

  // Downloads: the API's export of the same filter, with the session cookie.
  const csvHref = await page.getAttribute('a:text-is("CSV")', 'href');
  assert.match(csvHref, /^\/services\/ec2\?.*format=csv/);
  const csv = await page.request.get(csvHref);
  assert.equal(csv.status(), 200);
  assert.equal((await csv.text()).trim().split('\n').length, count + 1, 'a header and every event');
  const ndjson = await page.request.get(await page.getAttribute('a:text-is("NDJSON")', 'href'));
  assert.equal((await ndjson.text()).trim().split('\n').length, count);

  // A parameter row and the page search (the one small script).
  await page.goto('/ui/events');
  await page.getByLabel('From (UTC)').fill('2018-05-31T12:00:00');
  await page.getByLabel('To (UTC, inclusive)').fill('2018-06-15T12:00:00');
  await page.locator('#f-param-0').fill('awsRegion');
  await page.locator('#f-value-0').fill('us-east-1');
  await page.getByRole('button', { name: 'Show events' }).click();
  await page.waitForURL(/param=awsRegion/);
  const regional = await api(`/scan?${PERIOD}&param=awsRegion&value=us-east-1&count=true`, teacherToken);
  assert.equal(Number(await page.getAttribute('[data-testid="match-count"]', 'data-count')), regional);
  const search = page.getByLabel('Search this page');
  await search.fill('RunInstances');
  const visible = await page.$$eval('table.events tbody tr:not([hidden])', (rows) =>
    rows.every((r) => r.textContent.includes('RunInstances')));
  assert.ok(visible, 'the rows left contain the text');
  await context.close();
});

test('the keyboard reaches everything: skip link, period, chart links', async () => {
  const { context, page } = await signedIn(teacherToken);
  await page.goto(`/ui/?${PERIOD}`);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Last hour');
  // A column of the activity chart (an SVG link) takes focus and follows Enter.
  const column = page.locator('[data-chart="activity"] a[data-key]').first();
  const key = await column.getAttribute('data-key');
  const count = Number(await column.getAttribute('data-count'));
  await column.focus();
  assert.equal(await page.evaluate(() => document.activeElement.dataset.key), key);
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/ui\/events\?/);
  assert.equal(Number(await page.getAttribute('[data-testid="match-count"]', 'data-count')), count);
  await context.close();
});

test('users and services: searchable lists and pages', async () => {
  const { context, page } = await signedIn(teacherToken);
  await page.goto(`/ui/users?${PERIOD}`);
  await page.getByLabel('Search users').fill(student.slice(0, -1));
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForURL(/q=/);
  const names = await page.$$eval('table.catalog tbody tr', (rows) => rows.map((r) => r.dataset.name));
  assert.ok(names.includes(student));
  assert.ok(names.every((n) => n.includes(student.slice(0, -1))));
  await shot(page, 'users');
  await page.goto(`/ui/services?${PERIOD}`);
  await shot(page, 'services');
  await page.getByRole('link', { name: 'ec2', exact: true }).click();
  await page.waitForURL(/\/ui\/services\/ec2/);
  assert.equal(await counter(page, 'total'),
    await api(`/services/ec2?${PERIOD}&count=true`, teacherToken));
  await shot(page, 'service');
  await context.close();
});

test('the crafted events show their text and run nothing', async () => {
  const { context, page, dialogs } = await signedIn(teacherToken);
  await page.goto(`/ui/events?user=${XSS_USER}&${PERIOD}`);
  const ua = page.locator('tr[data-event-id="xss-user-agent"] td.ua');
  assert.equal(await ua.textContent(), SCRIPT_UA);
  await shot(page, 'xss-events');

  await page.goto('/ui/events/xss-user-agent');
  await page.locator('dl.facts dd', { hasText: SCRIPT_UA }).waitFor();
  await page.goto('/ui/events/xss-parameter');
  assert.ok((await page.locator('.json').textContent()).includes(JSON.stringify(IMG_PARAM)));
  await shot(page, 'xss-event');

  for (const url of [`/ui/events?user=${XSS_USER}&${PERIOD}`, '/ui/events/xss-user-agent',
    '/ui/events/xss-parameter', `/ui/users/${XSS_USER}?${PERIOD}`, `/ui/?from=2018-06-14&to=2018-06-14`]) {
    await page.goto(url);
    await page.waitForTimeout(200);
    const dom = await page.evaluate(() => ({
      scripts: [...document.scripts].map((s) => s.getAttribute('src')),
      images: document.images.length,
      handlers: [...document.querySelectorAll('*')]
        .flatMap((el) => [...el.attributes].map((a) => a.name))
        .filter((name) => name.startsWith('on')),
    }));
    assert.deepEqual(dom.scripts, ['/static/portal.js'], url);
    assert.equal(dom.images, 0, url);
    assert.deepEqual(dom.handlers, [], url);
  }
  assert.deepEqual(dialogs, [], 'no alert ran');
  await context.close();
});

test('an event from a log file modified after delivery is marked, and counted (SPEC §14)', async () => {
  const health = await (await fetch(`${base}/health`)).json();
  assert.equal(health.integrity.not_valid.modified, 1, JSON.stringify(health));
  assert.ok(health.integrity.events_marked >= 1, JSON.stringify(health));

  const { context, page } = await signedIn(teacherToken);
  await page.goto(`/ui/?${PERIOD}`);
  assert.ok(await counter(page, 'integrity') >= 1);
  const flagged = page.locator('section#integrity tr[data-integrity="modified"]');
  assert.equal(await flagged.count(), 1);
  await shot(page, 'integrity-dashboard');

  // The event's own page warns, above what the altered file says.
  await page.goto(`/ui/events/${encodeURIComponent(tampered.eventID)}`);
  assert.match(await page.getByRole('alert').innerText(), /came from a log file that is modified/);
  await page.locator('dl.facts dd', { hasText: '198.51.100.7' }).waitFor();
  await shot(page, 'integrity-event');

  // In a list, its row is marked; the user's other events that second are not.
  const second = tampered.eventTime;
  await page.goto(`/ui/events?user=${encodeURIComponent(tampered.userIdentity.userName)}`
    + `&from=${encodeURIComponent(second)}&to=${encodeURIComponent(second)}`);
  const row = page.locator(`tr[data-event-id="${tampered.eventID}"]`);
  assert.equal(await row.getAttribute('data-integrity'), 'modified');
  assert.match(await row.innerText(), /⚠ modified/);
  await context.close();
});

test('alerts: the dashboard counts them, the alerts page lists them, an alert shows its record (SPEC §12)', async () => {
  const alerts = await api(`/alerts?${PERIOD}&limit=10000`, teacherToken);
  assert.ok(alerts.length > 0, 'the built-in rules fired on the generated class');
  const { context, page, dialogs } = await signedIn(teacherToken);
  await page.goto(`/ui/?${PERIOD}`);
  assert.equal(await counter(page, 'alerts'), alerts.length);
  await page.click('[data-counter="alerts"]');
  await page.waitForURL(/\/ui\/alerts\?/);
  const listed = await page.$$eval('table.alerts tbody tr', (rows) => rows.map((r) => r.dataset.alertId));
  assert.deepEqual(listed, alerts.slice(0, listed.length).map((a) => a.id));
  await shot(page, 'alerts');
  // Only high and above.
  await page.selectOption('select[name="level"]', 'high');
  await page.getByRole('button', { name: 'Show' }).click();
  const levels = await page.$$eval('table.alerts tbody tr', (rows) => rows.map((r) => r.dataset.level));
  assert.ok(levels.every((l) => l === 'high' || l === 'critical'), levels.join());
  // One alert: its rule, its user, the record.
  await page.goto('/ui/alerts');
  await page.locator('table.alerts tbody tr a').nth(1).click();
  await page.waitForURL(/\/ui\/alerts\/.+/);
  assert.ok((await page.locator('.json').textContent()).includes('eventID'));
  await shot(page, 'alert');
  assert.deepEqual(dialogs, []);
  await context.close();

  // A self user sees the alerts on its own events only.
  const own = await api('/alerts?limit=10000', studentToken);
  assert.ok(own.every((a) => a.user === student), JSON.stringify(own.slice(0, 3)));
  const theirs = await signedIn(studentToken);
  await theirs.page.goto('/ui/alerts');
  const users = await theirs.page.$$eval('table.alerts tbody tr td:nth-child(4)', (cells) => cells.map((c) => c.textContent));
  assert.ok(users.every((u) => u === student), users.join());
  await theirs.context.close();
});

test("anomalies: an anomaly shows its baseline; its user's page shows their usual activity (SPEC §13)", async () => {
  const anomalies = await api('/alerts?rule=anomaly:*&limit=10000', teacherToken);
  const spike = anomalies.find((a) => a.rule === 'anomaly:rate-spike');
  const region = anomalies.find((a) => a.rule === 'anomaly:new-region');
  assert.ok(spike && region, `the generated class has spikes and new regions: ${anomalies.map((a) => a.rule)}`);
  const { context, page, dialogs } = await signedIn(teacherToken);
  await page.goto('/ui/alerts?rule=anomaly:*');
  const listed = await page.$$eval('table.alerts tbody tr', (rows) => rows.map((r) => r.dataset.alertId));
  assert.deepEqual(listed, anomalies.slice(0, listed.length).map((a) => a.id));

  // The spike's page: the hour's count and the week before, as the title says.
  await page.goto(`/ui/alerts/${encodeURIComponent(spike.id)}`);
  const baseline = page.getByTestId('baseline');
  await baseline.waitFor();
  assert.equal(await page.getByTestId('baseline-count').innerText(), String(spike.baseline.count));
  const week = await page.getByTestId('baseline-week').innerText();
  const [mean, sigma] = week.match(/[\d.]+/g).map(Number);
  assert.ok(Math.abs(mean - spike.baseline.mean) <= 0.05 && Math.abs(sigma - spike.baseline.sigma) <= 0.05, week);
  assert.ok(spike.title.includes(week), `${week} in ${spike.title}`);
  assert.ok(spike.baseline.count > spike.baseline.threshold);
  await shot(page, 'anomaly');

  // The new region's user: the regions they had before it, then it, in the
  // order of first use, on their page.
  await page.goto(`/ui/alerts/${encodeURIComponent(region.id)}`);
  assert.equal(await page.getByTestId('baseline-what').innerText(), region.baseline.what);
  await page.locator('dl.facts a', { hasText: region.user }).first().click();
  await page.waitForURL(/\/ui\/users\//);
  const usual = page.getByTestId('user-baseline');
  await usual.waitFor();
  const regions = await usual.locator('.baseline-lists > div:first-child li').evaluateAll(
    (items) => items.map((li) => li.firstChild.textContent.trim()));
  const at = regions.indexOf(region.baseline.what);
  assert.ok(at > 0, `${region.baseline.what} in ${regions}`);
  assert.deepEqual(regions.slice(0, at), region.baseline.known);
  assert.match(await page.getByTestId('baseline-rate').innerText(), /an hour \(failed calls .* an hour\)/);
  assert.match(await page.getByTestId('baseline-hours').innerText(), /^\d\d(, \d\d)*$/);
  await usual.scrollIntoViewIfNeeded();
  await shot(page, 'user-baseline');
  assert.deepEqual(dialogs, []);
  await context.close();
});

test('resources: the dashboard counts what is left running, the resources page lists it with estimates (SPEC §11)', async () => {
  const running = await api('/resources?state=running&limit=10000', teacherToken);
  assert.ok(running.length > 0, 'the generated class left something running');
  const { context, page, dialogs } = await signedIn(teacherToken);
  await page.goto('/ui/');
  assert.equal(await counter(page, 'left-running'), running.length);
  await page.click('[data-counter="left-running"]');
  await page.waitForURL(/\/ui\/resources\?state=running/);
  const listed = await page.$$eval('table.resources tbody tr', (rows) => rows.map((r) => decodeURIComponent(r.dataset.resource)));
  assert.deepEqual(listed, running.slice(0, listed.length).map((r) => `${r.type}/${r.id}`));
  assert.match(await page.locator('p.help').innerText(), /estimates/);
  await shot(page, 'resources');
  // Every state, then only deleted ones: each says who deleted it.
  await page.selectOption('select[name="state"]', 'deleted');
  await page.getByRole('button', { name: 'Show' }).click();
  const states = await page.$$eval('table.resources tbody tr', (rows) => rows.map((r) => r.dataset.state));
  assert.ok(states.length > 0 && states.every((s) => s === 'deleted'), states.join());
  assert.deepEqual(dialogs, []);
  await context.close();

  // A self user sees what they created only.
  const theirs = await signedIn(studentToken);
  await theirs.page.goto('/ui/resources?state=');
  const owners = await theirs.page.$$eval('table.resources tbody tr td:nth-child(4)', (cells) => cells.map((c) => c.textContent));
  assert.ok(owners.every((o) => o === student), owners.join());
  await theirs.context.close();
});

test("a self user sees only their own activity and cannot reach anyone else's", async () => {
  const { context, page, dialogs } = await signedIn(studentToken);
  assert.match(page.url(), new RegExp(`/ui/courses/lab-course/students/${student}$`),
    'a student of one course lands on their page of it');
  await page.goto(`/ui/?${PERIOD}`);
  const own = await api(`/users/${student}?${PERIOD}&count=true`, teacherToken);
  assert.equal(await counter(page, 'total'), own);
  assert.equal(await counter(page, 'total'), await api(`/scan?${PERIOD}&count=true`, studentToken));
  assert.deepEqual((await chartValues(page, 'users')).map(([k]) => k), [student]);
  assert.ok(!(await page.content()).includes(other), `${other} is not on the dashboard`);
  await shot(page, 'self-dashboard');

  await page.goto(`/ui/users?${PERIOD}`);
  assert.deepEqual(await page.$$eval('table.catalog tbody tr', (rows) => rows.map((r) => r.dataset.name)),
    [student]);

  const otherPage = await page.goto(`/ui/users/${other}?${PERIOD}`);
  assert.equal(otherPage.status(), 404);
  assert.ok(!(await page.content()).includes('data-event-id'));
  await shot(page, 'self-other-user');

  const [othersEvent] = await api(`/users/${other}?${PERIOD}&limit=1`, teacherToken);
  const eventPage = await page.goto(`/ui/events/${encodeURIComponent(othersEvent.eventID)}`);
  assert.equal(eventPage.status(), 404);

  await page.goto(`/ui/events?user=${other}&${PERIOD}`);
  assert.equal(await page.getAttribute('[data-testid="match-count"]', 'data-count'), '0');
  assert.deepEqual(await rowIds(page), []);

  const csv = await page.request.get(`/users/${other}?${PERIOD}&format=csv`);
  assert.equal((await csv.text()).trim().split('\n').length, 1, 'only the header');
  assert.deepEqual(dialogs, []);
  await context.close();
});

test('the API docs (Swagger UI) render under their Content-Security-Policy, loading only from this server', async () => {
  const { context, page, dialogs } = await signedIn(teacherToken);
  const violations = [];
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.on('console', (message) => {
    if (message.type() === 'error') violations.push(message.text());
  });
  const elsewhere = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(base)) elsewhere.push(request.url());
  });
  const response = await page.goto('/docs/');
  assert.equal(response.status(), 200);
  const headers = response.headers();
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.match(headers['content-security-policy'], /^default-src 'none'; script-src 'self';/);
  // The operations are drawn from /openapi.json, fetched by the page's script.
  await page.locator('.opblock-summary-path', { hasText: '/scan' }).first().waitFor();
  const paths = await page.$$eval('.opblock-summary-path', (els) => els.map((e) => e.textContent));
  for (const path of ['/scan', '/users/{user}', '/events/{eventID}', '/health']) {
    assert.ok(paths.some((p) => p.includes(path)), `${path} in ${paths}`);
  }
  // Open one operation and run it: the request goes to this server.
  await page.locator('.opblock-summary', { hasText: '/health' }).first().click();
  await page.getByRole('button', { name: 'Try it out' }).click();
  await page.getByRole('button', { name: 'Execute' }).click();
  await page.locator('.live-responses-table .response-col_status', { hasText: '200' }).first().waitFor();
  await shot(page, 'docs');
  assert.deepEqual(await page.evaluate(() => window.__violations), [], 'no CSP violation');
  assert.deepEqual(violations, [], 'no console error');
  assert.deepEqual(elsewhere, [], 'nothing loaded from elsewhere');
  assert.deepEqual(dialogs, []);
  await context.close();
});

test('a course: the class heatmap leads to a student page; it prints without navigation', async () => {
  const { context, page, dialogs } = await signedIn(teacherToken);
  const problems = [];
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  await page.goto('/ui/');
  await page.getByRole('link', { name: 'Courses' }).click();
  await page.getByRole('link', { name: 'Cloud labs' }).click();
  await page.waitForURL(/\/ui\/courses\/lab-course$/);
  const progress = await api('/courses/lab-course/progress', teacherToken);
  const rows = await page.$$eval('table.heatmap tbody tr', (trs) => trs.map((r) => r.dataset.student));
  assert.deepEqual(rows, progress.students.map((s) => s.student), 'one row per student, as the API');
  assert.ok(rows.length > 3, `students: ${rows}`);
  const completed = await page.textContent('[data-counter="completed"] .value');
  assert.equal(Number(completed), progress.counts.completed);
  assert.ok(await page.locator('[data-chart="course-band"] polyline.median').count() === 1);
  // What each student created in a lab and left open at its end (SPEC §11):
  // the labs have the course's window, so a cell counts what the API lists
  // as open at the course's end, created in it.
  const leftRows = await page.$$eval('table.left-open tbody tr', (trs) => trs.map((r) => r.dataset.student));
  assert.ok(leftRows.length > 0, 'the generated class leaves something open');
  for (const who of leftRows.slice(0, 3)) {
    const cell = page.locator(`table.left-open tr[data-student="${who}"] td[data-lab="ec2"]`);
    const shown = Number(await cell.getAttribute('data-left'));
    const open = await api(`/resources?user=${who}&state=open&at=2018-06-15T23:59:59Z&limit=1000`, teacherToken);
    const created = open.filter((r) => r.created && r.created >= '2018-06-01T00:00:00Z');
    assert.equal(shown, created.length, `${who}: ${JSON.stringify(open)}`);
  }
  await shot(page, 'course');
  const csv = await page.getAttribute('p.downloads a', 'href');
  const download = await page.request.get(csv);
  assert.equal(download.status(), 200);
  assert.match(await download.text(), /^student,status,grade,completion,ec2,s3\n/);

  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('header.top nav').isVisible(), false, 'no navigation in print');
  assert.equal(await page.locator('table.heatmap').isVisible(), true, 'the heatmap prints');
  await page.emulateMedia({ media: 'screen' });

  const first = rows[0];
  await page.locator(`tr[data-student="${first}"] td.heat a`).first().click();
  await page.waitForURL(new RegExp(`/ui/courses/lab-course/students/${first}$`));
  assert.equal(await page.locator('h1').textContent(), first);
  assert.ok(await page.locator('section.lab').count() === 2);
  await shot(page, 'course-student');
  assert.deepEqual(await page.evaluate(() => window.__violations), [], 'no CSP violation');
  assert.deepEqual(problems, [], 'no console error');
  assert.deepEqual(dialogs, []);
  await context.close();
});

test('signing out ends the session', async () => {
  const { context, page } = await signedIn(teacherToken);
  const [cookie] = await context.cookies();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login/);
  assert.deepEqual(await context.cookies(), []);
  await page.goto('/ui/');
  assert.match(page.url(), /\/login\?next=/);

  // The old cookie, replayed, opens nothing.
  const replay = await browser.newContext({ baseURL: base });
  await replay.addCookies([{ ...cookie }]);
  const again = await replay.newPage();
  await again.goto('/ui/');
  assert.match(again.url(), /\/login\?next=/);
  const apiAnswer = await again.request.get('/scan?count=true');
  assert.equal(apiAnswer.status(), 401);
  await replay.close();
  await context.close();
});
