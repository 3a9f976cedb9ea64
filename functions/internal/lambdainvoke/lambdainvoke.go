// Package lambdainvoke is the Slack function's asynchronous invocation of
// itself (boot.Invoker) with Lambda's client. It is a package of its own so
// that only the function that invokes links the Lambda client and its
// package initialization (functions/slack).
package lambdainvoke

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Async returns a boot.Invoker that invokes a function asynchronously
// (InvocationType Event: Lambda's own queue) with Lambda's client of cfg.
func Async(cfg aws.Config) func(ctx context.Context, function string, payload []byte) error {
	// The client is made on the first invocation, not at the function's
	// start: most answers hand nothing over.
	client := sync.OnceValue(func() *lambda.Client { return lambda.NewFromConfig(cfg) })
	return func(ctx context.Context, function string, payload []byte) error {
		out, err := client().Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(function),
			InvocationType: types.InvocationTypeEvent, Payload: payload})
		if err != nil {
			return err
		}
		if out.FunctionError != nil {
			return errors.New(aws.ToString(out.FunctionError))
		}
		return nil
	}
}
