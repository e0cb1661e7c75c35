// Drives Roster's web console (/console) in a real Chromium with
// playwright-core, after sending calls with the real @segment/analytics-node.
//
// Environment:
//   ROSTER_URL, ROSTER_WRITE_KEY  as for the SDK scripts (lib/common.mjs)
//   ROSTER_ACCESS_TOKEN           the workspace's access token, to sign in
//   COMPAT_RUN                    makes this run's ids unique
//   COMPAT_CHROMIUM               the browser binary (default /usr/bin/chromium)
//
// Prints one JSON object on stdout: {"checks":[...passed], "failures":[...]}.
// Exits non-zero when a check failed.
import { Analytics } from '@segment/analytics-node'
import { chromium } from 'playwright-core'
import { config, deadline, print } from './lib/common.mjs'

const limit = Number(process.env.COMPAT_SCRIPT_TIMEOUT_MS || 60000)
const { url, writeKey, run } = config()
const token = process.env.ROSTER_ACCESS_TOKEN
const hostile = '<img src=x onerror=window.__xss=1>'
const groupId = `${run}-acme`
const result = { checks: [], failures: [], console: [], pageErrors: [] }

function check(ok, what) {
  ;(ok ? result.checks : result.failures).push(what)
}

async function processed() {
  for (let i = 0; i < 400; i++) {
    const r = await fetch(`${url}/v1/workspaces/default/processing`, { headers: { Authorization: `Bearer ${token}` } })
    if ((await r.json()).behind === 0) return
    await new Promise((res) => setTimeout(res, 25))
  }
  throw new Error('profiles did not catch up')
}

async function sendTrack(event) {
  const r = await fetch(`${url}/v1/track`, {
    method: 'POST',
    headers: { Authorization: 'Basic ' + Buffer.from(writeKey + ':').toString('base64'), 'Content-Type': 'application/json' },
    body: JSON.stringify({ userId: `${run}-ann`, event, properties: { n: 1 } }),
  })
  if (r.status !== 200) throw new Error(`track answered ${r.status}`)
}

// The account, its members and a trait change, from the real SDK.
const analytics = new Analytics({ writeKey, host: url, flushAt: 1, maxRetries: 0 })
const t0 = Date.now()
// The second call leaves only once the first is stored: with flushAt 1 the
// two would race, and the history would show the change only in that order.
await new Promise((resolve, reject) => analytics.group(
  { userId: `${run}-ann`, groupId, traits: { name: 'Acme Node', plan: 'trial', note: hostile }, timestamp: new Date(t0 - 60000) },
  (err) => (err ? reject(err) : resolve())))
analytics.group({ userId: `${run}-bob`, groupId, traits: { plan: 'enterprise', website: 'https://acme.example' }, timestamp: new Date(t0) })
await analytics.closeAndFlush({ timeout: 30000 })
await processed()
// Both members, before the pages are read.
for (let i = 0; i < 400; i++) {
  const r = await fetch(`${url}/v1/workspaces/default/groups/${groupId}/members`, { headers: { Authorization: `Bearer ${token}` } })
  if (r.status === 200 && (await r.json()).data.length === 2) break
  await new Promise((res) => setTimeout(res, 25))
}

let browser
deadline(limit, () => browser?.close())
browser = await chromium.launch({
  executablePath: process.env.COMPAT_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  timeout: 30000,
})
let exitCode = 0
try {
  const context = await browser.newContext()
  const page = await context.newPage()
  page.setDefaultTimeout(15000)
  const dialogs = []
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss() })
  page.on('console', (m) => { if (m.type() === 'error') result.console.push(m.text()) })
  page.on('pageerror', (e) => result.pageErrors.push(String(e)))
  const offHost = []
  page.on('request', (r) => { if (!r.url().startsWith(url) && !r.url().startsWith('data:')) offHost.push(r.url()) })

  // Sign in.
  await page.goto(`${url}/console/accounts`)
  check(page.url().endsWith('/console/signin'), 'a page without a session goes to the sign-in form')
  await page.fill('input[name="token"]', token)
  await page.click('button[type="submit"]')
  await page.waitForURL(`${url}/console/`)
  check(!page.url().includes(token), 'the token is not in the URL')
  check((await page.locator('.signout').textContent()).includes('default'), 'signed in to workspace default')

  // Find the account sent by analytics-node, see its traits and members.
  await page.click('nav >> text=Accounts')
  await page.fill('input[name="q"]', 'Acme Node')
  await page.click('.filters button')
  await page.click(`a:has-text("Acme Node")`)
  await page.waitForURL(new RegExp(`/console/accounts/${groupId}$`))
  const traits = await page.locator('table.traits').textContent()
  check(traits.includes('plan') && traits.includes('"enterprise"'), 'the account shows plan = enterprise')
  check(traits.includes('reserved'), 'reserved traits are marked')
  check((await page.locator('table.traits tr', { hasText: 'website' }).textContent()).includes('default'), 'trait rows name their source')
  const members = await page.locator('table.members').textContent()
  check(members.includes(`${run}-ann`) && members.includes(`${run}-bob`), 'the account lists both members')
  const history = await page.locator('ol.timeline').textContent()
  check(/plan:\s*"trial"\s*→\s*"enterprise"/.test(history), 'the trait history shows plan "trial" → "enterprise"')

  // A hostile trait value is text, and nothing runs.
  check(await page.getByText(hostile).count() > 0, 'the hostile trait value is shown as text')
  check(await page.locator('main img').count() === 0, 'the hostile trait value made no element')
  check(await page.evaluate(() => window.__xss) === undefined && dialogs.length === 0, 'the hostile trait value ran nothing')
  check(await page.locator('a[href="https://acme.example"]').count() === 1, 'an http(s) website is a link')

  // Follow a member.
  await page.click(`table.members a:has-text("${run}-ann")`)
  await page.waitForURL(new RegExp(`/console/users/${run}-ann$`))
  check((await page.locator('main').textContent()).includes(groupId), 'the user page lists the account')

  // The debugger shows a call sent after the page opened.
  await page.goto(`${url}/console/debugger`)
  await page.waitForFunction(() => document.getElementById('status').textContent === 'live')
  await sendTrack(`${run} Opened After`)
  await page.locator('#stream', { hasText: `${run} Opened After` }).waitFor()
  check(true, 'the debugger shows a call sent after it opened')
  await page.click('#pause')
  await sendTrack(`${run} While Paused`)
  await new Promise((res) => setTimeout(res, 500))
  check(!(await page.locator('#stream').textContent()).includes('While Paused'), 'a paused debugger shows nothing new')
  await page.click('#pause')
  await page.locator('#stream', { hasText: `${run} While Paused` }).waitFor()
  check(true, 'resuming shows what arrived while paused')
  await page.fill('#f-text', 'Opened After')
  check(await page.locator('#stream li:visible').count() === 1, 'the text filter leaves one call')
  await page.fill('#f-text', '')

  // The playground sends a group call and shows the trait change.
  await page.goto(`${url}/console/playground`)
  await page.fill('input[name="groupId"]', groupId)
  await page.fill('input[name="userId"]', `${run}-ann`)
  await page.fill('input[name="trait.plan"]', 'scale')
  await page.fill('input[name="trait.employees"]', 'many')
  const payload = JSON.parse(await page.inputValue('#payload'))
  check(payload.groupId === groupId && payload.traits.plan === 'scale' && payload.traits.employees === 'many', 'the payload follows the form')
  check((await page.locator('#snip-node').textContent()).includes('analytics.group('), 'an analytics-node snippet is shown')
  check((await page.locator('#snip-curl').textContent()).includes('/v1/group'), 'a curl snippet is shown')
  await page.click('#send')
  await page.locator('#result').waitFor()
  check((await page.locator('#result h2').textContent()).includes('HTTP 200'), 'the playground shows the answer')
  const change = await page.locator('table.changes tr', { hasText: 'plan' }).textContent()
  check(change.includes('"enterprise"') && change.includes('"scale"') && change.includes('changed'), 'the playground shows plan enterprise → scale')
  check((await page.locator('ul.warnings').textContent()).includes('employees'), 'the playground shows the employees warning')

  // A 360 px wide page is usable.
  const narrow = await context.newPage()
  await narrow.setViewportSize({ width: 360, height: 740 })
  for (const path of [`/console/accounts/${groupId}`, '/console/accounts', '/console/playground', '/console/debugger', '/console/']) {
    await narrow.goto(url + path)
    const width = await narrow.evaluate(() => document.documentElement.scrollWidth)
    check(width <= 360, `${path} fits 360 px (scroll width ${width})`)
    const box = await narrow.locator('.signout button').boundingBox()
    check(box && box.x >= 0 && box.x + box.width <= 360, `${path}: sign out is on screen at 360 px`)
  }
  await narrow.goto(`${url}/console/accounts`)
  await narrow.click('nav >> text=Playground')
  check(narrow.url().endsWith('/console/playground'), 'the navigation works at 360 px')

  // Sign out.
  await page.click('.signout button')
  await page.waitForURL(`${url}/console/signin`)
  await page.goto(`${url}/console/accounts`)
  check(page.url().endsWith('/console/signin'), 'signed out')

  check(offHost.length === 0, 'nothing was fetched from another host: ' + offHost.join(' '))
  check(result.pageErrors.length === 0, 'no uncaught errors in the pages')
  check(!result.console.some((m) => m.includes('Content Security Policy')), 'no Content-Security-Policy violation')
} catch (e) {
  result.failures.push('error: ' + (e.stack || e))
} finally {
  await browser.close()
}
if (result.failures.length) exitCode = 1
print(result)
process.exit(exitCode)
