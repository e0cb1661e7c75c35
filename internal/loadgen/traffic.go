package loadgen

import (
	"strconv"
	"strings"
	"time"
)

// kind is a call type the generator sends.
type kind uint8

const (
	kindGroup kind = iota
	kindIdentify
	kindTrack
	numKinds
)

var kindNames = [numKinds]string{"group", "identify", "track"}

func (k kind) String() string { return kindNames[k] }

func kindByName(name string) (kind, bool) {
	for k, n := range kindNames {
		if n == name {
			return kind(k), true
		}
	}
	return 0, false
}

// traffic builds the messages. Message n is a pure function of the seed
// and n (apart from its timestamp), whichever worker builds it and in
// whatever order, so a run with a seed is the same traffic every time and
// the tests can predict it.
//
// Bodies are built with append rather than encoding/json or fmt: the
// generator must stay well ahead of the floor handler, or the floor would
// measure the generator.
type traffic struct {
	prefix string // of every messageId: prefix + n
	seed   uint64
	salt   uint64 // derived from seed: which group is whose, group attributes
	cum    [numKinds]uint64
	users  uint64
	groups uint64
}

func newTraffic(cfg Config, prefix string) *traffic {
	t := &traffic{prefix: prefix, seed: cfg.Seed, salt: hash(cfg.Seed ^ 0x5eed), users: uint64(cfg.Users), groups: uint64(cfg.Groups)}
	var sum uint64
	for k, w := range cfg.Mix {
		sum += uint64(w)
		t.cum[k] = sum
	}
	return t
}

// rng is splitmix64: tiny, fast, and plenty to shape traffic with.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn is uniform enough for traffic shaping; the modulo bias is below
// 1e-12 for the ranges used here.
func (r *rng) intn(n uint64) uint64 { return r.next() % n }

func hash(x uint64) uint64 {
	r := rng{x}
	return r.next()
}

// stream is message n's own random sequence.
func (t *traffic) stream(n uint64) rng { return rng{hash(t.seed ^ hash(n))} }

func (t *traffic) pickKind(r *rng) kind {
	x := r.intn(t.cum[numKinds-1])
	for k, c := range t.cum {
		if x < c {
			return kind(k)
		}
	}
	return numKinds - 1
}

// homeGroup is the group a user mostly acts in; about one group call in
// ten goes to another group, so users belong to several groups, as the
// spec allows.
func (t *traffic) homeGroup(user uint64) uint64 { return hash(user^t.salt) % t.groups }

// timestamp formats now the way SDKs send it.
func timestamp(b []byte, now time.Time) []byte {
	return now.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
}

// appendBatch appends a /v1/batch body holding messages first to
// first+len(kinds)-1 and records each one's call type in kinds.
func (t *traffic) appendBatch(b []byte, first uint64, kinds []kind, ts []byte) []byte {
	b = append(b, `{"batch":[`...)
	for i := range kinds {
		if i > 0 {
			b = append(b, ',')
		}
		b, kinds[i] = t.appendMessage(b, first+uint64(i), true, ts)
	}
	b = append(b, `],"sentAt":"`...)
	b = append(b, ts...)
	return append(b, `"}`...)
}

// appendMessage appends message n: with its type inside a batch, with
// sentAt as a single call (whose type is the path).
func (t *traffic) appendMessage(b []byte, n uint64, inBatch bool, ts []byte) ([]byte, kind) {
	r := t.stream(n)
	k := t.pickKind(&r)
	user := r.intn(t.users)
	home := t.homeGroup(user)
	b = append(b, '{')
	if inBatch {
		b = append(b, `"type":"`...)
		b = append(b, kindNames[k]...)
		b = append(b, `",`...)
	}
	b = append(b, `"messageId":"`...)
	b = append(b, t.prefix...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, `","userId":"user-`...)
	b = strconv.AppendUint(b, user, 10)
	b = append(b, '"')
	contextGroup := false
	switch k {
	case kindGroup:
		g := home
		if r.intn(10) == 0 {
			g = r.intn(t.groups)
		}
		b = append(b, `,"groupId":"group-`...)
		b = strconv.AppendUint(b, g, 10)
		b = append(b, `","traits":`...)
		b = t.groupTraits(b, g, &r)
	case kindIdentify:
		// analytics.js sends the anonymousId with identify; it is always
		// this user's, so identity merges never conflict.
		b = append(b, `,"anonymousId":"anon-`...)
		b = strconv.AppendUint(b, user, 10)
		b = append(b, `","traits":`...)
		b = t.userTraits(b, user, home, &r)
	case kindTrack:
		b = t.trackEvent(b, n, &r)
		contextGroup = r.intn(2) == 0
	}
	b = append(b, `,"context":{"ip":"10.`...)
	b = strconv.AppendUint(b, user>>16&255, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, user>>8&255, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, user&255, 10)
	b = append(b, `","library":{"name":"roster-bench","version":"1.0.0"},"userAgent":"`...)
	b = append(b, userAgents[hash(user)%uint64(len(userAgents))]...)
	b = append(b, '"')
	if contextGroup {
		b = append(b, `,"groupId":"group-`...)
		b = strconv.AppendUint(b, home, 10)
		b = append(b, '"')
	}
	b = append(b, `},"timestamp":"`...)
	b = append(b, ts...)
	if !inBatch {
		b = append(b, `","sentAt":"`...)
		b = append(b, ts...)
	}
	return append(b, `"}`...), k
}

// groupTraits are the spec's example traits (name, industry, employees,
// plan, "total billed") for every call, stable per group, with some
// changes (plan, employees) that make trait history, and the other
// reserved traits on some calls only, so that "not sent keeps its value"
// is exercised; now and then status is sent as null.
func (t *traffic) groupTraits(b []byte, g uint64, r *rng) []byte {
	gh := hash(g ^ t.salt)
	co := companies[gh%uint64(len(companies))]
	b = append(b, `{"name":"`...)
	b = appendGroupName(b, g, co)
	b = append(b, `","industry":"`...)
	b = append(b, industries[gh>>8%uint64(len(industries))]...)
	b = append(b, `","employees":`...)
	employees := 5 + gh>>16%5000
	if r.intn(20) == 0 {
		employees += r.intn(50)
	}
	b = strconv.AppendUint(b, employees, 10)
	plan := plans[gh>>32%uint64(len(plans))]
	if r.intn(10) == 0 {
		plan = plans[r.intn(uint64(len(plans)))]
	}
	b = append(b, `,"plan":"`...)
	b = append(b, plan...)
	b = append(b, `","total billed":`...)
	b = strconv.AppendUint(b, gh>>40%10000+r.intn(1000), 10)
	if r.intn(4) == 0 {
		b = append(b, `,"website":"https://`...)
		b = append(b, co.slug...)
		b = append(b, '-')
		b = strconv.AppendUint(b, g, 10)
		b = append(b, `.example.com"`...)
	}
	if r.intn(4) == 0 {
		b = append(b, `,"createdAt":"`...)
		b = appendDate(b, gh)
		b = append(b, '"')
	}
	if r.intn(4) == 0 {
		c := cities[gh>>24%uint64(len(cities))]
		b = append(b, `,"address":{"street":"`...)
		b = strconv.AppendUint(b, 1+gh>>48%900, 10)
		b = append(b, ` Main St","city":"`...)
		b = append(b, c.city...)
		b = append(b, `","state":"`...)
		b = append(b, c.state...)
		b = append(b, `","postalCode":"`...)
		b = append(b, c.postal...)
		b = append(b, `","country":"`...)
		b = append(b, c.country...)
		b = append(b, `"}`...)
	}
	if r.intn(4) == 0 {
		b = append(b, `,"stripe customer id":"cus_`...)
		b = strconv.AppendUint(b, gh, 36)
		b = append(b, '"')
	}
	switch r.intn(50) {
	case 0:
		b = append(b, `,"status":null`...)
	case 1:
		b = append(b, `,"status":"churned"`...)
	case 2, 3, 4:
		b = append(b, `,"status":"active"`...)
	}
	return append(b, '}')
}

// userTraits are identify's reserved traits, stable per user, and now and
// then the company the user works for.
func (t *traffic) userTraits(b []byte, user, home uint64, r *rng) []byte {
	uh := hash(user ^ t.salt ^ 0xface)
	first := firstNames[uh%uint64(len(firstNames))]
	last := lastNames[uh>>8%uint64(len(lastNames))]
	hco := companies[hash(home^t.salt)%uint64(len(companies))]
	b = append(b, `{"name":"`...)
	b = append(b, first.name...)
	b = append(b, ' ')
	b = append(b, last.name...)
	b = append(b, `","firstName":"`...)
	b = append(b, first.name...)
	b = append(b, `","lastName":"`...)
	b = append(b, last.name...)
	b = append(b, `","email":"`...)
	b = append(b, first.slug...)
	b = append(b, '.')
	b = append(b, last.slug...)
	b = append(b, '.')
	b = strconv.AppendUint(b, user, 10)
	b = append(b, '@')
	b = append(b, hco.slug...)
	b = append(b, '-')
	b = strconv.AppendUint(b, home, 10)
	b = append(b, `.example.com","title":"`...)
	b = append(b, titles[uh>>16%uint64(len(titles))]...)
	b = append(b, `","logins":`...)
	b = strconv.AppendUint(b, r.intn(1000), 10)
	if r.intn(4) == 0 {
		b = append(b, `,"createdAt":"`...)
		b = appendDate(b, uh)
		b = append(b, '"')
	}
	if r.intn(4) == 0 {
		b = append(b, `,"company":{"id":"group-`...)
		b = strconv.AppendUint(b, home, 10)
		b = append(b, `","name":"`...)
		b = appendGroupName(b, home, hco)
		b = append(b, `"}`...)
	}
	return append(b, '}')
}

// trackEvent appends event and properties from a few common B2B events.
func (t *traffic) trackEvent(b []byte, n uint64, r *rng) []byte {
	switch r.intn(5) {
	case 0:
		b = append(b, `,"event":"Order Completed","properties":{"orderId":"o-`...)
		b = strconv.AppendUint(b, n, 10)
		b = append(b, `","revenue":`...)
		b = appendCents(b, 500+r.intn(100000))
		b = append(b, `,"currency":"USD","products":`...)
		b = strconv.AppendUint(b, 1+r.intn(5), 10)
		b = append(b, '}')
	case 1:
		b = append(b, `,"event":"Product Viewed","properties":{"product_id":"p-`...)
		b = strconv.AppendUint(b, r.intn(500), 10)
		b = append(b, `","category":"`...)
		b = append(b, categories[r.intn(uint64(len(categories)))]...)
		b = append(b, `","price":`...)
		b = appendCents(b, 99+r.intn(50000))
		b = append(b, '}')
	case 2:
		b = append(b, `,"event":"Report Generated","properties":{"report":"`...)
		b = append(b, reports[r.intn(uint64(len(reports)))]...)
		b = append(b, `","rows":`...)
		b = strconv.AppendUint(b, r.intn(100000), 10)
		b = append(b, '}')
	case 3:
		b = append(b, `,"event":"Invite Sent","properties":{"invitee":"user-`...)
		b = strconv.AppendUint(b, r.intn(t.users), 10)
		b = append(b, `","role":"member"}`...)
	default:
		b = append(b, `,"event":"Feature Used","properties":{"feature":"`...)
		b = append(b, features[r.intn(uint64(len(features)))]...)
		b = append(b, `"}`...)
	}
	return b
}

func appendGroupName(b []byte, g uint64, co word) []byte {
	b = append(b, co.name...)
	b = append(b, ' ')
	return strconv.AppendUint(b, g, 10)
}

// appendDate is a createdAt between 2012 and 2023, fixed by h.
func appendDate(b []byte, h uint64) []byte {
	d := time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(h%(4000*86400)) * time.Second)
	return d.AppendFormat(b, "2006-01-02T15:04:05Z")
}

func appendCents(b []byte, cents uint64) []byte {
	b = strconv.AppendUint(b, cents/100, 10)
	b = append(b, '.', byte('0'+cents/10%10), byte('0'+cents%10))
	return b
}

// word is a display name and its form inside emails and URLs.
type word struct{ name, slug string }

var (
	companies = []word{
		{"Initech", "initech"}, {"Tesla", "tesla"}, {"Acme", "acme"}, {"Globex", "globex"},
		{"Umbrella", "umbrella"}, {"Hooli", "hooli"}, {"Stark Industries", "stark"},
		{"Wayne Enterprises", "wayne"}, {"Soylent", "soylent"}, {"Vandelay Industries", "vandelay"},
		{"Cyberdyne", "cyberdyne"}, {"Wonka", "wonka"}, {"Massive Dynamic", "massive"}, {"Pied Piper", "piedpiper"},
	}
	firstNames = []word{
		{"Ada", "ada"}, {"Grace", "grace"}, {"Alan", "alan"}, {"Linus", "linus"}, {"Margaret", "margaret"},
		{"Ken", "ken"}, {"Barbara", "barbara"}, {"Dennis", "dennis"}, {"Frances", "frances"}, {"Edsger", "edsger"},
		{"Radia", "radia"}, {"Tim", "tim"}, {"Sophie", "sophie"}, {"John", "john"}, {"Hedy", "hedy"}, {"Donald", "donald"},
	}
	lastNames = []word{
		{"Lovelace", "lovelace"}, {"Hopper", "hopper"}, {"Turing", "turing"}, {"Torvalds", "torvalds"},
		{"Hamilton", "hamilton"}, {"Thompson", "thompson"}, {"Liskov", "liskov"}, {"Ritchie", "ritchie"},
		{"Allen", "allen"}, {"Dijkstra", "dijkstra"}, {"Perlman", "perlman"}, {"Berners-Lee", "berners-lee"},
		{"Wilson", "wilson"}, {"McCarthy", "mccarthy"}, {"Lamarr", "lamarr"}, {"Knuth", "knuth"},
	}
	industries = []string{"Technology", "Automotive", "Finance", "Healthcare", "Retail", "Manufacturing", "Education", "Media"}
	plans      = []string{"free", "trial", "pro", "enterprise"}
	titles     = []string{"CEO", "CTO", "Engineer", "Product Manager", "Designer", "Analyst", "Sales Lead", "Support"}
	categories = []string{"Books", "Software", "Hardware", "Services", "Training"}
	reports    = []string{"Weekly revenue", "Active users", "Churn", "Pipeline", "Usage by seat"}
	features   = []string{"dashboards", "exports", "sso", "api", "alerts", "audit log"}
	userAgents = []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/40.0.2214.115 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
		"analytics-node/3.1.0",
	}
	cities = []struct{ city, state, postal, country string }{
		{"Austin", "TX", "78701", "USA"}, {"San Francisco", "CA", "94107", "USA"}, {"New York", "NY", "10001", "USA"},
		{"Berlin", "BE", "10115", "Germany"}, {"Paris", "IDF", "75001", "France"}, {"Toronto", "ON", "M5H 2N2", "Canada"},
	}
)

// number is the message number of one of this run's messageIds.
func (t *traffic) number(messageID string) (uint64, bool) {
	s, ok := strings.CutPrefix(messageID, t.prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}
