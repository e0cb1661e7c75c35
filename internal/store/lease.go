package store

import (
	"context"
	"time"
)

// Keeper holds one named lease for a holder, renewing it once a third of
// its ttl has passed, so that a node keeps its job while it is alive and
// loses it within ttl when it is not.
type Keeper struct {
	leases  Leases
	name    string
	holder  string
	ttl     time.Duration
	renewed time.Time
}

// NewKeeper returns a keeper of the named lease.
func NewKeeper(leases Leases, name, holder string, ttl time.Duration) *Keeper {
	return &Keeper{leases: leases, name: name, holder: holder, ttl: ttl}
}

// Hold reports whether the holder has the lease, renewing it when due.
func (k *Keeper) Hold(ctx context.Context) (bool, error) {
	if !k.renewed.IsZero() && time.Since(k.renewed) < k.ttl/3 {
		return true, nil
	}
	ok, err := k.leases.Lease(ctx, k.name, k.holder, k.ttl)
	if err != nil || !ok {
		k.renewed = time.Time{}
		return false, err
	}
	k.renewed = time.Now()
	return true, nil
}

// Wait is how long to wait before asking again after Hold said no: a
// second (asking is one cheap statement), so that a node takes over soon
// after another releases the lease on its way out.
func (k *Keeper) Wait() time.Duration { return min(k.ttl/3, time.Second) }

// Release gives the lease up, so that another node need not wait for it
// to expire.
func (k *Keeper) Release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	k.leases.Release(ctx, k.name, k.holder) //nolint:errcheck // it expires anyway
	k.renewed = time.Time{}
}
