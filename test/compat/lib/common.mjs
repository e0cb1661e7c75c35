// Shared by the Node scripts that compat_test.go runs: configuration from
// the environment and the calls every SDK sends.
//
// Environment:
//   ROSTER_URL        base URL of Roster, e.g. http://127.0.0.1:8080 (required)
//   ROSTER_WRITE_KEY  the source's write key (required)
//   COMPAT_RUN        prefix that makes the ids of this run unique (default "run")
//
// Each script prints one JSON object on stdout (and nothing else there):
//   {"library":..., "run":..., "sent":{...}, "calls":{"group":{"messageId":...},...},
//    "responses":[{"status":200,...}]}
// Diagnostics go to stderr. A script exits non-zero when the library
// reported a delivery error.

export function config() {
  const url = process.env.ROSTER_URL
  const writeKey = process.env.ROSTER_WRITE_KEY
  if (!url || !writeKey) {
    console.error('ROSTER_URL and ROSTER_WRITE_KEY must be set')
    process.exit(2)
  }
  return { url: url.replace(/\/+$/, ''), writeKey, run: process.env.COMPAT_RUN || 'run' }
}

// fixtures are the calls, with ids made unique by run. The group traits are
// the ones the Go test expects back verbatim.
export function fixtures(run) {
  return {
    userId: `${run}-user-1`,
    previousId: `${run}-anon-1`,
    groupId: `${run}-acme`,
    groupTraits: {
      name: 'Acme Inc',
      industry: 'Manufacturing',
      employees: 250,
      plan: 'enterprise',
      createdAt: '2021-03-04T05:06:07.000Z',
      'stripe customer id': 'cus_Q1w2E3r4',
    },
    identifyTraits: {
      email: 'ada@acme.example',
      name: 'Ada Lovelace',
      plan: 'enterprise',
    },
    event: 'Order Completed',
    properties: { orderId: `${run}-order-1`, revenue: 99.5, currency: 'EUR' },
    pageCategory: 'Docs',
    pageName: 'Pricing',
    pageProperties: { path: '/pricing', title: 'Pricing' },
  }
}

// print writes the result for the Go test.
export function print(result) {
  process.stdout.write(JSON.stringify(result) + '\n')
}

// deadline ends the process if the library hangs, so that a script never
// outlives its test even without the test's own timeout. cleanup (say,
// closing the browser) gets 3 s.
export function deadline(ms, cleanup) {
  const t = setTimeout(() => {
    console.error(`timed out after ${ms} ms`)
    const grace = new Promise((resolve) => setTimeout(resolve, 3000))
    Promise.race([Promise.resolve().then(cleanup), grace])
      .catch((e) => console.error('cleanup:', e))
      .finally(() => process.exit(3))
  }, ms)
  t.unref()
}
