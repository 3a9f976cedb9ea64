// Command escalator-aws_iam grants and revokes access for flows of the
// aws_iam strategy (IAM group membership): the grant state machine's
// escalate and revoke tasks. Its role may only add users to, remove them
// from and list IAM groups (and assume the roles latch:crossAccountRoleArns
// names for aws_iam).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/policy"
	"github.com/latchhq/latch/pkg/strategies/awsiam"
	"github.com/latchhq/latch/pkg/strategies/strategy"
)

func main() {
	ctx := context.Background()
	env := boot.Start(ctx)
	env.Rules = policy.Lazy{}                      // flows' identity rules find grantees' identities
	env.Strategies = strategy.Set{awsiam.Strategy} // its own strategy only
	h, err := boot.Escalator(ctx, env, awsiam.Strategy.Type)
	boot.Must(env, err)
	lambda.Start(h.Handle)
}
