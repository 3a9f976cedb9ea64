// Command granttasks carries out the grant state machine's own tasks: the
// Hold (recording its task token, then looking at the grant, and sending
// the due report) and the failure reports, which it sends to the events
// queue. Escalating and revoking are the escalator functions'.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/sfngrants"
)

func main() {
	ctx := context.Background()
	env := boot.Start(ctx)
	// A grant's flow is read for its shape only: no rule is evaluated here
	// and no strategy's settings are checked (cdk synth did).
	loaded, err := env.LoadFlows(flows.Options{Rules: flows.Uncompiled})
	boot.Must(env, err)
	store, err := env.Store()
	boot.Must(env, err)
	reports, err := env.Queue()
	boot.Must(env, err)
	h := &sfngrants.TaskHandler{Store: store, Flows: engine.NewFlowSet(loaded), Tokens: store, Reports: reports, Held: store,
		Completer: sfngrants.Callbacks{SFN: env.SFN()}, Log: env.Log}
	lambda.Start(h.Handle)
}
