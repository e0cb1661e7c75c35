// Preloaded with `node --import ./lib/skew-clock.mjs` to give the process a
// wrong clock, as a device with a badly set clock has: Date and Date.now()
// run COMPAT_CLOCK_SKEW_MS milliseconds ahead (negative: behind). The SDKs
// stamp timestamp/originalTimestamp and sentAt with this clock, and Roster
// must correct the event time by the difference between the two.
const skew = Number(process.env.COMPAT_CLOCK_SKEW_MS || 0)
if (skew) {
  const RealDate = globalThis.Date
  const realNow = RealDate.now
  globalThis.Date = new Proxy(RealDate, {
    construct(target, args, newTarget) {
      if (args.length === 0) args = [realNow() + skew]
      return Reflect.construct(target, args, newTarget)
    },
    apply() {
      return new RealDate(realNow() + skew).toString()
    },
    get(target, prop, receiver) {
      if (prop === 'now') return () => realNow() + skew
      return Reflect.get(target, prop, receiver)
    },
  })
}
