package main

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/latchhq/latch/pkg/dynamostore"
)

// newReindexCmd is `latch admin reindex`: the upgrade step that gives the
// requests of a table written by an earlier version this version's index
// attributes (dynamostore.ReindexRequests).
func newReindexCmd() *cobra.Command {
	var table string
	cmd := &cobra.Command{
		Use:   "reindex --table TABLE",
		Short: "Give every request in an AWS deployment's table this version's index attributes (after an upgrade)",
		Long: `Give every request in the deployment's DynamoDB table the index attributes
this version lists them by, once the upgraded stack is deployed (docs/aws.md,
Upgrading). Latch writes them whenever it changes a request; this catches the
requests nothing has changed since, which lists by flow or by requester do not
show until then. It reads the requests by status (Query, no Scan) and updates
each one's index attributes, conditioned on its version; running it again
changes nothing. --table is the stack's TableName output. AWS credentials and
the region come from the usual places (AWS_PROFILE, AWS_REGION, ...); the
endpoint from AWS_ENDPOINT_URL_DYNAMODB when set.`,
		Example: `  latch admin reindex --table "$(aws cloudformation describe-stacks --stack-name Latch --query "Stacks[0].Outputs[?OutputKey=='TableName'].OutputValue" --output text)"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if table == "" {
				return usageError{errors.New("--table is required: the stack's TableName output")}
			}
			ctx := cmd.Context()
			cfg, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				return fmt.Errorf("reindex: AWS configuration: %w", err)
			}
			if cfg.Region == "" {
				return usageError{errors.New("no AWS region: set AWS_REGION")}
			}
			n, err := dynamostore.New(dynamodb.NewFromConfig(cfg), table).ReindexRequests(ctx)
			if err != nil {
				if errors.As(err, new(smithy.APIError)) {
					return awsError("reindex the requests of "+table, err)
				}
				return fmt.Errorf("reindex the requests of %s: %w", table, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d request(s) of %s given this version's index attributes\n", n, table)
			return nil
		},
	}
	cmd.Flags().StringVar(&table, "table", "", "the deployment's DynamoDB table: the stack's TableName output (required)")
	return cmd
}
