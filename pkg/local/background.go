package local

import (
	"context"
	"log/slog"
	"sync"

	"github.com/latchhq/latch/pkg/latch"
)

// Background runs work that an edge hands over and must not wait for (a
// Slack handler answers within 3 seconds; creating a request, posting its
// message and calling hooks may take longer). On AWS the same hand-over is
// a message on the events queue.
type Background struct {
	ctx context.Context
	log *slog.Logger
	wg  sync.WaitGroup
}

// NewBackground returns a Background whose work lives as long as ctx.
func NewBackground(ctx context.Context, log *slog.Logger) *Background {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Background{ctx: ctx, log: log}
}

// Go runs f on its own goroutine with the Background's context (not the
// caller's, which ends with its HTTP request) and logs its error.
func (b *Background) Go(what string, f func(ctx context.Context) error) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := f(b.ctx); err != nil {
			b.log.Error(what+" failed", "err", err)
		}
	}()
}

// Queue returns a queue whose Publish hands the command to q in the
// background and returns at once.
func (b *Background) Queue(q latch.Queue) latch.Queue { return backgroundQueue{b: b, q: q} }

// Wait waits for the work under way.
func (b *Background) Wait() { b.wg.Wait() }

type backgroundQueue struct {
	b *Background
	q latch.Queue
}

func (bq backgroundQueue) Publish(_ context.Context, cmd latch.Command) error {
	bq.b.Go(string(cmd.Kind)+" "+cmd.RequestID, func(ctx context.Context) error { return bq.q.Publish(ctx, cmd) })
	return nil
}
