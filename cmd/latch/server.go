package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/latchhq/latch/pkg/env"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/audit/ship"
	"github.com/latchhq/latch/pkg/audit/sinks"
	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/hooks"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/local"
	"github.com/latchhq/latch/pkg/metrics"
	"github.com/latchhq/latch/pkg/oncall"
	"github.com/latchhq/latch/pkg/reconcile"
	"github.com/latchhq/latch/pkg/strategies"
	"github.com/latchhq/latch/pkg/tokens"
	"github.com/spf13/cobra"
)

type serverOptions struct {
	rateLimit float64
	domains   []string
	addr      string
	data      string
	flows     string
	logFormat string
	logLevel  string
	limits    serverLimits
	tlsCert   string
	tlsKey    string
	// reconcileEvery is how often the reconciler runs.
	reconcileEvery time.Duration
}

func newServerCmd() *cobra.Command {
	o := serverOptions{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run Latch as one local process: API, engine, grant runner and an embedded store",
		Long: `Run Latch as one local process.

The store is a bbolt file in --data. Flows are read from --flows at start; a bad
flow stops the server with file:line: reason. LATCH_ADMIN_TOKEN sets the
bootstrap admin bearer token for the API.

--domain (or LATCH_DOMAINS) names the organisation's email domains: new people
in them (or their subdomains) join as members, everyone else as guests. The
domains are added to the store at start; 'latch domains' manages them after.
With no domain at all, every new person joins as a member.

The read, write and idle timeouts and the connection cap bound what callers of
the port can hold; the store is checked at start and a damaged one refused;
'latch backup FILE' copies the store while the server runs. See docs/server.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServer(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringVar(&o.data, "data", ".latch", "directory for the embedded store")
	f.StringVar(&o.flows, "flows", "flows", "directory of flow files")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", env.Or("LATCH_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	f.StringVar(&o.tlsCert, "tls-cert", os.Getenv("LATCH_TLS_CERT"), "serve HTTPS with this PEM certificate (chain) file; with --tls-key (LATCH_TLS_CERT)")
	f.StringVar(&o.tlsKey, "tls-key", os.Getenv("LATCH_TLS_KEY"), "the PEM private key of --tls-cert (LATCH_TLS_KEY)")
	f.Float64Var(&o.rateLimit, "rate-limit", httpapi.DefaultRateLimit.Rate, "API calls a second allowed per token, with bursts of twice that (0: no limit)")
	f.StringArrayVar(&o.domains, "domain", env.List(os.Getenv("LATCH_DOMAINS")),
		"an email domain of the organisation: its people join as members, others as guests (repeatable; LATCH_DOMAINS=a.com,b.com)")
	f.DurationVar(&o.reconcileEvery, "reconcile-every", time.Minute,
		"how often the reconciler runs: overdue revokes, lost expiries and starts, drift, break-glass reviews (at least 1s)")
	addLimitFlags(cmd, &o.limits)
	return cmd
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format: %q is not text or json", format)}
}

// runServer wires the local runtime and serves until ctx ends.
func runServer(ctx context.Context, o serverOptions) error {
	log, err := newLogger(o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	if err := o.limits.validate(); err != nil {
		return err
	}
	if o.reconcileEvery < time.Second {
		return usageError{fmt.Errorf("--reconcile-every: %s is shorter than 1s", o.reconcileEvery)}
	}
	maxConns, err := o.limits.connCap()
	if err != nil {
		return err
	}
	outbound := outboundClient()
	loaded, err := flows.Load(o.flows, strategies.FlowOptions())
	if err != nil {
		return fmt.Errorf("load flows: %w", err)
	}
	auditSinks, err := sinks.FromEnv(ctx, os.Getenv)
	if err != nil {
		return err
	}
	hookCaller := hooks.New(os.LookupEnv, outbound)
	if err := hookCaller.Check(loaded); err != nil {
		return err
	}
	onCall := &oncall.Sources{LookupEnv: os.LookupEnv, Options: oncall.Options{Endpoint: os.Getenv("LATCH_PAGERDUTY_API_URL"), HTTP: outbound}}
	if err := onCall.Check(loaded); err != nil {
		return err
	}
	esc := &strategies.Escalators{LookupEnv: os.LookupEnv, HTTP: outbound}
	for _, f := range loaded {
		if f.Strategy != nil {
			if _, err := esc.For(f); err != nil {
				return err
			}
		}
	}
	if err := checkTargets(ctx, loaded, esc, log); err != nil {
		return err
	}
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	store, err := boltstore.Open(filepath.Join(o.data, "latch.db"), boltstore.WithLogger(log), boltstore.WithBackgroundCheck())
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()

	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := latch.SystemClock
	dir := &identity.Directory{Store: store, Clock: clock}
	if err := seedDomains(runCtx, dir, o.domains, log); err != nil {
		return err
	}
	resolver := &identity.Resolver{Store: store, Hooks: hookCaller, Escalator: esc.For, Clock: clock, Log: log}
	flowSet := engine.NewFlowSet(loaded)
	var eng *engine.Engine
	queue := local.NewQueue(func(ctx context.Context, cmd latch.Command) error { return eng.Handle(ctx, cmd) })
	timers := local.NewTimers(runCtx, queue, clock, log)
	defer timers.Close()
	runner := local.NewRunner(runCtx, local.RunnerConfig{Store: store, Flows: flowSet, Escalator: esc.For,
		Identity: resolver.Resolve, Queue: queue, Timers: timers, Clock: clock, Log: log})
	bg := local.NewBackground(runCtx, log)
	slack, err := newSlackApp(os.Getenv, store, bg.Queue(queue), clock, log)
	if err != nil {
		return err
	}
	var notifier latch.Notifier
	if slack != nil {
		notifier = slack
	}
	eng, err = engine.New(engine.Config{Store: store, Flows: flowSet, Clock: clock, Log: log,
		Users: &engine.Users{Store: store, Clock: clock, RoleFor: dir.RoleFor}, Runner: runner, Scheduler: timers,
		Hooks: hookCaller, Notifier: notifier, OnCall: onCall.For})
	if err != nil {
		return err
	}
	if slack != nil {
		slack.Engine = eng
		slack.Submit = func(_ context.Context, in engine.CreateInput) error {
			bg.Go("creating request "+in.ID, func(ctx context.Context) error {
				_, err := eng.Create(ctx, in)
				return err
			})
			return nil
		}
	}

	// Catch up on what was under way when the process last stopped, once
	// the store's whole-file check has found it sound (below): no target is
	// called for a store that may be damaged, since what it answered could
	// not be recorded.
	var caughtUp atomic.Bool // /readyz says ready only after it
	catchUp := func() error {
		if n, err := eng.DispatchPending(runCtx, 0); err != nil {
			return err
		} else if n > 0 {
			log.Info("outbox effects carried out at start", "count", n)
		}
		if err := runner.Rearm(runCtx); err != nil {
			return err
		}
		caughtUp.Store(true)
		return nil
	}
	startAuditShipping(runCtx, store, auditSinks, log)
	go every(runCtx, 10*time.Second, func() { retryOutbox(runCtx, eng, log) })
	// Every --reconcile-every (a minute), the reconciler also checks the targets that can be
	// checked against the grants (drift); POST /v1/reconcile (latch
	// reconcile) runs that check on demand.
	drift := &reconcile.Drift{Store: store, Flows: flowSet, Escalator: esc.For, Notifier: notifier, Clock: clock, Log: log}
	rc := &reconcile.Reconciler{Store: store, Queue: queue, Runner: runner, Clock: clock, Log: log, Drift: drift}
	rc.Flows = flowSet // break glasses not reviewed in time are alerted
	go every(runCtx, o.reconcileEvery, func() { reconcileOnce(runCtx, rc, log) })
	runDrift := func(ctx context.Context, dryRun bool) (any, error) {
		d := *drift
		d.DryRun = dryRun
		return d.Run(ctx)
	}

	token := os.Getenv("LATCH_ADMIN_TOKEN")
	if token == "" {
		log.Warn("LATCH_ADMIN_TOKEN is not set: the API accepts only tokens issued to bots")
	}
	toks := &tokens.Service{Store: store, Clock: clock}
	figures := metrics.New(store, store, clock)
	api := &httpapi.Server{Engine: eng, Directory: dir, Tokens: toks, Store: store, Feed: store, Queue: queue,
		Auth: &httpapi.Tokens{Bootstrap: httpapi.NewStaticToken(token), Service: toks}, Clock: clock, Log: log,
		RateLimit: httpapi.RateLimit{Rate: o.rateLimit, Burst: int(2 * o.rateLimit)}, Backup: store,
		Ready: caughtUpAnd(&caughtUp, httpapi.CommitProbe(store, clock)), Metrics: figures.Handler(), Observe: figures.ObserveAPI,
		Reconcile: runDrift}
	if slack != nil {
		api.SlackUsers = slack // the API may name a person by Slack user id
	}
	tlsConfig, err := loadTLS(o.tlsCert, o.tlsKey)
	if err != nil {
		return err
	}
	tcp, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ln := newLimitListener(tcp, maxConns, log)
	handler := api.Handler()
	switch {
	case slack == nil:
		log.Info("slack app disabled: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN (or SLACK_APP_TOKEN for Socket Mode) to enable it")
	case len(slack.SigningSecret) > 0:
		mux := http.NewServeMux()
		mux.Handle("/slack/", slack.Handler())
		mux.Handle("/", handler)
		handler = mux
		log.Info("slack app enabled", "routes", "/slack/commands /slack/interactions /slack/options /slack/events")
	}
	if appToken := os.Getenv("SLACK_APP_TOKEN"); slack != nil && appToken != "" {
		bg.Go("slack socket mode", func(ctx context.Context) error { return slack.RunSocketMode(ctx, appToken) })
		log.Info("slack app connecting by Socket Mode")
	}
	srv := o.limits.server(handler, ln, log)
	srv.TLSConfig = tlsConfig
	scheme := "http"
	var serveLn net.Listener = ln
	if tlsConfig != nil {
		scheme = "https"
		serveLn = tls.NewListener(ln, tlsConfig)
	}
	names := make([]string, len(loaded))
	for i, f := range loaded {
		names[i] = f.Name
	}
	log.Info("latch server started", "url", scheme+"://"+ln.Addr().String(), "data", o.data, "flows", strings.Join(names, ","),
		"max_conns", maxConns)
	fmt.Fprintf(os.Stdout, "latch: listening on %s://%s\n", scheme, ln.Addr())

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(serveLn) }()
	go func() {
		// The store's whole-file check runs while the server answers
		// (/healthz at once; writes and /readyz wait for it): a damaged
		// file stops the server, having written nothing to it. The
		// catch-up (outbox effects, timers) waits for it too.
		if err := store.WaitChecked(runCtx); err != nil {
			if runCtx.Err() == nil {
				errc <- fmt.Errorf("open store: %w", err)
			}
			return
		}
		if err := catchUp(); err != nil {
			if runCtx.Err() == nil {
				errc <- err
			}
			return
		}
		if err := warnOrphanedGrants(runCtx, store, flowSet, log); err != nil && runCtx.Err() == nil {
			log.Error("could not list the open grants to warn of those whose flow is gone", "err", err)
		}
	}()
	var failed error
	select {
	case failed = <-errc:
		if errors.Is(failed, http.ErrServerClosed) {
			failed = nil
		}
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	if failed != nil {
		err = srv.Close() // stop at once: the store cannot be used
	} else {
		err = srv.Shutdown(shutCtx)
	}
	cancel()
	timers.Close()
	runner.Wait()
	bg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return cmp.Or(failed, err)
}

// warnOrphanedGrants warns, naming them, about open grants whose flow,
// target or strategy is gone from the flow files (or from this build): they
// are still revoked on time, with what each grant recorded, but the flow
// files no longer say so. A grant that recorded nothing (made before grants
// carried their revoke) and whose flow is gone cannot be revoked until the
// flow is restored: that is an ERROR.
func warnOrphanedGrants(ctx context.Context, store latch.Store, flowSet *engine.FlowSet, log *slog.Logger) error {
	grants, err := store.ListGrants(ctx, latch.GrantEscalating, latch.GrantActive, latch.GrantDeescalating)
	if err != nil {
		return fmt.Errorf("list open grants: %w", err)
	}
	var orphans, stuck []string
	for _, g := range grants {
		cur, _ := flowSet.Get(g.Flow)
		f, ok := g.RevokeFlow(cur)
		hasTarget := false // the flow file still names the grant's strategy and target
		if cur != nil && cur.Strategy != nil && ok {
			_, hasTarget = cur.Target(g.TargetID)
			hasTarget = hasTarget && cur.Strategy.Type == f.Strategy.Type
		}
		switch {
		case !ok:
			stuck = append(stuck, g.ID+" ("+g.Flow+"/"+g.TargetID+")")
		case !hasTarget:
			orphans = append(orphans, g.ID+" ("+g.Flow+"/"+g.TargetID+")")
		}
		if ok {
			if _, built := strategies.Get(f.Strategy.Type); !built {
				stuck = append(stuck, g.ID+" (strategy "+f.Strategy.Type+" is not in this build)")
			}
		}
	}
	if len(orphans) > 0 {
		log.Warn("open grants belong to flows, targets or strategies that are gone from the flow files; "+
			"they are revoked on time with what each grant recorded", "grants", strings.Join(orphans, ", "))
	}
	if len(stuck) > 0 {
		log.Error("open grants cannot be revoked until their flow file (or strategy) is restored; "+
			"their revokes are retried and reported overdue", "grants", strings.Join(stuck, ", "))
	}
	return reconcile.WarnFailedRevokes(ctx, store, log)
}

// loadTLS reads the certificate and key for HTTPS; neither means plain HTTP.
// The certificate is read once, at start: restart the server to renew it.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "" || keyFile == "":
		return nil, usageError{errors.New("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, usageError{fmt.Errorf("--tls-cert/--tls-key: %w", err)}
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// startAuditShipping starts one shipper per audit destination, each
// delivering the store's audit feed in order from where it stopped.
func startAuditShipping(ctx context.Context, store *boltstore.Store, dests []audit.Sink, log *slog.Logger) {
	for _, sk := range dests {
		go (&ship.Shipper{Feed: store, Sink: sk, Log: log}).Run(ctx)
	}
	if len(dests) > 0 {
		log.Info("audit destinations", "destinations", sinks.Names(dests))
	}
}

// seedDomains adds the domains named at start, and warns when the
// organisation has none: then every new person joins as a member.
func seedDomains(ctx context.Context, dir *identity.Directory, domains []string, log *slog.Logger) error {
	for _, d := range domains {
		if _, err := dir.AddDomain(ctx, d); err != nil {
			if de := new(boltstore.DamagedError); errors.As(err, &de) {
				return fmt.Errorf("open store: %w", de)
			}
			return usageError{fmt.Errorf("--domain %q: %s", d, latch.ErrorMessageOf(err))}
		}
	}
	ds, err := dir.Domains(ctx)
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		log.Warn("no email domains are configured: every new person who is not a Slack Connect user joins as a member; name yours with --domain or 'latch domains add'")
		return nil
	}
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.Name
	}
	log.Info("organisation domains", "domains", strings.Join(names, ","))
	return nil
}

// every calls f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// reconcileOnce runs the reconciler: a revoke or an expiry whose timer was
// lost, a grant stuck half-way, is set going again.
func reconcileOnce(ctx context.Context, rc *reconcile.Reconciler, log *slog.Logger) {
	if rep, err := rc.Run(ctx); err != nil {
		log.Warn("reconciler run failed", "err", err)
	} else if rep.Corrections() > 0 {
		log.Warn("reconciler corrected overdue or stuck work, or drift", "revokes", rep.OverdueRevokes, "redriven", rep.Redriven, "expired", rep.Expired, "drift", rep.Drift)
	}
}

// retryOutbox carries out effects left in the outbox after a failure.
func retryOutbox(ctx context.Context, eng *engine.Engine, log *slog.Logger) {
	if n, err := eng.DispatchPending(ctx, time.Minute); err != nil {
		log.Warn("outbox retry failed", "err", err)
	} else if n > 0 {
		log.Info("outbox effects retried", "count", n)
	}
}

// checkTargets asks each target system whether the flows' targets exist
// (strategies that can tell, e.g. an IAM group). A target that does not
// exist stops the server, as a bad flow file does; one that could not be
// checked (the system did not answer) is a warning.
func checkTargets(ctx context.Context, loaded []*latch.Flow, esc *strategies.Escalators, log *slog.Logger) error {
	wrong, unchecked := strategies.Problems(strategies.ValidateTargets(ctx, loaded, esc.For))
	for _, p := range unchecked {
		log.Warn("a flow's target could not be checked; it is used as written", "flow", p.Flow, "target", p.Target, "err", p.Err)
	}
	for _, w := range strategies.SessionWarnings(ctx, loaded, esc.For) {
		log.Warn("access can outlast its grant", "warning", w)
	}
	if len(wrong) > 0 {
		msgs := make([]string, len(wrong))
		for i, p := range wrong {
			msgs[i] = p.Error()
		}
		return fmt.Errorf("flow targets are not valid:\n%s", strings.Join(msgs, "\n"))
	}
	return nil
}

// caughtUpAnd is the readiness probe: not ready until the server has caught
// up at start (the store checked, the outbox's effects carried out, the
// timers re-armed), then ready when probe succeeds.
func caughtUpAnd(caughtUp *atomic.Bool, probe func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if !caughtUp.Load() {
			return httpapi.ErrStarting
		}
		return probe(ctx)
	}
}
