// Sends group, identify, track, page and alias to Roster with the real
// @segment/analytics-node, then closes and flushes. The messageIds are the
// SDK's own, taken from each call's callback. See lib/common.mjs for the
// environment and the output.
import { Analytics } from '@segment/analytics-node'
import { config, fixtures, print, deadline } from './lib/common.mjs'

deadline(Number(process.env.COMPAT_SCRIPT_TIMEOUT_MS || 60000))
const { url, writeKey, run } = config()
const f = fixtures(run)

const analytics = new Analytics({
  writeKey,
  host: url,
  flushAt: 3, // more than one request, and more than one event per batch
  flushInterval: 500,
  maxRetries: 0, // a rejected request must show up as a failure here, not a retry
  httpRequestTimeout: 10000,
})

const responses = []
const errors = []
analytics.on('http_response', (r) => {
  responses.push({ status: r.status, url: r.url })
  if (r.status < 200 || r.status >= 300) {
    console.error(`Roster answered ${r.status} ${r.statusText} to POST ${r.url}\nrequest body: ${r.body}`)
  }
})
analytics.on('error', (e) => {
  errors.push(String(e.reason ?? e.code))
  console.error('analytics-node error:', e.code, e.reason)
})

const calls = {}
function delivered(type) {
  return (err, ctx) => {
    calls[type] = { messageId: ctx?.event?.messageId, error: err ? String(err) : undefined }
  }
}

analytics.group({ userId: f.userId, groupId: f.groupId, traits: f.groupTraits }, delivered('group'))
analytics.identify({ userId: f.userId, traits: f.identifyTraits }, delivered('identify'))
analytics.track({ userId: f.userId, event: f.event, properties: f.properties }, delivered('track'))
analytics.page(
  { userId: f.userId, category: f.pageCategory, name: f.pageName, properties: f.pageProperties },
  delivered('page'),
)
analytics.alias({ userId: f.userId, previousId: f.previousId }, delivered('alias'))

await analytics.closeAndFlush({ timeout: 30000 })

print({
  library: '@segment/analytics-node',
  run,
  sent: { ...f, groupTraitsJSON: JSON.stringify(f.groupTraits) },
  calls,
  responses,
  errors,
})
const failed = errors.length > 0 || Object.keys(calls).length !== 5 || Object.values(calls).some((c) => c.error)
process.exit(failed ? 1 : 0)
