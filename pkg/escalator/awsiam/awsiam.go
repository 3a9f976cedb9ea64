// Package awsiam is the aws_iam strategy: an escalator that grants access by
// adding the grantee's IAM user to an IAM group (AddUserToGroup), revokes it
// by removing them (RemoveUserFromGroup), checks it by listing the user's
// groups (ListGroupsForUser, every page) and validates a target by reading
// the group (GetGroup).
//
// The grantee's identity is their IAM user name: an identity set with
// `latch users set-identity EMAIL aws_iam NAME`, else what the flow's
// identity rule or get_identity hook gives, else the local part of their
// email (LookupIdentity). The AWS client is configured by package awsconf
// (default credential chain, optional role_arn/external_id assumed with
// STS, the SDK's endpoint settings). See docs/strategies/aws_iam.md.
package awsiam

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/latchhq/latch/pkg/awsconf"
	"github.com/latchhq/latch/pkg/escalator/settings"
	"github.com/latchhq/latch/pkg/latch"
)

// Type is the strategy type this package implements, as written in a flow's
// strategy block.
const Type = "aws_iam"

// Timeout bounds one Grant, Revoke, Check or Validate, the SDK's own
// retries included.
const Timeout = time.Minute

// KeyGroup is the target setting naming the IAM group.
const KeyGroup = "group"

// Error codes of the *latch.Error values the escalator returns.
const (
	CodeNoSuchUser  = "aws_iam_no_such_user"  // the IAM user does not exist: permanent
	CodeNoSuchGroup = "aws_iam_no_such_group" // the IAM group does not exist: permanent
	CodeBadGrant    = "aws_iam_bad_grant"     // no grant id, identity or group: permanent
	CodePanic       = "aws_iam_panic"         // the escalator panicked: retryable
)

// RetryAttempts is how often the SDK tries one call (throttling, 5xx,
// time-outs) before the error goes to Latch's own revoke retries.
const RetryAttempts = 5

// Escalator adds and removes IAM users to and from IAM groups. It is safe
// for concurrent use.
type Escalator struct {
	client *iam.Client
}

var (
	_ latch.Escalator      = (*Escalator)(nil)
	_ latch.Checker        = (*Escalator)(nil)
	_ latch.Validator      = (*Escalator)(nil)
	_ latch.IdentityLookup = (*Escalator)(nil)
)

// Option changes how New builds an Escalator.
type Option func(*options)

type options struct {
	retryer func() aws.Retryer
}

// WithRetryer replaces the SDK retryer (the default is the SDK's standard
// retryer with RetryAttempts attempts), e.g. for shorter waits in tests.
func WithRetryer(r func() aws.Retryer) Option { return func(o *options) { o.retryer = r } }

// New returns an Escalator for an aws_iam strategy's config block (see
// ValidateConfig). It loads the AWS configuration (awsconf): credentials are
// fetched on first use, so New does not call AWS.
func New(ctx context.Context, cfg map[string]any, opts ...Option) (*Escalator, error) {
	o := options{retryer: newRetryer}
	for _, opt := range opts {
		opt(&o)
	}
	if err := ValidateConfig(cfg, nil); err != nil {
		return nil, fmt.Errorf("aws_iam strategy: %w", err)
	}
	s, err := awsconf.Parse(cfg)
	if err != nil {
		return nil, fmt.Errorf("aws_iam strategy: %w", err)
	}
	awsCfg, err := s.Load(ctx, config.WithRetryer(o.retryer))
	if err != nil {
		return nil, fmt.Errorf("aws_iam strategy: %w", err)
	}
	return &Escalator{client: iam.NewFromConfig(awsCfg)}, nil
}

// newRetryer is the SDK's standard retryer (exponential backoff with full
// jitter; throttling, 5xx and time-outs retried) with a few more attempts.
// IAM's query protocol sends no Retry-After; the standard retryer's
// throttle handling is the hint it honours.
func newRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = RetryAttempts
		o.MaxBackoff = 10 * time.Second
	})
}

var knownKeys = []string{awsconf.KeyExternalID, awsconf.KeyRegion, awsconf.KeyRoleARN}

// groupName is IAM's rule for a group name (1 to 128 of letters, digits and
// +=,.@_-).
var groupName = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)

// ValidateConfig checks an aws_iam strategy's config block and targets, and
// returns nil or every problem joined with errors.Join. The config keys are
// region, role_arn and external_id, all optional (package awsconf); each
// target needs an id, unique in the flow, and a setting group: the IAM
// group's name (not its ARN or path).
func ValidateConfig(cfg map[string]any, targets []latch.Target) error {
	errs := settings.UnknownKeys(cfg, knownKeys)
	if _, err := awsconf.Parse(cfg); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, settings.Targets(targets, KeyGroup, func(t latch.Target) error {
		_, err := targetGroup(t)
		return err
	})...)
	return errors.Join(errs...)
}

// targetGroup returns the IAM group a target names.
func targetGroup(t latch.Target) (string, error) {
	raw, ok := t.Settings[KeyGroup]
	if !ok || raw == nil {
		return "", errors.New("settings.group is required: the name of the IAM group to add the grantee to")
	}
	s, ok := raw.(string)
	if !ok {
		return "", errors.New("settings.group must be text: an IAM group name such as prod-admins")
	}
	if !groupName.MatchString(s) {
		return "", fmt.Errorf("settings.group %q is not an IAM group name (1 to 128 letters, digits and +=,.@_-; the name, not the ARN or path)", s)
	}
	return s, nil
}

// Grant adds the grantee's IAM user to the target's group. Adding a member
// again succeeds (IAM's AddUserToGroup is idempotent). A missing user is a
// permanent error with code CodeNoSuchUser whose message names the command
// that sets the right user name; a missing group, CodeNoSuchGroup. Other
// errors are sorted by awsconf.Classify: throttling, conflicts, 5xx and
// time-outs are retryable, other refusals permanent.
func (e *Escalator) Grant(ctx context.Context, g latch.GrantSpec) (err error) {
	defer recoverInto(&err, "grant", g.GrantID)
	user, group, err := parts(g)
	if err != nil {
		return err
	}
	_, err = e.client.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String(group), UserName: aws.String(user)})
	if err != nil {
		return e.noSuchEntity(ctx, fmt.Errorf("grant %s: add IAM user %q to group %q: %w", g.GrantID, user, group, err), g, user, group)
	}
	return nil
}

// Revoke removes the grantee's IAM user from the target's group. A
// membership that is not there (IAM answers NoSuchEntity: the user, the
// group or the membership is gone) counts as removed. Other errors are
// sorted by awsconf.Classify.
func (e *Escalator) Revoke(ctx context.Context, g latch.GrantSpec) (err error) {
	defer recoverInto(&err, "revoke", g.GrantID)
	user, group, err := parts(g)
	if err != nil {
		return err
	}
	_, err = e.client.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{GroupName: aws.String(group), UserName: aws.String(user)})
	var nse *types.NoSuchEntityException
	if err != nil && !errors.As(err, &nse) {
		return awsconf.Classify(fmt.Errorf("revoke %s: remove IAM user %q from group %q: %w", g.GrantID, user, group, err))
	}
	return nil
}

// Check reports whether the grantee's IAM user is in the target's group
// now, reading every page of ListGroupsForUser. A user that does not exist
// holds nothing.
func (e *Escalator) Check(ctx context.Context, g latch.GrantSpec) (held bool, err error) {
	defer recoverInto(&err, "check", g.GrantID)
	user, group, err := parts(g)
	if err != nil {
		return false, err
	}
	p := iam.NewListGroupsForUserPaginator(e.client, &iam.ListGroupsForUserInput{UserName: aws.String(user)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		var nse *types.NoSuchEntityException
		if errors.As(err, &nse) {
			return false, nil
		}
		if err != nil {
			return false, awsconf.Classify(fmt.Errorf("check %s: list the IAM groups of user %q: %w", g.GrantID, user, err))
		}
		for _, gr := range page.Groups {
			if aws.ToString(gr.GroupName) == group {
				return true, nil
			}
		}
	}
	return false, nil
}

// Validate checks that the target's IAM group exists (GetGroup). A missing
// group is a permanent error with code CodeNoSuchGroup; other errors are
// sorted by awsconf.Classify.
func (e *Escalator) Validate(ctx context.Context, t latch.Target) (err error) {
	defer recoverInto(&err, "validate", t.ID)
	group, err := targetGroup(t)
	if err != nil {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadGrant,
			Message: fmt.Sprintf("Target %q: %v.", t.ID, err)})
	}
	_, err = e.client.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String(group), MaxItems: aws.Int32(1)})
	var nse *types.NoSuchEntityException
	if errors.As(err, &nse) {
		return latch.Permanent(noSuchGroup(group, err))
	}
	if err != nil {
		return awsconf.Classify(fmt.Errorf("target %q: read IAM group %q: %w", t.ID, group, err))
	}
	return nil
}

// LookupIdentity is the strategy's lookup by email: the email's local part
// (jane.doe@example.com → jane.doe), the usual IAM user name. Where IAM user
// names follow another scheme, set identity.rule in the flow, or each
// user's name with `latch users set-identity EMAIL aws_iam NAME`.
func (e *Escalator) LookupIdentity(_ context.Context, email string) (string, error) {
	local, _, ok := strings.Cut(strings.TrimSpace(email), "@")
	if !ok || local == "" {
		return "", latch.ErrNotFound
	}
	return local, nil
}

// parts returns the IAM user and group of g, or a permanent error.
func parts(g latch.GrantSpec) (user, group string, err error) {
	bad := func(msg string) error {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadGrant, Message: msg})
	}
	if g.GrantID == "" {
		return "", "", bad("An aws_iam grant needs an id.")
	}
	group, err = targetGroup(g.Target)
	if err != nil {
		return "", "", bad(fmt.Sprintf("Grant %s: target %q: %v.", g.GrantID, g.Target.ID, err))
	}
	user = strings.TrimSpace(g.User.Identity)
	if user == "" {
		return "", "", latch.Permanent(noSuchUser(g.User.Email, "", nil))
	}
	return user, group, nil
}

// noSuchEntity sorts a NoSuchEntity answer to AddUserToGroup into a missing
// user or a missing group (IAM's message says which; when it does not, the
// group is read), each permanent; other errors go to awsconf.Classify.
func (e *Escalator) noSuchEntity(ctx context.Context, err error, g latch.GrantSpec, user, group string) error {
	var nse *types.NoSuchEntityException
	if !errors.As(err, &nse) {
		return awsconf.Classify(err)
	}
	msg := strings.ToLower(nse.ErrorMessage())
	switch {
	case strings.Contains(msg, "group"):
		return latch.Permanent(noSuchGroup(group, err))
	case strings.Contains(msg, "user"):
		return latch.Permanent(noSuchUser(g.User.Email, user, err))
	}
	if _, gerr := e.client.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String(group), MaxItems: aws.Int32(1)}); errors.As(gerr, &nse) {
		return latch.Permanent(noSuchGroup(group, err))
	}
	return latch.Permanent(noSuchUser(g.User.Email, user, err))
}

func noSuchUser(email, user string, cause error) *latch.Error {
	fix := fmt.Sprintf("latch users set-identity %s %s NAME", email, Type)
	what := fmt.Sprintf("There is no IAM user %q for %s, so nothing was granted.", user, email)
	if user == "" {
		what = fmt.Sprintf("Latch does not know %s's IAM user name, so nothing was granted.", email)
	}
	return &latch.Error{Kind: latch.KindNotFound, Code: CodeNoSuchUser,
		Message: what + " An admin can set the right IAM user name with: " + fix,
		Details: map[string]any{"email": email, "service": Type, "identity": user, "fix": fix}, Err: cause}
}

func noSuchGroup(group string, cause error) *latch.Error {
	return &latch.Error{Kind: latch.KindNotFound, Code: CodeNoSuchGroup,
		Message: fmt.Sprintf("There is no IAM group %q: create it, or correct the target's group in the flow.", group),
		Details: map[string]any{"group": group}, Err: cause}
}

// recoverInto turns a panic into a retryable error.
func recoverInto(err *error, what, id string) {
	if r := recover(); r != nil {
		*err = &latch.Error{Kind: latch.KindInternal, Code: CodePanic,
			Message: fmt.Sprintf("The aws_iam escalator failed unexpectedly to %s %s.", what, id),
			Err:     fmt.Errorf("panic: %v", r)}
	}
}
