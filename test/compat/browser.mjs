// Opens the compat page in a real Chromium with playwright-core. The page
// loads the real analytics.js (analytics-next) and sends identify, group and
// track to Roster on another origin, so every POST is a cross-origin request
// with a CORS preflight (analytics.js sends Authorization).
//
// Environment:
//   COMPAT_PAGE_URL   the page, with ?writeKey=&cdn=&run=[&batching=1] (required)
//   COMPAT_CHROMIUM   the browser binary (default /usr/bin/chromium)
//   COMPAT_SCRIPT_TIMEOUT_MS  overall limit (default 60000)
//
// Prints one JSON object on stdout: what the page recorded (the SDK's
// messageIds), every request the page made with its status, the CORS
// preflights seen through the DevTools protocol, console errors and
// uncaught page errors. Exits non-zero when the page failed.
import { chromium } from 'playwright-core'
import { deadline, print } from './lib/common.mjs'

const limit = Number(process.env.COMPAT_SCRIPT_TIMEOUT_MS || 60000)
const pageURL = process.env.COMPAT_PAGE_URL
if (!pageURL) {
  console.error('COMPAT_PAGE_URL must be set')
  process.exit(2)
}

let browser
deadline(limit, () => browser?.close())
browser = await chromium.launch({
  executablePath: process.env.COMPAT_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  timeout: 30000,
})

const result = { requests: [], preflights: [], console: [], pageErrors: [], failedRequests: [] }
let exitCode = 0
try {
  const context = await browser.newContext()
  const page = await context.newPage()
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') result.console.push(`${m.type()}: ${m.text()}`)
  })
  page.on('pageerror', (e) => result.pageErrors.push(String(e)))
  page.on('requestfailed', (r) =>
    result.failedRequests.push({ method: r.method(), url: r.url(), error: r.failure()?.errorText }),
  )
  const bodies = new Map()
  page.on('response', async (r) => {
    const req = r.request()
    const entry = { method: req.method(), url: req.url(), status: r.status() }
    result.requests.push(entry)
    const body = req.postData()
    if (body) {
      try {
        const json = JSON.parse(body)
        for (const m of json.batch ?? [json]) if (m.messageId) bodies.set(m.messageId, r.status())
      } catch {}
    }
  })

  // Playwright does not report CORS preflights; the DevTools protocol does
  // (Network events of type "Preflight").
  const cdp = await context.newCDPSession(page)
  await cdp.send('Network.enable')
  const preflights = new Map()
  cdp.on('Network.requestWillBeSent', (e) => {
    if (e.type === 'Preflight' || e.request.method === 'OPTIONS') {
      preflights.set(e.requestId, { method: e.request.method, url: e.request.url, headers: e.request.headers })
    }
  })
  cdp.on('Network.responseReceived', (e) => {
    const p = preflights.get(e.requestId)
    if (p) {
      p.status = e.response.status
      p.responseHeaders = e.response.headers
    }
  })
  cdp.on('Network.loadingFailed', (e) => {
    const p = preflights.get(e.requestId)
    if (p) p.error = `${e.errorText}${e.corsErrorStatus ? ' ' + JSON.stringify(e.corsErrorStatus) : ''}`
  })

  await page.goto(pageURL, { waitUntil: 'load', timeout: 20000 })
  await page.waitForFunction(() => window.__compat || window.__compatError, null, { timeout: 30000 })
  const err = await page.evaluate(() => window.__compatError)
  if (err) throw new Error('page script failed: ' + err)
  const out = await page.evaluate(() => window.__compat)
  Object.assign(result, out)

  // The calls' promises resolve when analytics.js is done with them; wait
  // until Roster's answers to their POSTs have been seen too.
  const ids = Object.values(out.calls).map((c) => c.messageId)
  const until = Date.now() + 10000
  while (ids.some((id) => !bodies.has(id)) && Date.now() < until) await page.waitForTimeout(100)
  result.preflights = [...preflights.values()]
  await context.close()
} catch (e) {
  result.error = String((e && e.stack) || e)
  console.error(result.error)
  exitCode = 1
} finally {
  await browser.close()
}
print(result)
process.exit(exitCode)
