package awssso

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"

	"github.com/latchhq/latch/pkg/latch"
)

// sidPrefix starts the Sid of every statement Latch writes into a permission
// set's inline policy; statements with other Sids are the customer's and are
// kept as they are.
const sidPrefix = "LatchEndSessions"

// endSessions denies the grantee's role sessions of the permission set that
// were issued before now: the pattern AWS documents for revoking active
// permission-set sessions (a Deny on every action conditioned on the user's
// identitystore:userId and aws:TokenIssueTime), written as one statement
// per user into the permission set's inline policy, which is then
// provisioned to the target's account. Sessions the user starts later (after
// a new grant) are not denied. Statements older than the permission set's
// session duration (every session they deny has expired) are removed on
// the way.
func (e *Escalator) endSessions(ctx context.Context, g latch.GrantSpec, t target) error {
	ps, err := e.describePermissionSet(ctx, t)
	if err != nil {
		return err
	}
	session, err := parseISODuration(aws.ToString(ps.SessionDuration))
	if err != nil {
		session = 12 * time.Hour // the longest a permission set allows
	}
	now := e.clock.Now().UTC().Truncate(time.Second).Add(time.Second)
	err = e.retryConflict(ctx, func() (bool, error) {
		cur, err := e.admin.GetInlinePolicyForPermissionSet(ctx, &ssoadmin.GetInlinePolicyForPermissionSetInput{
			InstanceArn: aws.String(e.cfg.instanceARN), PermissionSetArn: aws.String(t.PermissionSetARN)})
		if err != nil {
			return true, err
		}
		doc, err := withSessionDeny(aws.ToString(cur.InlinePolicy), g.User.Identity, now, session)
		if err != nil {
			return true, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeEndSessions,
				Message: fmt.Sprintf("the inline policy of %s cannot be read as an IAM policy: %v", t.PermissionSetARN, err)})
		}
		_, err = e.admin.PutInlinePolicyToPermissionSet(ctx, &ssoadmin.PutInlinePolicyToPermissionSetInput{
			InstanceArn: aws.String(e.cfg.instanceARN), PermissionSetArn: aws.String(t.PermissionSetARN), InlinePolicy: aws.String(doc)})
		return !isCode(err, conflictCode), err
	})
	if err != nil {
		return err
	}
	var status *ssotypes.PermissionSetProvisioningStatus
	err = e.retryConflict(ctx, func() (bool, error) {
		out, err := e.admin.ProvisionPermissionSet(ctx, &ssoadmin.ProvisionPermissionSetInput{
			InstanceArn: aws.String(e.cfg.instanceARN), PermissionSetArn: aws.String(t.PermissionSetARN),
			TargetType: ssotypes.ProvisionTargetTypeAwsAccount, TargetId: aws.String(t.AccountID)})
		if err != nil {
			return !isCode(err, conflictCode), err
		}
		status = out.PermissionSetProvisioningStatus
		return true, nil
	})
	if err != nil || status == nil {
		return err
	}
	pause := e.poll
	for {
		switch status.Status {
		case ssotypes.StatusValuesSucceeded:
			return nil
		case ssotypes.StatusValuesFailed:
			return &latch.Error{Kind: latch.KindConflict, Code: CodeEndSessions,
				Message: fmt.Sprintf("provisioning %s to account %s failed: %s", t.PermissionSetARN, t.AccountID,
					bounded(aws.ToString(status.FailureReason)))}
		}
		id := status.RequestId
		if err := sleep(ctx, pause); err != nil {
			return &latch.Error{Kind: latch.KindInternal, Code: CodeInProgress,
				Message: fmt.Sprintf("provisioning request %s was still in progress", aws.ToString(id)), Err: err}
		}
		pause = min(pause*2, 5*time.Second)
		out, err := e.admin.DescribePermissionSetProvisioningStatus(ctx, &ssoadmin.DescribePermissionSetProvisioningStatusInput{
			InstanceArn: aws.String(e.cfg.instanceARN), ProvisionPermissionSetRequestId: id})
		if err != nil {
			return err
		}
		if out.PermissionSetProvisioningStatus == nil {
			return fmt.Errorf("provisioning request %s: an empty status", aws.ToString(id))
		}
		status = out.PermissionSetProvisioningStatus
		if status.RequestId == nil {
			status.RequestId = id
		}
	}
}

// policyDoc is an IAM policy document, read loosely: statements are kept as
// raw JSON so that the customer's are written back as they were.
type policyDoc struct {
	Version   string            `json:"Version,omitempty"`
	Statement []json.RawMessage `json:"Statement"`
}

type sessionDeny struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Action    string                       `json:"Action"`
	Resource  string                       `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition"`
}

const (
	condUserID    = "identitystore:userId"
	condIssueTime = "aws:TokenIssueTime"
)

// withSessionDeny returns the inline policy cur with a statement denying
// every action to sessions of userID issued before cutoff (replacing an
// earlier one for the same user), and without Latch's statements whose
// cutoff is more than session ago.
func withSessionDeny(cur, userID string, cutoff time.Time, session time.Duration) (string, error) {
	doc := policyDoc{Version: "2012-10-17"}
	if strings.TrimSpace(cur) != "" {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(cur), &raw); err != nil {
			return "", err
		}
		if v, ok := raw["Version"]; ok {
			if err := json.Unmarshal(v, &doc.Version); err != nil {
				return "", fmt.Errorf("Version: %w", err)
			}
		}
		if s, ok := raw["Statement"]; ok {
			if err := json.Unmarshal(s, &doc.Statement); err != nil {
				var one json.RawMessage
				if err := json.Unmarshal(s, &one); err != nil {
					return "", fmt.Errorf("Statement: %w", err)
				}
				doc.Statement = []json.RawMessage{one}
			}
		}
		for k := range raw {
			if k != "Version" && k != "Statement" {
				return "", fmt.Errorf("unexpected key %q", k)
			}
		}
	}
	sid := sidPrefix + alnum(userID)
	kept := doc.Statement[:0]
	for _, s := range doc.Statement {
		var d sessionDeny
		if json.Unmarshal(s, &d) == nil && strings.HasPrefix(d.Sid, sidPrefix) {
			if d.Sid == sid {
				continue
			}
			at, err := time.Parse(time.RFC3339, d.Condition["DateLessThan"][condIssueTime])
			if err == nil && cutoff.Sub(at) > session+5*time.Minute {
				continue
			}
		}
		kept = append(kept, s)
	}
	deny, err := json.Marshal(sessionDeny{Sid: sid, Effect: "Deny", Action: "*", Resource: "*",
		Condition: map[string]map[string]string{
			"StringEquals": {condUserID: userID},
			"DateLessThan": {condIssueTime: cutoff.Format(time.RFC3339)},
		}})
	if err != nil {
		return "", err
	}
	doc.Statement = append(kept, deny)
	out, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	if len(out) > maxInlinePolicy {
		return "", fmt.Errorf("with the session deny the policy would be %d characters, over AWS's limit of %d", len(out), maxInlinePolicy)
	}
	return string(out), nil
}

// maxInlinePolicy is the longest inline policy a permission set takes.
const maxInlinePolicy = 32768

func alnum(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

var isoDuration = regexp.MustCompile(`^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$`)

// parseISODuration reads a permission set's SessionDuration, an ISO 8601
// duration such as PT1H or PT8H30M. An empty one is AWS's default, PT1H.
func parseISODuration(s string) (time.Duration, error) {
	if s == "" {
		return time.Hour, nil
	}
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "PT" {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration such as PT1H", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return 0, err
		}
		d += time.Duration(n) * unit
	}
	return d, nil
}
