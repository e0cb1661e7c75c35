// Package server wires Roster together: store, credentials, HTTP routes,
// and the lifecycle from start to graceful shutdown.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"roster/internal/api"
	"roster/internal/archive"
	"roster/internal/auth"
	"roster/internal/config"
	"roster/internal/console"
	"roster/internal/destination"
	"roster/internal/ingest"
	"roster/internal/metrics"
	"roster/internal/openapi"
	"roster/internal/pipeline"
	"roster/internal/retention"
	"roster/internal/routes"
	"roster/internal/store"
	"roster/internal/store/pebble"
	"roster/internal/store/postgres"
)

// Options say how to run.
type Options struct {
	Addr        string
	DataDir     string
	DatabaseURL string
	ConfigPath  string
	// WriteKey and AccessToken, when set, are ensured in the default
	// workspace (ROSTER_WRITE_KEY, ROSTER_ACCESS_TOKEN).
	WriteKey    string
	AccessToken string
	Logger      *slog.Logger
	// Out receives the first-start instructions.
	Out io.Writer
	// SeparateMetrics leaves GET /metrics off the main listener; serve
	// MetricsHandler on an internal address instead (--metrics-addr).
	SeparateMetrics bool
	// YieldToRequests runs the profile processor at the lowest CPU
	// priority, so that when the CPU is short requests are acknowledged
	// first and profiles catch up after (pipeline.Processor.Yield).
	YieldToRequests bool
}

// Server is a running Roster.
type Server struct {
	store     store.Store
	handler   http.Handler
	http      config.HTTP
	processor *pipeline.Processor
	delivery  *destination.Manager
	retainer  *retention.Retainer
	holder    string
	every     time.Duration
	log       *slog.Logger
	metrics   http.Handler
	routes    *routes.Recorder
}

// New opens the store and builds the routes. An unset Logger is
// slog.Default().
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg, err := config.Load(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, opts, cfg)
	if err != nil {
		return nil, err
	}
	reg, err := bootstrap(ctx, st, cfg, opts)
	if err != nil {
		st.Close()
		return nil, err
	}
	ds, err := deliverers(cfg, st, opts.Logger)
	if err != nil {
		st.Close()
		return nil, err
	}
	// Nodes sharing a database take turns at the log's jobs by this name.
	holder := nodeName()
	delivery := destination.NewManager(ds, st, st, st, holder, opts.Logger)
	promReg := metrics.NewRegistry()
	m := metrics.New(promReg)
	promReg.MustRegister(metrics.NewState(st, delivery, opts.Logger))
	delivery.Observe(m)
	if err := delivery.Start(ctx); err != nil {
		st.Close()
		return nil, err
	}
	processor := pipeline.NewProcessor(st, st, opts.Logger)
	processor.Lease = store.NewKeeper(st, store.ProfileCursor, holder, 15*time.Second)
	processor.Yield = opts.YieldToRequests
	mux := http.NewServeMux()
	routed := routes.NewRecorder(mux)
	var tap *console.Hub
	if cfg.Console.On() {
		tap = console.NewHub(nil)
	}
	ingestOpts := ingest.Options{
		Log:       st,
		Sources:   reg,
		Limits:    cfg.Limits,
		PublicURL: cfg.PublicURL,
		NewID:     uuid.NewString,
		Logger:    opts.Logger,
		Observe:   m,
	}
	if tap != nil {
		ingestOpts.Tap = tap
	}
	ingest.New(ingestOpts).Register(routed)
	api.New(st, reg).WithProfileSettings(profileSettings(cfg)).Register(routed)
	api.NewExport(st, st, reg).Register(routed)
	api.NewDestinations(delivery, reg).Register(routed)
	routed.Handle("GET /openapi.json", openapi.Handler())
	if tap != nil {
		// The console is HTML for people, not part of the API the OpenAPI
		// document describes: its routes go on the mux directly.
		c, err := console.New(console.Options{Store: st, Credentials: reg, Destinations: delivery,
			Ingest: mux, Hub: tap, Logger: opts.Logger})
		if err != nil {
			st.Close()
			return nil, err
		}
		c.Register(mux)
	}
	routed.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK, "ok", "")
	})
	routed.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			writeStatus(w, http.StatusServiceUnavailable, "unavailable", err.Error())
			return
		}
		writeStatus(w, http.StatusOK, "ready", "")
	})
	metricsHandler := metrics.Handler(promReg, cfg.Metrics.Token, opts.Logger)
	if !opts.SeparateMetrics {
		routed.Handle("GET /metrics", metricsHandler)
	}
	handler := observeRequests(mux, m, newFailureLog(opts.Logger), limitConcurrency(cfg.HTTP.MaxConcurrentRequests, mux))
	every := time.Duration(cfg.Retention.Every)
	if every <= 0 {
		every = config.DefaultRetentionEvery
	}
	return &Server{store: st, handler: handler, http: cfg.HTTP,
		processor: processor, delivery: delivery, retainer: retainer(st, delivery, opts, cfg), holder: holder, every: every,
		log: opts.Logger, metrics: metricsHandler, routes: routed}, nil
}

// nodeName tells this process from the other nodes on the same database.
func nodeName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), uuid.NewString()[:8])
}

func openStore(ctx context.Context, opts Options, cfg *config.Config) (store.Store, error) {
	so := store.Options{DedupWindow: time.Duration(cfg.DedupWindow)}
	switch u := opts.DatabaseURL; {
	case u == "":
		return pebble.Open(ctx, opts.DataDir, so, opts.Logger)
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return postgres.Open(ctx, u, so, opts.Logger)
	}
	return nil, errors.New("--database-url: must be a postgres:// or postgresql:// URL; leave it empty to use the embedded store")
}

// Rebuild throws away all profile state and applies the archives that
// retention wrote and then the whole log again,
// which must give the state that incremental processing gave. The server
// must not be running on the same data (the store refuses a second user).
// progress, if not nil, is called after each batch with the events applied
// and the events in the log.
func Rebuild(ctx context.Context, opts Options, progress func(applied, total int)) (int, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg, err := config.Load(opts.ConfigPath)
	if err != nil {
		return 0, err
	}
	st, err := openStore(ctx, opts, cfg)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if err := st.ResetProfiles(ctx); err != nil {
		return 0, err
	}
	head, err := st.Head(ctx)
	if err != nil {
		return 0, err
	}
	// Events that retention trimmed are in its archive files, read first.
	log, err := archive.NewLog(archiveDir(opts, cfg), st)
	if err != nil {
		return 0, err
	}
	defer log.Close()
	head = max(head, log.Archived())
	p := pipeline.NewProcessor(log, st, opts.Logger)
	if progress != nil {
		p.Progress = func(read int) { progress(read, int(head)) }
	}
	return p.CatchUp(ctx)
}

func writeStatus(w http.ResponseWriter, code int, status, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"status": status, "reason": reason}) //nolint:errcheck
}

// Handler is every route of the server.
func (s *Server) Handler() http.Handler { return s.handler }

// Routes returns the pattern of every route the handler serves.
func (s *Server) Routes() []string { return s.routes.Patterns() }

// MetricsHandler serves GET /metrics, for an internal address of its own
// (Options.SeparateMetrics).
func (s *Server) MetricsHandler() http.Handler { return s.metrics }

// Close releases the store after committing what is queued.
func (s *Server) Close() error { return s.store.Close() }

// Serve answers on ln until ctx ends, then stops taking requests, lets
// those in flight finish (their events committed), and closes the store.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           refuseAmbiguousFraming(s.handler),
		ConnContext:       withFramingConn,
		ReadHeaderTimeout: time.Duration(s.http.ReadHeaderTimeout),
		ReadTimeout:       time.Duration(s.http.ReadTimeout),
		WriteTimeout:      time.Duration(s.http.WriteTimeout),
		IdleTimeout:       time.Duration(s.http.IdleTimeout),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	pctx, stopProcessing := context.WithCancel(context.Background())
	processed := make(chan struct{})
	go func() {
		defer close(processed)
		var wg sync.WaitGroup
		wg.Go(func() { s.processor.Run(pctx) })
		wg.Go(func() { s.delivery.Run(pctx) })
		if s.retainer != nil {
			lease := store.NewKeeper(s.store, "retention", s.holder, 15*time.Second)
			wg.Go(func() { runRetention(pctx, s.retainer, lease, s.every, s.log) })
		}
		wg.Wait()
	}()
	stop := func() {
		stopProcessing()
		<-processed
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(framingListener{ln}) }()
	select {
	case err := <-errc:
		stop()
		s.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	stop()
	if cerr := s.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	s.log.Info("stopped")
	return nil
}

// profileSettings are each workspace's Profile API settings from cfg.
func profileSettings(cfg *config.Config) map[string]api.ProfileSettings {
	out := make(map[string]api.ProfileSettings, len(cfg.Workspaces))
	for _, w := range cfg.Workspaces {
		out[w.ID] = api.ProfileSettings{IDTypes: w.ProfileAPI.UserIDTypes(), RateLimit: w.ProfileAPI.RateLimit}
	}
	return out
}

// bootstrap gathers the credentials from the config, the environment and
// the store, and creates the first ones when there are none, printing them.
func bootstrap(ctx context.Context, st store.Store, cfg *config.Config, opts Options) (*auth.Registry, error) {
	var sources []store.Source
	var tokens []store.AccessToken
	for _, w := range cfg.Workspaces {
		for _, s := range w.Sources {
			sources = append(sources, store.Source{Workspace: w.ID, Name: s.Name, WriteKey: s.WriteKey})
		}
		for _, t := range w.AccessTokens {
			tokens = append(tokens, store.AccessToken{Workspace: w.ID, Name: t.Name, Hash: auth.HashToken(t.Token)})
		}
	}
	stored, err := st.Sources(ctx)
	if err != nil {
		return nil, err
	}
	storedTokens, err := st.AccessTokens(ctx)
	if err != nil {
		return nil, err
	}
	sources = append(sources, stored...)
	tokens = append(tokens, storedTokens...)

	var generatedKey, generatedToken string
	key := opts.WriteKey
	if key == "" && len(sources) == 0 {
		key = auth.NewSecret("wk_")
		generatedKey = key
	}
	if key != "" && !hasKey(sources, key) {
		src := store.Source{Workspace: config.DefaultWorkspace, Name: "default", WriteKey: key}
		if err := st.PutSource(ctx, src); err != nil {
			return nil, err
		}
		sources = append(sources, src)
	}
	token := opts.AccessToken
	if token == "" && len(tokens) == 0 {
		token = auth.NewSecret("tok_")
		generatedToken = token
	}
	if token != "" {
		t := store.AccessToken{Workspace: config.DefaultWorkspace, Name: "default", Hash: auth.HashToken(token)}
		if err := st.PutAccessToken(ctx, t); err != nil {
			return nil, err
		}
		tokens = append(tokens, t)
	}
	if generatedKey != "" || generatedToken != "" {
		printFirstStart(opts, generatedKey, generatedToken)
	}
	return auth.NewRegistry(sources, tokens), nil
}

func hasKey(sources []store.Source, key string) bool {
	for _, s := range sources {
		if s.WriteKey == key {
			return true
		}
	}
	return false
}

func printFirstStart(opts Options, key, token string) {
	if opts.Out == nil {
		return
	}
	host := opts.Addr
	if strings.HasPrefix(host, ":") {
		host = "localhost" + host
	}
	var b strings.Builder
	b.WriteString("\nRoster created credentials for workspace \"default\" (they are stored in " + opts.DataDir + "):\n")
	if key != "" {
		fmt.Fprintf(&b, "  write key:    %s\n", key)
	}
	if token != "" {
		fmt.Fprintf(&b, "  access token: %s   (shown only now; Roster keeps only its hash)\n", token)
	}
	if key != "" {
		fmt.Fprintf(&b, "\nSend a first group call:\n  curl -u %s: http://%s/v1/group -H 'Content-Type: application/json' \\\n    -d '{\"userId\":\"u1\",\"groupId\":\"acme\",\"traits\":{\"name\":\"Acme Inc\",\"plan\":\"enterprise\"}}'\n", key, host)
	}
	if token != "" {
		fmt.Fprintf(&b, "\nSee what arrived:\n  curl -u %s: http://%s/v1/workspaces/default/events\n", token, host)
	}
	b.WriteString("\n")
	io.WriteString(opts.Out, b.String()) //nolint:errcheck
}
