// Sends group, identify, track, page and alias to Roster with the real
// @rudderstack/rudder-sdk-node, then flushes. By default the SDK gzips the
// batch (Content-Encoding: gzip, labelled application/x-www-form-urlencoded)
// and stamps originalTimestamp rather than timestamp; COMPAT_RUDDER_GZIP=false
// turns gzip off. The messageIds are the SDK's own: each call's callback gets
// the batch it went out in. See lib/common.mjs for the environment and the
// output.
import { gunzipSync } from 'node:zlib'
import Analytics from '@rudderstack/rudder-sdk-node'
import { config, fixtures, print, deadline } from './lib/common.mjs'

deadline(Number(process.env.COMPAT_SCRIPT_TIMEOUT_MS || 60000))
const { url, writeKey, run } = config()
const f = fixtures(run)
const gzip = process.env.COMPAT_RUDDER_GZIP !== 'false'

const errors = []
const client = new Analytics(writeKey, {
  dataPlaneUrl: url,
  gzip,
  flushAt: 20,
  flushInterval: 60000, // flushed explicitly below
  retryCount: 0, // a rejected request must show up as a failure here
  timeout: 10000,
  logLevel: 'error',
  // Called with the axios error of a failed request (instead of a rejected
  // flush); the calls' callbacks get the error too.
  errorHandler: (err) => {
    const r = err.response
    const msg = `POST ${err.config?.url}: ${r ? `HTTP ${r.status} ${JSON.stringify(r.data)}` : err.code || err.message}`
    errors.push(msg)
    console.error('rudder request failed:', msg)
  },
})

// The callback gets (err, data) where data is the request body: the batch
// object, or with gzip the compressed Buffer that was sent.
function batchOf(data) {
  if (Buffer.isBuffer(data) || data instanceof Uint8Array) {
    return JSON.parse(gunzipSync(data).toString('utf8')).batch
  }
  return data?.batch ?? []
}

const calls = {}
const pending = []
function call(type, message) {
  pending.push(
    new Promise((resolve) => {
      client[type](message, (err, data) => {
        let messageId
        try {
          // Each call here is the only one of its type in the run.
          messageId = batchOf(data).find((m) => m.type === type)?.messageId
        } catch (e) {
          console.error('could not read the batch of', type, e)
        }
        calls[type] = { messageId, error: err ? String(err) : undefined }
        resolve()
      })
    }),
  )
}

call('group', { userId: f.userId, groupId: f.groupId, traits: f.groupTraits })
call('identify', { userId: f.userId, traits: f.identifyTraits })
call('track', { userId: f.userId, event: f.event, properties: f.properties })
call('page', { userId: f.userId, category: f.pageCategory, name: f.pageName, properties: f.pageProperties })
call('alias', { userId: f.userId, previousId: f.previousId })

try {
  await client.flush()
} catch (e) {
  const r = e.response
  errors.push(String(e))
  console.error(`rudder flush failed: ${e}${r ? ` (HTTP ${r.status}: ${JSON.stringify(r.data)})` : ''}`)
}
await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 15000))])

print({
  library: 'analytics-node',
  run,
  gzip,
  sent: { ...f, groupTraitsJSON: JSON.stringify(f.groupTraits) },
  calls,
  errors,
})
const failed = errors.length > 0 || Object.keys(calls).length !== 5 || Object.values(calls).some((c) => c.error)
process.exit(failed ? 1 : 0)
