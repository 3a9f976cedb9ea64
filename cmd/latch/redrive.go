package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/latchhq/latch/pkg/latch"
)

// newAdminCmd groups the operator's commands that act on a deployment's AWS
// resources directly (not through a Latch server).
func newAdminCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Operate an AWS deployment's resources directly (operators)"}
	cmd.AddCommand(newRedriveCmd())
	cmd.AddCommand(newReindexCmd())
	return cmd
}

// redriveSQS is the part of the SQS client redrive uses (*sqs.Client).
type redriveSQS interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	StartMessageMoveTask(ctx context.Context, in *sqs.StartMessageMoveTaskInput, opts ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error)
	ListMessageMoveTasks(ctx context.Context, in *sqs.ListMessageMoveTasksInput, opts ...func(*sqs.Options)) (*sqs.ListMessageMoveTasksOutput, error)
}

// redrivePoll is how often redrive --wait asks how the move is going.
var redrivePoll = 2 * time.Second

func newRedriveCmd() *cobra.Command {
	var from, to string
	var dryRun, wait bool
	var rate int32
	cmd := &cobra.Command{
		Use:   "redrive --from DLQ [--to QUEUE]",
		Short: "Move the messages of a dead-letter queue back to a queue (SQS StartMessageMoveTask)",
		Long: `Move the messages of a dead-letter queue back to a queue with SQS's own
message move task (StartMessageMoveTask), once the cause of their failure is
fixed. --from and --to take a queue URL or ARN (the stack outputs
EventsDLQUrl and EventsQueueUrl name Latch's events queues).

Without --to, each message goes back to the queue SQS dead-lettered it from.
Latch's approvals function moves a poison message to EventsDLQ itself, so SQS
does not know where those came from: name the events queue with --to.

--dry-run shows the approximate number of messages that would move and moves
nothing. --wait follows the task until it has finished. AWS credentials and
the region come from the usual places (AWS_PROFILE, AWS_REGION, ...); the
endpoint from AWS_ENDPOINT_URL_SQS when set.`,
		Example: `  latch admin redrive --from "$EVENTS_DLQ_URL" --to "$EVENTS_QUEUE_URL" --dry-run
  latch admin redrive --from "$EVENTS_DLQ_URL" --to "$EVENTS_QUEUE_URL" --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return usageError{errors.New("--from is required: the dead-letter queue's URL or ARN")}
			}
			if rate < 0 || rate > 500 {
				return usageError{fmt.Errorf("--max-per-second %d: SQS accepts 1 to 500 (0: let SQS choose)", rate)}
			}
			var src queueRef
			for _, q := range []struct{ flag, v string }{{"--from", from}, {"--to", to}} {
				if q.v == "" {
					continue
				}
				ref, err := parseQueue(q.v)
				if err != nil {
					return usageError{fmt.Errorf("%s: %w", q.flag, err)}
				}
				if q.flag == "--from" {
					src = ref
				}
			}
			ctx := cmd.Context()
			cfg, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				return fmt.Errorf("redrive: AWS configuration: %w", err)
			}
			// The move runs in the dead-letter queue's region.
			if src.region != "" {
				cfg.Region = src.region
			}
			if cfg.Region == "" {
				return usageError{errors.New("no AWS region: set AWS_REGION, or name the queue by its ARN or its sqs.<region>.amazonaws.com URL")}
			}
			r := redriver{sqs: sqs.NewFromConfig(cfg), out: cmd.OutOrStdout()}
			return r.run(ctx, from, to, rate, dryRun, wait)
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the dead-letter queue to move messages from: its URL or ARN (required)")
	f.StringVar(&to, "to", "", "the queue to move them to: its URL or ARN (default: each message's source queue)")
	f.BoolVar(&dryRun, "dry-run", false, "show how many messages would move, and move none")
	f.BoolVar(&wait, "wait", false, "follow the move task until it has finished")
	f.Int32Var(&rate, "max-per-second", 0, "the most messages moved per second, 1 to 500 (default: SQS chooses)")
	return cmd
}

// queueRef is a queue named by its URL or its ARN; region is known from an
// ARN and from an AWS URL.
type queueRef struct {
	url, arn        string
	account, region string
	name            string
}

// parseQueue reads a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>,
// or any endpoint's http(s)://host/<account>/<name>) or ARN
// (arn:<partition>:sqs:<region>:<account>:<name>).
func parseQueue(s string) (queueRef, error) {
	if strings.HasPrefix(s, "arn:") {
		p := strings.Split(s, ":")
		if len(p) != 6 || p[2] != "sqs" || p[3] == "" || p[4] == "" || p[5] == "" {
			return queueRef{}, fmt.Errorf("%q is not an SQS queue ARN (arn:aws:sqs:<region>:<account>:<name>)", s)
		}
		return queueRef{arn: s, region: p[3], account: p[4], name: p[5]}, nil
	}
	u, err := url.Parse(s)
	if err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		p := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(p) == 2 && p[0] != "" && p[1] != "" {
			q := queueRef{url: s, account: p[0], name: p[1]}
			if h := strings.Split(u.Hostname(), "."); len(h) >= 4 && h[0] == "sqs" && strings.HasPrefix(h[2], "amazonaws") {
				q.region = h[1] // sqs.<region>.amazonaws.com(.cn)
			}
			return q, nil
		}
	}
	return queueRef{}, fmt.Errorf("%q is neither a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>) nor a queue ARN (arn:aws:sqs:<region>:<account>:<name>)", s)
}

type redriver struct {
	sqs redriveSQS
	out io.Writer
}

func (r redriver) run(ctx context.Context, from, to string, rate int32, dryRun, wait bool) error {
	src, err := r.resolve(ctx, from)
	if err != nil {
		return err
	}
	dest := "each message's source queue"
	var dst queueRef
	if to != "" {
		if dst, err = r.resolve(ctx, to); err != nil {
			return err
		}
		if dst.arn == src.arn {
			return usageError{fmt.Errorf("--from and --to name the same queue, %s", src.arn)}
		}
		dest = dst.arn
	}
	n, err := r.count(ctx, src)
	if err != nil {
		return err
	}
	if dryRun {
		fmt.Fprintf(r.out, "would move about %d message(s) from %s to %s (dry run: nothing moved)\n", n, src.arn, dest)
		return nil
	}
	if n == 0 {
		fmt.Fprintf(r.out, "%s holds no messages that can be moved: nothing to do\n", src.arn)
		return nil
	}
	in := &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(src.arn)}
	if dst.arn != "" {
		in.DestinationArn = aws.String(dst.arn)
	}
	if rate > 0 {
		in.MaxNumberOfMessagesPerSecond = aws.Int32(rate)
	}
	started, err := r.sqs.StartMessageMoveTask(ctx, in)
	if err != nil {
		return awsError("start moving the messages of "+src.arn, err)
	}
	handle := aws.ToString(started.TaskHandle)
	fmt.Fprintf(r.out, "moving about %d message(s) from %s to %s (task %s)\n", n, src.arn, dest, handle)
	if !wait {
		fmt.Fprintf(r.out, "follow it with: aws sqs list-message-move-tasks --source-arn %s\n", src.arn)
		return nil
	}
	for {
		list, err := r.sqs.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(src.arn), MaxResults: aws.Int32(10)})
		if err != nil {
			return awsError("follow the move task of "+src.arn, err)
		}
		var task *sqstypes.ListMessageMoveTasksResultEntry
		for i := range list.Results {
			if aws.ToString(list.Results[i].TaskHandle) == handle {
				task = &list.Results[i]
			}
		}
		if task == nil {
			return fmt.Errorf("redrive: the move task %s of %s is not listed any more; check with aws sqs list-message-move-tasks", handle, src.arn)
		}
		switch status := aws.ToString(task.Status); status {
		case "COMPLETED":
			fmt.Fprintf(r.out, "moved %d message(s)\n", task.ApproximateNumberOfMessagesMoved)
			return nil
		case "FAILED":
			return fmt.Errorf("redrive: the move task failed after %d message(s): %s", task.ApproximateNumberOfMessagesMoved, aws.ToString(task.FailureReason))
		case "CANCELLED", "CANCELLING":
			return fmt.Errorf("redrive: the move task was cancelled after %d message(s)", task.ApproximateNumberOfMessagesMoved)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redrive: stopped following the move task %s (it goes on): %w", handle, ctx.Err())
		case <-time.After(redrivePoll):
		}
	}
}

// resolve finds the queue's URL and ARN (GetQueueUrl from an ARN,
// GetQueueAttributes from a URL), which also checks that it exists.
func (r redriver) resolve(ctx context.Context, s string) (queueRef, error) {
	q, err := parseQueue(s)
	if err != nil {
		return q, usageError{err}
	}
	if q.url == "" {
		out, err := r.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.name), QueueOwnerAWSAccountId: aws.String(q.account)})
		if err != nil {
			return q, awsError("find queue "+q.arn, err)
		}
		q.url = aws.ToString(out.QueueUrl)
		return q, nil
	}
	out, err := r.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return q, awsError("find queue "+q.url, err)
	}
	q.arn = out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	if q.arn == "" {
		return q, fmt.Errorf("redrive: SQS did not tell the ARN of %s", q.url)
	}
	return q, nil
}

// count is the approximate number of messages in q that a move takes: the
// visible ones (SQS moves no message in flight).
func (r redriver) count(ctx context.Context, q queueRef) (int, error) {
	out, err := r.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return 0, awsError("count the messages of "+q.arn, err)
	}
	v := out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)]
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("redrive: SQS answered %q for the number of messages of %s", v, q.arn)
	}
	return n, nil
}

// awsError says what failed and why in the service's own words, with an
// exit code of its kind: a queue that does not exist is not found (3),
// access denied is forbidden (4), a refused move (not a dead-letter queue,
// a move already running) is a conflict (5).
func awsError(what string, err error) error {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return fmt.Errorf("redrive: %s: %w", what, err)
	}
	kind := latch.KindInternal
	switch api.ErrorCode() {
	case "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "ResourceNotFoundException":
		kind = latch.KindNotFound
	case "AccessDenied", "AccessDeniedException", "InvalidSecurity", "InvalidClientTokenId", "UnrecognizedClientException":
		kind = latch.KindForbidden
	case "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", "InvalidParameterValue", "InvalidAddress":
		kind = latch.KindConflict
	}
	return &latch.Error{Kind: kind, Code: api.ErrorCode(), Message: fmt.Sprintf("%s: %s", what, api.ErrorMessage()), Err: err}
}
