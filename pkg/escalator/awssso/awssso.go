// Package awssso is the aws_sso strategy: an escalator that grants access
// through AWS IAM Identity Center, either as an account assignment (a
// permission set in an AWS account, assigned to the grantee) or as a
// membership of an identity store group. The grantee's identity is their
// Identity Center user id, looked up by email when no identity is stored.
//
// Account assignments are asynchronous at AWS: Grant and Revoke start one
// and poll its status until it has succeeded or failed. With end_sessions,
// a revoke also denies the grantee's role sessions of the permission set
// that were issued before the revoke (see endsessions.go and
// docs/strategies/aws_sso.md for what that covers and what it does not).
package awssso

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/identitystore/document"
	idtypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"
	"github.com/aws/smithy-go"

	"github.com/latchhq/latch/pkg/awsconf"
	"github.com/latchhq/latch/pkg/latch"
)

// MaxTimeout bounds one Grant or Revoke (on both runtimes): the calls, the
// polling of an asynchronous assignment, and with end_sessions the
// provisioning of the permission set. A request still running then is a
// retryable error.
const MaxTimeout = 5 * time.Minute

// Error codes of the *latch.Error values the escalator returns.
const (
	CodeNoIdentity   = "aws_sso_no_identity"    // the grant carries no Identity Center user id: permanent
	CodeUnknownUser  = "aws_sso_unknown_user"   // Identity Center has no such user: permanent
	CodeFailed       = "aws_sso_request_failed" // an assignment request ended FAILED: permanent for a grant
	CodeInProgress   = "aws_sso_in_progress"    // a request was still running when polling stopped: retryable
	CodeBadTarget    = "aws_sso_bad_target"     // the target's settings are not an aws_sso target: permanent
	CodeNotFound     = "aws_sso_not_found"      // the permission set or group does not exist: permanent
	CodePanic        = "aws_sso_panic"          // the escalator panicked: retryable
	CodeEndSessions  = "aws_sso_end_sessions"   // the session deny could not be written: retryable
	conflictCode     = "ConflictException"
	notFoundCode     = "ResourceNotFoundException"
	principalUser    = ssotypes.PrincipalTypeUser
	targetAWSAccount = ssotypes.TargetTypeAwsAccount
)

// Escalator grants and revokes IAM Identity Center access. It is safe for
// concurrent use. Grant, Revoke and Check are idempotent per grant: a grant
// whose access is in place succeeds without a change, a revoke of access
// that is gone succeeds.
type Escalator struct {
	cfg   config
	admin *ssoadmin.Client
	ids   *identitystore.Client
	clock latch.Clock
	poll  time.Duration // first pause between status polls (doubling, capped at 5s)
	tries int           // attempts at a call answered ConflictException
}

var (
	_ latch.Escalator      = (*Escalator)(nil)
	_ latch.Checker        = (*Escalator)(nil)
	_ latch.IdentityLookup = (*Escalator)(nil)
)

// Option changes how New builds an Escalator.
type Option func(*Escalator)

// WithClock sets the clock end_sessions takes the revoke time from (the
// default is latch.SystemClock).
func WithClock(c latch.Clock) Option { return func(e *Escalator) { e.clock = c } }

// WithPollInterval sets the first pause between polls of an asynchronous
// request's status, and between attempts after a conflict (default 1s).
func WithPollInterval(d time.Duration) Option { return func(e *Escalator) { e.poll = d } }

// New builds the escalator of one flow's strategy config. It returns a
// permanent error listing every problem of the config. The SDK
// configuration is the default chain's, with the config's region and role
// (assumed with STS); endpoints follow AWS_ENDPOINT_URL_SSO_ADMIN and
// AWS_ENDPOINT_URL_IDENTITYSTORE (or AWS_ENDPOINT_URL).
func New(ctx context.Context, cfgMap map[string]any, opts ...Option) (*Escalator, error) {
	c, problems := parseConfig(cfgMap)
	if len(problems) > 0 {
		errs := make([]error, len(problems))
		for i, p := range problems {
			errs[i] = errors.New(p)
		}
		return nil, latch.Permanent(fmt.Errorf("aws_sso strategy: %w", errors.Join(errs...)))
	}
	awsCfg, err := c.aws.Load(ctx)
	if err != nil {
		return nil, err
	}
	e := &Escalator{cfg: c, admin: ssoadmin.NewFromConfig(awsCfg), ids: identitystore.NewFromConfig(awsCfg),
		clock: latch.SystemClock, poll: time.Second, tries: 8}
	for _, o := range opts {
		o(e)
	}
	return e, nil
}

// Grant puts the access of g in place: an account assignment of the
// permission set to the grantee (created, then polled until it succeeded)
// or the grantee's membership of the group. Access that is in place already
// counts as granted.
func (e *Escalator) Grant(ctx context.Context, g latch.GrantSpec) (err error) {
	defer e.recover(&err)
	ctx, cancel := context.WithTimeout(ctx, MaxTimeout)
	defer cancel()
	t, err := e.target(g)
	if err != nil {
		return err
	}
	if t.isGroup() {
		err = e.addMember(ctx, g, t)
	} else {
		err = e.assign(ctx, g, t)
	}
	return wrap("grant", g, t, err)
}

// Revoke removes the access of g: deletes the account assignment (polled
// until it succeeded) or the group membership. Access that is gone counts
// as revoked. With end_sessions and a permission set target, it then
// denies the grantee's sessions of the permission set issued until now.
func (e *Escalator) Revoke(ctx context.Context, g latch.GrantSpec) (err error) {
	defer e.recover(&err)
	ctx, cancel := context.WithTimeout(ctx, MaxTimeout)
	defer cancel()
	t, err := e.target(g)
	if err != nil {
		return err
	}
	if t.isGroup() {
		err = e.removeMember(ctx, g, t)
	} else {
		err = e.unassign(ctx, g, t)
		if err == nil && e.cfg.endSessions {
			err = e.endSessions(ctx, g, t)
		}
	}
	return wrap("revoke", g, t, err)
}

// Check reports whether the access of g is in place: the grantee's own
// account assignment (ListAccountAssignments; an assignment through a group
// is not this grant's) or their membership of the group
// (GetGroupMembershipId).
func (e *Escalator) Check(ctx context.Context, g latch.GrantSpec) (held bool, err error) {
	defer e.recover(&err)
	t, err := e.target(g)
	if err != nil {
		return false, err
	}
	if t.isGroup() {
		_, held, err = e.membership(ctx, g, t)
	} else {
		held, err = e.assigned(ctx, g, t)
	}
	return held, wrap("check", g, t, err)
}

// LookupIdentity finds the Identity Center user id of the person with the
// given email: the user whose emails.value is the email, else the user
// whose userName is the email. It returns latch.ErrNotFound when there is
// none; the caller stores what it finds as the person's identity.
func (e *Escalator) LookupIdentity(ctx context.Context, email string) (id string, err error) {
	defer e.recover(&err)
	for _, path := range []string{"emails.value", "userName"} {
		out, err := e.ids.GetUserId(ctx, &identitystore.GetUserIdInput{
			IdentityStoreId: aws.String(e.cfg.identityStoreID),
			AlternateIdentifier: &idtypes.AlternateIdentifierMemberUniqueAttribute{Value: idtypes.UniqueAttribute{
				AttributePath: aws.String(path), AttributeValue: document.NewLazyDocument(email)}},
		})
		switch {
		case isCode(err, notFoundCode):
			continue
		case err != nil:
			return "", fmt.Errorf("aws_sso: find the Identity Center user of %s by %s: %w", email, path, awsconf.Classify(err))
		}
		return aws.ToString(out.UserId), nil
	}
	return "", fmt.Errorf("aws_sso: no Identity Center user has the email or user name %s: %w", email, latch.ErrNotFound)
}

// Validate checks that a target exists: its permission set
// (DescribePermissionSet) or its group (DescribeGroup). A target that does
// not exist is a permanent KindInvalid error.
func (e *Escalator) Validate(ctx context.Context, lt latch.Target) (err error) {
	defer e.recover(&err)
	t, err := parseTarget(lt)
	if err != nil {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadTarget, Message: err.Error()})
	}
	if t.isGroup() {
		_, err = e.ids.DescribeGroup(ctx, &identitystore.DescribeGroupInput{
			IdentityStoreId: aws.String(e.cfg.identityStoreID), GroupId: aws.String(t.GroupID)})
	} else {
		_, err = e.describePermissionSet(ctx, t)
	}
	if isCode(err, notFoundCode) {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeNotFound,
			Message: fmt.Sprintf("target %q: IAM Identity Center has no %s", lt.ID, t), Err: err})
	}
	if err != nil {
		return fmt.Errorf("target %q: %w", lt.ID, awsconf.Classify(err))
	}
	return nil
}

// SessionWarning compares the longest grant of a target with the session
// duration of its permission set (DescribePermissionSet). A role session
// started during a grant lasts until it expires, up to the session
// duration, even after the revoke; when that duration is longer than the
// longest grant, a session can outlast its grant by more than the grant
// itself, and the warning says so and how to cap it. It returns "" when
// there is nothing to warn about, and for group targets (whose sessions are
// those of the permission sets assigned to the group).
func (e *Escalator) SessionWarning(ctx context.Context, lt latch.Target, longest time.Duration) (warning string, err error) {
	defer e.recover(&err)
	t, err := parseTarget(lt)
	if err != nil || t.isGroup() {
		return "", err
	}
	ps, err := e.describePermissionSet(ctx, t)
	if err != nil {
		return "", fmt.Errorf("target %q: %w", lt.ID, awsconf.Classify(err))
	}
	session, err := parseISODuration(aws.ToString(ps.SessionDuration))
	if err != nil {
		return "", fmt.Errorf("target %q: permission set session duration: %w", lt.ID, err)
	}
	if session <= longest {
		return "", nil
	}
	how := "set end_sessions: true, or shorten the permission set's session duration"
	if e.cfg.endSessions {
		how = "end_sessions is on, so a revoke denies them; shorten the session duration to bound them without it"
	}
	return fmt.Sprintf("target %q: the permission set's session duration (%s) is longer than the longest grant (%s): "+
		"a session started during a grant can last up to %s after it is revoked (%s)",
		lt.ID, session, longest, session, how), nil
}

func (e *Escalator) describePermissionSet(ctx context.Context, t target) (*ssotypes.PermissionSet, error) {
	out, err := e.admin.DescribePermissionSet(ctx, &ssoadmin.DescribePermissionSetInput{
		InstanceArn: aws.String(e.cfg.instanceARN), PermissionSetArn: aws.String(t.PermissionSetARN)})
	if err != nil {
		return nil, err
	}
	if out.PermissionSet == nil {
		return &ssotypes.PermissionSet{}, nil
	}
	return out.PermissionSet, nil
}

// target reads g's target and checks that g names a grantee.
func (e *Escalator) target(g latch.GrantSpec) (target, error) {
	t, err := parseTarget(g.Target)
	if err != nil {
		return target{}, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadTarget, Message: err.Error()})
	}
	if g.User.Identity == "" {
		return target{}, latch.Permanent(&latch.Error{Kind: latch.KindNotFound, Code: CodeNoIdentity,
			Message: fmt.Sprintf("grant %s has no Identity Center user id for %s. An admin can set it with: latch users set-identity %s %s USER_ID",
				g.GrantID, g.User.Email, g.User.Email, Type)})
	}
	return t, nil
}

// assign creates the grantee's account assignment unless it exists.
func (e *Escalator) assign(ctx context.Context, g latch.GrantSpec, t target) error {
	held, err := e.assigned(ctx, g, t)
	if err != nil || held {
		return err
	}
	var status *ssotypes.AccountAssignmentOperationStatus
	err = e.retryConflict(ctx, func() (bool, error) {
		out, err := e.admin.CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{
			InstanceArn: aws.String(e.cfg.instanceARN), PermissionSetArn: aws.String(t.PermissionSetARN),
			PrincipalId: aws.String(g.User.Identity), PrincipalType: principalUser,
			TargetId: aws.String(t.AccountID), TargetType: targetAWSAccount,
		})
		if isCode(err, conflictCode) {
			// Another change to the same assignment is in flight; if it was
			// ours (or someone's) and is done, the access is in place.
			held, cerr := e.assigned(ctx, g, t)
			if cerr == nil && held {
				return true, nil
			}
			return false, err
		}
		if err != nil {
			return true, err
		}
		status = out.AccountAssignmentCreationStatus
		return true, nil
	})
	if isCode(err, notFoundCode) {
		return unknownUser(g, err)
	}
	if err != nil || status == nil {
		return err
	}
	return e.await(ctx, g, "creation", status, func(id *string) (*ssotypes.AccountAssignmentOperationStatus, error) {
		out, err := e.admin.DescribeAccountAssignmentCreationStatus(ctx, &ssoadmin.DescribeAccountAssignmentCreationStatusInput{
			InstanceArn: aws.String(e.cfg.instanceARN), AccountAssignmentCreationRequestId: id})
		if err != nil {
			return nil, err
		}
		return out.AccountAssignmentCreationStatus, nil
	}, true)
}

// unassign deletes the grantee's account assignment. It always asks AWS
// (a listing can lag just after a grant); an assignment that is not there
// is gone.
func (e *Escalator) unassign(ctx context.Context, g latch.GrantSpec, t target) error {
	var status *ssotypes.AccountAssignmentOperationStatus
	err := e.retryConflict(ctx, func() (bool, error) {
		out, err := e.admin.DeleteAccountAssignment(ctx, &ssoadmin.DeleteAccountAssignmentInput{
			InstanceArn: aws.String(e.cfg.instanceARN), PermissionSetArn: aws.String(t.PermissionSetARN),
			PrincipalId: aws.String(g.User.Identity), PrincipalType: principalUser,
			TargetId: aws.String(t.AccountID), TargetType: targetAWSAccount,
		})
		if isCode(err, conflictCode) {
			return false, err
		}
		if err != nil {
			return true, err
		}
		status = out.AccountAssignmentDeletionStatus
		return true, nil
	})
	if isCode(err, notFoundCode) {
		return nil
	}
	if err != nil || status == nil {
		return err
	}
	return e.await(ctx, g, "deletion", status, func(id *string) (*ssotypes.AccountAssignmentOperationStatus, error) {
		out, err := e.admin.DescribeAccountAssignmentDeletionStatus(ctx, &ssoadmin.DescribeAccountAssignmentDeletionStatusInput{
			InstanceArn: aws.String(e.cfg.instanceARN), AccountAssignmentDeletionRequestId: id})
		if err != nil {
			return nil, err
		}
		return out.AccountAssignmentDeletionStatus, nil
	}, false)
}

// assigned reports whether the grantee holds the permission set in the
// account through an assignment to them (not to a group).
func (e *Escalator) assigned(ctx context.Context, g latch.GrantSpec, t target) (bool, error) {
	p := ssoadmin.NewListAccountAssignmentsPaginator(e.admin, &ssoadmin.ListAccountAssignmentsInput{
		InstanceArn: aws.String(e.cfg.instanceARN), PermissionSetArn: aws.String(t.PermissionSetARN), AccountId: aws.String(t.AccountID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return false, err
		}
		for _, a := range page.AccountAssignments {
			if a.PrincipalType == principalUser && aws.ToString(a.PrincipalId) == g.User.Identity {
				return true, nil
			}
		}
	}
	return false, nil
}

// await polls an assignment request until it succeeded or failed, pausing
// e.poll, doubling up to 5s. A request still in progress when ctx ends is
// a retryable error (the next attempt checks the assignment first). A
// FAILED request is an error with AWS's reason, permanent when granting.
func (e *Escalator) await(ctx context.Context, g latch.GrantSpec, what string, st *ssotypes.AccountAssignmentOperationStatus,
	describe func(id *string) (*ssotypes.AccountAssignmentOperationStatus, error), granting bool) error {
	pause := e.poll
	for {
		switch st.Status {
		case ssotypes.StatusValuesSucceeded:
			return nil
		case ssotypes.StatusValuesFailed:
			reason := aws.ToString(st.FailureReason)
			err := &latch.Error{Kind: latch.KindConflict, Code: CodeFailed,
				Message: fmt.Sprintf("IAM Identity Center could not complete the assignment %s (request %s): %s",
					what, aws.ToString(st.RequestId), bounded(reason))}
			if granting {
				return latch.Permanent(err)
			}
			return err
		}
		id := st.RequestId
		if err := sleep(ctx, pause); err != nil {
			return &latch.Error{Kind: latch.KindInternal, Code: CodeInProgress,
				Message: fmt.Sprintf("the assignment %s request %s was still in progress", what, aws.ToString(id)), Err: err}
		}
		pause = min(pause*2, 5*time.Second)
		next, err := describe(id)
		if isCode(err, "ThrottlingException") {
			continue
		}
		if err != nil && ctx.Err() != nil {
			// The time ran out during the status call: the request is
			// still in progress as far as anyone knows.
			return &latch.Error{Kind: latch.KindInternal, Code: CodeInProgress,
				Message: fmt.Sprintf("the assignment %s request %s was still in progress", what, aws.ToString(id)), Err: err}
		}
		if err != nil {
			return err
		}
		if next == nil {
			return fmt.Errorf("the assignment %s request %s: an empty status", what, aws.ToString(id))
		}
		if next.RequestId == nil {
			next.RequestId = id
		}
		st = next
	}
}

// membership returns the grantee's membership id in the group, and whether
// there is one.
func (e *Escalator) membership(ctx context.Context, g latch.GrantSpec, t target) (string, bool, error) {
	out, err := e.ids.GetGroupMembershipId(ctx, &identitystore.GetGroupMembershipIdInput{
		IdentityStoreId: aws.String(e.cfg.identityStoreID), GroupId: aws.String(t.GroupID),
		MemberId: &idtypes.MemberIdMemberUserId{Value: g.User.Identity},
	})
	if isCode(err, notFoundCode) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return aws.ToString(out.MembershipId), true, nil
}

// addMember makes the grantee a member of the group. A membership that
// exists (ConflictException, confirmed by a look-up) counts as granted.
func (e *Escalator) addMember(ctx context.Context, g latch.GrantSpec, t target) error {
	_, err := e.ids.CreateGroupMembership(ctx, &identitystore.CreateGroupMembershipInput{
		IdentityStoreId: aws.String(e.cfg.identityStoreID), GroupId: aws.String(t.GroupID),
		MemberId: &idtypes.MemberIdMemberUserId{Value: g.User.Identity},
	})
	switch {
	case isCode(err, conflictCode):
		_, held, cerr := e.membership(ctx, g, t)
		if cerr == nil && held {
			return nil
		}
		return err
	case isCode(err, notFoundCode):
		return unknownUser(g, err)
	}
	return err
}

// removeMember ends the grantee's membership of the group; one that is not
// there is gone.
func (e *Escalator) removeMember(ctx context.Context, g latch.GrantSpec, t target) error {
	id, held, err := e.membership(ctx, g, t)
	if err != nil || !held {
		return err
	}
	_, err = e.ids.DeleteGroupMembership(ctx, &identitystore.DeleteGroupMembershipInput{
		IdentityStoreId: aws.String(e.cfg.identityStoreID), MembershipId: aws.String(id)})
	if isCode(err, notFoundCode) {
		return nil
	}
	return err
}

// retryConflict calls f up to e.tries times while it asks to retry
// (done false), pausing with jitter between attempts.
func (e *Escalator) retryConflict(ctx context.Context, f func() (done bool, err error)) error {
	pause := e.poll
	for i := 1; ; i++ {
		done, err := f()
		if done || i >= e.tries {
			return err
		}
		jittered := pause/2 + time.Duration(rand.Int64N(int64(pause/2)+1))
		if serr := sleep(ctx, jittered); serr != nil {
			return err
		}
		pause = min(pause*2, 10*time.Second)
	}
}

func unknownUser(g latch.GrantSpec, err error) error {
	return latch.Permanent(&latch.Error{Kind: latch.KindNotFound, Code: CodeUnknownUser,
		Message: fmt.Sprintf("IAM Identity Center has no user %s (the identity Latch holds for %s), or the target does not exist. "+
			"An admin can set the right user id with: latch users set-identity %s %s USER_ID", g.User.Identity, g.User.Email, g.User.Email, Type),
		Err: err})
}

// wrap adds what was being done to err and classifies AWS errors.
func wrap(action string, g latch.GrantSpec, t target, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("aws_sso %s of grant %s (%s): %w", action, g.GrantID, t, awsconf.Classify(err))
}

func (e *Escalator) recover(err *error) {
	if r := recover(); r != nil {
		*err = &latch.Error{Kind: latch.KindInternal, Code: CodePanic,
			Message: "the aws_sso escalator failed unexpectedly", Err: fmt.Errorf("panic: %v\n%s", r, debug.Stack())}
	}
}

func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// bounded cuts outside text to a length fit for a message.
func bounded(s string) string {
	const max = 500
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
