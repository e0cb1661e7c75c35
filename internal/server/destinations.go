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
	"roster/internal/destination/warehouse"
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

// loaders are the destination types that load batches over a connection
// of their own (warehouses), by type name. They read the profile store,
// and belong to one workspace.
func loaders() map[string]func(settings map[string]any, workspace string, st store.Store, logger *slog.Logger) (destination.Loader, error) {
	return map[string]func(map[string]any, string, store.Store, *slog.Logger) (destination.Loader, error){
		"postgres": func(settings map[string]any, workspace string, st store.Store, logger *slog.Logger) (destination.Loader, error) {
			return warehouse.New(settings, workspace, st, logger)
		},
	}
}

// deliverers builds a deliverer for every enabled destination in the
// config. Settings are checked for disabled ones too, so that enabling one
// later does not reveal a mistake made today.
func deliverers(cfg *config.Config, st store.Store, logger *slog.Logger) ([]*destination.Deliverer, error) {
	cat, loads := catalog(), loaders()
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
			target := destination.Target{Workspace: w.ID, Name: d.Name, Type: d.Type, Types: d.Types}
			var err error
			if load, ok := loads[d.Type]; ok {
				target.Loader, err = load(d.Settings, w.ID, st, logger)
			} else if factory, ok := cat[d.Type]; ok {
				target.Converter, err = factory(d.Settings)
			} else {
				known := slices.Sorted(maps.Keys(cat))
				known = slices.Sorted(slices.Values(append(known, slices.Collect(maps.Keys(loads))...)))
				return nil, fmt.Errorf("%s.type: unknown destination type %q (known: %s)", at, d.Type, strings.Join(known, ", "))
			}
			if err != nil {
				return nil, fmt.Errorf("%s.%w", at, err)
			}
			if !d.On() {
				destination.CloseLoader(target.Loader)
				continue
			}
			ds = append(ds, destination.NewDeliverer(target, st, st, client, logger))
		}
	}
	return ds, nil
}
