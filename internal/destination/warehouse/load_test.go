package warehouse_test

import (
	"context"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"roster/internal/destination"
	"roster/internal/store/postgres/pgtest"
)

// The account rules of the group spec, as the accounts table carries them.
func TestAccountsFollowTheProfileRules(t *testing.T) {
	h := newHarness(t, freshSchema(t), "")
	h.send(
		call{"group", "new", time.Hour, `"userId":"u1","groupId":"g1","traits":{"plan":"enterprise","stripeCustomerId":"cus_2","address":{"city":"Boston"}}`},
		call{"group", "old", 0, `"userId":"u2","groupId":"g1","traits":{"plan":"trial","industry":"Tech","stripe customer id":"cus_1","seats":3}`},
		call{"group", "", 2 * time.Hour, `"userId":"u1","groupId":"g1","traits":{"seats":null}`},
	)
	h.process()
	h.deliver()
	got := h.query(`SELECT * FROM accounts`)
	if len(got) != 1 {
		t.Fatalf("accounts = %v", got)
	}
	a := got[0]
	delete(a, "uuid_ts")
	want := map[string]string{"id": "g1", "plan": "enterprise", "industry": "Tech", "stripe_customer_id": "cus_2",
		"address_city": "Boston", "member_count": "2",
		"first_seen_at": "2024-05-01T12:00:00Z", "last_seen_at": "2024-05-01T14:00:00Z"}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("accounts row = %v\nwant %v\n(a late old event loses, null sets NULL, folded names are one column)", a, want)
	}
	ms := h.query(`SELECT group_id, user_id FROM memberships ORDER BY user_id`)
	if !reflect.DeepEqual(ms, []map[string]string{{"group_id": "g1", "user_id": "u1"}, {"group_id": "g1", "user_id": "u2"}}) {
		t.Errorf("memberships = %v", ms)
	}
	if n := h.count("groups"); n != 3 {
		t.Errorf("groups rows = %d, want one per call", n)
	}
	// A later batch spells the trait another way: same column.
	h.send(call{"group", "", 3 * time.Hour, `"userId":"u1","groupId":"g1","traits":{"stripecustomerid":"cus_3"}`})
	h.process()
	h.deliver()
	if got := h.query(`SELECT stripe_customer_id FROM accounts`); !reflect.DeepEqual(got, []map[string]string{{"stripe_customer_id": "cus_3"}}) {
		t.Errorf("accounts = %v", got)
	}
	if got := h.query(`SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'accounts' AND column_name = 'stripecustomerid'`, h.schema); len(got) != 0 {
		t.Errorf("a second column for the folded trait: %v", got)
	}
}

// A load that comes before the profile processor has applied its events
// waits for it, so the accounts row is the state after them.
func TestLoadWaitsForTheProfiles(t *testing.T) {
	h := newHarness(t, freshSchema(t), "")
	h.send(call{"group", "", 0, `"userId":"u1","groupId":"g1","traits":{"plan":"pro"}`})
	done := make(chan error, 1)
	go func() {
		_, _, err := h.d.Round(context.Background())
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("round ended before the profiles were applied: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	h.process()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := h.query(`SELECT plan FROM accounts WHERE id = 'g1'`); !reflect.DeepEqual(got, []map[string]string{{"plan": "pro"}}) {
		t.Errorf("accounts = %v", got)
	}
}

// With the processor stopped, a load gives up after ProfileWait and the
// round keeps the events: nothing is loaded half.
func TestLoadRetriesWhileProfilesLag(t *testing.T) {
	h := newHarness(t, freshSchema(t), "")
	h.loader.ProfileWait = 50 * time.Millisecond
	h.send(call{"group", "", 0, `"userId":"u1","groupId":"g1","traits":{"plan":"pro"}`})
	_, pause, err := h.d.Round(context.Background())
	if err != nil || pause == 0 {
		t.Fatalf("round: pause %v, %v; want a pause", pause, err)
	}
	if at, _ := h.st.DeliveryCursor(context.Background(), "ws/Warehouse"); at != 0 {
		t.Errorf("cursor moved to %d", at)
	}
	h.process()
	h.deliver()
	if n := h.count("accounts"); n != 1 {
		t.Errorf("accounts = %d", n)
	}
}

func TestRedeliveryAddsNothing(t *testing.T) {
	h := newHarness(t, freshSchema(t), "")
	h.send(
		call{"identify", "", 0, `"userId":"u1","anonymousId":"a1","traits":{"email":"a@x.io","age":30}`},
		call{"identify", "", time.Second, `"userId":"u2","traits":{"age":"thirty"}`},
		call{"group", "", 2 * time.Second, `"userId":"u1","groupId":"g1","traits":{"name":"Initech"}`},
		call{"track", "", 3 * time.Second, `"userId":"u1","event":"Order Completed","properties":{"revenue":9.5},"context":{"groupId":"g1"}`},
		call{"page", "", 4 * time.Second, `"anonymousId":"a9","name":"Home"`},
		call{"alias", "", 5 * time.Second, `"userId":"u3","previousId":"a9"`},
	)
	h.process()
	h.deliver()
	tables := []string{"identifies", "groups", "tracks", "order_completed", "pages", "aliases", "users", "accounts", "memberships", "discards"}
	counts := func() map[string]int {
		m := map[string]int{}
		for _, tb := range tables {
			m[tb] = h.count(tb)
		}
		return m
	}
	before := counts()
	for _, tb := range tables[:6] {
		if before[tb] == 0 {
			t.Errorf("%s is empty after the first delivery", tb)
		}
	}
	// Load the whole log again, as after a crash between the load's
	// commit and the cursor's.
	logged, err := h.st.Read(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var evs []destination.Event
	for _, e := range logged {
		ev, err := destination.FromLog(e)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if err := h.loader.Load(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if after := counts(); !reflect.DeepEqual(after, before) {
		t.Errorf("after re-delivery %v, before %v", after, before)
	}
}

// A value of another type than its column's is NULL in the table and whole
// in discards; an account's discard lasts while its value does.
func TestTypeConflictLandsInDiscards(t *testing.T) {
	h := newHarness(t, freshSchema(t), "")
	h.send(
		call{"identify", "i1", 0, `"userId":"u1","traits":{"age":30}`},
		call{"identify", "i2", time.Second, `"userId":"u2","traits":{"age":"thirty"}`},
		call{"group", "", 0, `"userId":"u1","groupId":"g1","traits":{"seats":5}`},
		call{"group", "", time.Second, `"userId":"u1","groupId":"g2","traits":{"seats":"many"}`},
	)
	h.process()
	h.deliver()
	if got := h.query(`SELECT id, age FROM identifies ORDER BY id`); !reflect.DeepEqual(got, []map[string]string{{"id": "i1", "age": "30"}, {"id": "i2"}}) {
		t.Errorf("identifies = %v", got)
	}
	if got := h.query(`SELECT id, seats FROM accounts ORDER BY id`); !reflect.DeepEqual(got, []map[string]string{{"id": "g1", "seats": "5"}, {"id": "g2"}}) {
		t.Errorf("accounts = %v", got)
	}
	ds := h.query(`SELECT table_name, column_name, column_value, row_id, reason FROM discards WHERE table_name IN ('identifies', 'accounts', 'groups') ORDER BY table_name, row_id`)
	want := []map[string]string{
		{"table_name": "accounts", "column_name": "seats", "column_value": "many", "row_id": "g2", "reason": "incompatible schema conversion from string to bigint"},
		{"table_name": "identifies", "column_name": "age", "column_value": "thirty", "row_id": "i2", "reason": "incompatible schema conversion from string to bigint"},
	}
	// The groups table got seats as 5 first too, so g2's call is there.
	if len(ds) != 3 || !reflect.DeepEqual([]map[string]string{ds[0], ds[2]}, want) || ds[1]["table_name"] != "groups" {
		t.Errorf("discards = %v\nwant %v and the groups row", ds, want)
	}
	h.send(call{"group", "", 2 * time.Second, `"userId":"u1","groupId":"g2","traits":{"seats":7}`})
	h.process()
	h.deliver()
	if got := h.query(`SELECT seats FROM accounts WHERE id = 'g2'`); !reflect.DeepEqual(got, []map[string]string{{"seats": "7"}}) {
		t.Errorf("accounts g2 = %v", got)
	}
	if got := h.query(`SELECT row_id FROM discards WHERE table_name = 'accounts'`); len(got) != 0 {
		t.Errorf("accounts discards = %v, want none once the value fits", got)
	}
}

// The warehouse goes down in the middle of loading and comes back: every
// event is loaded once, none is a dead letter.
func TestWarehouseRestartedMidLoadLosesNothing(t *testing.T) {
	through, proxy := pgtest.ThroughProxy(t)
	u, _ := url.Parse(through)
	h := newHarness(t, pgtest.WithParam(t, pgtest.URL(t), "search_path", u.Query().Get("search_path")), through)
	const n = 20000
	var calls []call
	for i := range n {
		calls = append(calls, call{"track", "", time.Duration(i) * time.Millisecond, `"userId":"u` + strings.Repeat("1", i%3+1) + `","event":"Clicked","properties":{"i":1}`})
		if len(calls) == 1000 {
			h.send(calls...)
			calls = nil
		}
	}
	h.process()
	h.d.Policy.Base = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_, pause, _ := h.d.Round(ctx)
			if at, _ := h.st.DeliveryCursor(ctx, "ws/Warehouse"); at >= n {
				return
			}
			time.Sleep(min(pause, 100*time.Millisecond))
		}
	}()
	// Cut the warehouse off once some, not all, events are in.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := h.tryCount("tracks"); err == nil && c > 0 && c < n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no partial load to interrupt")
		}
		time.Sleep(5 * time.Millisecond)
	}
	proxy.Refuse()
	time.Sleep(300 * time.Millisecond)
	proxy.Restore()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("delivery did not finish after the warehouse came back")
	}
	if c, e := h.count("tracks"), h.count("clicked"); c != n || e != n {
		t.Errorf("tracks %d, clicked %d; want %d each", c, e, n)
	}
	st, err := h.st.DeliveryStats(context.Background(), "ws/Warehouse")
	if err != nil || st.Dead != 0 || st.Retrying != 0 {
		t.Errorf("stats %+v, %v: want nothing dead or retrying", st, err)
	}
}
