package main

import (
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/escalator/webhook"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
)

// flowOptions registers every strategy type's config check with the loader.
func flowOptions() flows.Options {
	return flows.Options{Strategies: map[string]func(map[string]any, []latch.Target) error{
		"webhook": webhook.ValidateConfig,
	}}
}

// escalators builds each flow's escalator once and hands it out.
type escalators struct {
	mu     sync.Mutex
	byFlow map[string]latch.Escalator
	client *http.Client
}

func newEscalators() *escalators {
	return &escalators{byFlow: map[string]latch.Escalator{}, client: &http.Client{Timeout: 30 * time.Second}}
}

// For returns the escalator of f's strategy, building it on first use.
func (e *escalators) For(f *latch.Flow) (latch.Escalator, error) {
	if f.Strategy == nil {
		return nil, fmt.Errorf("flow %q is approval-only: it has no strategy", f.Name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if esc, ok := e.byFlow[f.Name]; ok {
		return esc, nil
	}
	var esc latch.Escalator
	var err error
	switch f.Strategy.Type {
	case "webhook":
		esc, err = webhook.New(f.Strategy.Config, os.LookupEnv, e.client)
	default:
		err = fmt.Errorf("strategy %q is not available in this build", f.Strategy.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("flow %q (%s): %w", f.Name, f.File, err)
	}
	e.byFlow[f.Name] = esc
	return esc, nil
}
