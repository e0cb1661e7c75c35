package server

import (
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"roster/internal/config"
	"roster/internal/destination"
	"roster/internal/destination/amplitude"
	"roster/internal/destination/customerio"
	"roster/internal/destination/hubspot"
	"roster/internal/destination/intercom"
	"roster/internal/destination/mixpanel"
	"roster/internal/destination/webhook"
	"roster/internal/store"
)

// catalog is every destination type Roster delivers to, by the name the
// config's type field uses.
func catalog() map[string]destination.Factory {
	return map[string]destination.Factory{
		"webhook":    webhook.New,
		"mixpanel":   mixpanel.New,
		"amplitude":  amplitude.New,
		"hubspot":    hubspot.New,
		"intercom":   intercom.New,
		"customerio": customerio.New,
	}
}

// deliverers builds a deliverer for every enabled destination in the
// config. Settings are checked for disabled ones too, so that enabling one
// later does not reveal a mistake made today.
func deliverers(cfg *config.Config, st store.Store, logger *slog.Logger) ([]*destination.Deliverer, error) {
	cat := catalog()
	// Providers answer in well under a second; a minute bounds a hung
	// connection. Redirects are not followed: a provider that moved is a
	// configuration to fix, reported by the dead letters.
	client := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	var ds []*destination.Deliverer
	for i, w := range cfg.Workspaces {
		for j, d := range w.Destinations {
			at := fmt.Sprintf("config: workspaces[%d].destinations[%d]", i, j)
			factory, ok := cat[d.Type]
			if !ok {
				return nil, fmt.Errorf("%s.type: unknown destination type %q (known: %s)", at, d.Type,
					strings.Join(slices.Sorted(maps.Keys(cat)), ", "))
			}
			conv, err := factory(d.Settings)
			if err != nil {
				return nil, fmt.Errorf("%s.%w", at, err)
			}
			if !d.On() {
				continue
			}
			ds = append(ds, destination.NewDeliverer(destination.Target{Workspace: w.ID, Name: d.Name, Type: d.Type,
				Types: d.Types, Converter: conv}, st, st, client, logger))
		}
	}
	return ds, nil
}
