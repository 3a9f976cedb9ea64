package sqsqueue

import (
	"context"
	"log/slog"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

// Engine is what the approvals function hands messages to; *engine.Engine
// implements it.
type Engine interface {
	Handle(ctx context.Context, cmd latch.Command) error
	Create(ctx context.Context, in engine.CreateInput) (latch.Request, error)
}

// NewConsumer returns the approvals function's consumer: commands go to
// e.Handle, creates to e.Create. log may be nil (slog.Default()).
func NewConsumer(e Engine, log *slog.Logger) *Consumer {
	return &Consumer{
		Handle: e.Handle,
		Create: func(ctx context.Context, in engine.CreateInput) error {
			_, err := e.Create(ctx, in)
			return err
		},
		Log: log,
	}
}

// CreateInput returns what engine.Create takes for the request a create
// message carries.
func CreateInput(c events.Create) engine.CreateInput {
	return engine.CreateInput{
		ID:        c.RequestID,
		Flow:      c.Flow,
		UserEmail: c.UserEmail,
		CreatedBy: c.CreatedBy,
		Source:    c.Source,
		Fields:    c.Fields,
		Context:   c.Context,
		StartsAt:  c.StartsAt,
		// A break glass keeps its reason on the way to the approvals function.
		BreakGlass: c.BreakGlass,
		Reason:     c.Reason,
	}
}

// CreateOf returns the create message's request for in; the reverse of
// CreateInput.
func CreateOf(in engine.CreateInput) events.Create {
	return events.Create{
		RequestID: in.ID,
		Flow:      in.Flow,
		UserEmail: in.UserEmail,
		CreatedBy: in.CreatedBy,
		Source:    in.Source,
		Fields:    in.Fields,
		Context:   in.Context,
		StartsAt:  in.StartsAt,
		// A break glass keeps its reason on the way to the approvals function.
		BreakGlass: in.BreakGlass,
		Reason:     in.Reason,
	}
}
