package awssso

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"

	"github.com/latchhq/latch/pkg/awsconf"
	"github.com/latchhq/latch/pkg/latch"
)

// Type is the strategy type this package implements, as written in a flow's
// strategy block.
const Type = "aws_sso"

// The keys of the strategy's config block (besides awsconf's region,
// role_arn and external_id).
const (
	keyInstanceARN     = "instance_arn"
	keyIdentityStoreID = "identity_store_id"
	keyEndSessions     = "end_sessions"
)

// The keys of a target's settings.
const (
	keyPermissionSetARN = "permission_set_arn"
	keyAccountID        = "account_id"
	keyGroupID          = "group_id"
)

var knownKeys = []string{awsconf.KeyExternalID, keyEndSessions, keyIdentityStoreID, keyInstanceARN, awsconf.KeyRegion, awsconf.KeyRoleARN}

// Shapes, from the IAM Identity Center and identity store API references.
var (
	instanceARN      = regexp.MustCompile(`^arn:(aws|aws-us-gov|aws-cn|aws-iso|aws-iso-b):sso:::instance/(sso)?ins-[a-zA-Z0-9-.]{16}$`)
	permissionSetARN = regexp.MustCompile(`^arn:(aws|aws-us-gov|aws-cn|aws-iso|aws-iso-b):sso:::permissionSet/(sso)?ins-[a-zA-Z0-9-.]{16}/ps-[a-zA-Z0-9-./]{16}$`)
	identityStoreID  = regexp.MustCompile(`^d-[0-9a-f]{10}$|^[0-9a-f]{8}\b-[0-9a-f]{4}\b-[0-9a-f]{4}\b-[0-9a-f]{4}\b-[0-9a-f]{12}$`)
	accountID        = regexp.MustCompile(`^\d{12}$`)
	resourceID       = regexp.MustCompile(`^([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$`)
)

// config is a checked strategy config block.
type config struct {
	aws             awsconf.Settings
	instanceARN     string
	identityStoreID string
	endSessions     bool
}

// target is a checked target: an account assignment (PermissionSetARN and
// AccountID) or a group membership (GroupID).
type target struct {
	PermissionSetARN string
	AccountID        string
	GroupID          string
}

func (t target) isGroup() bool { return t.GroupID != "" }

func (t target) String() string {
	if t.isGroup() {
		return "group " + t.GroupID
	}
	return fmt.Sprintf("permission set %s in account %s", t.PermissionSetARN, t.AccountID)
}

// ValidateConfig checks an aws_sso strategy's config block and targets, and
// returns nil or every problem, one error each joined with errors.Join, in
// words a person can act on (the flow loader adds the file and strategy).
// It makes no AWS call (Escalator.Validate does).
//
// The config: instance_arn (required; the IAM Identity Center instance),
// identity_store_id (required; its identity store), end_sessions (optional
// boolean: end the grantee's live sessions of a permission set at revoke),
// and awsconf's region, role_arn and external_id. Every target has either
// permission_set_arn and account_id (a quoted 12-digit string), or group_id.
func ValidateConfig(cfg map[string]any, targets []latch.Target) error {
	_, problems := parseConfig(cfg)
	for _, t := range targets {
		if _, err := parseTarget(t); err != nil {
			problems = append(problems, err.Error())
		}
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = errors.New(p)
	}
	return errors.Join(errs...)
}

func parseConfig(m map[string]any) (config, []string) {
	var c config
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var unknown []string
	for k := range m {
		if !slices.Contains(knownKeys, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		bad("unknown setting %q (known: %v)", k, knownKeys)
	}
	s, err := awsconf.Parse(m)
	if err != nil {
		bad("%v", err)
	}
	c.aws = s
	str := func(key string, re *regexp.Regexp, want string) string {
		v, ok := m[key]
		if !ok || v == nil {
			bad("%s is required: %s", key, want)
			return ""
		}
		s, ok := v.(string)
		if !ok || !re.MatchString(s) {
			bad("%s %v is not %s", key, quoted(v), want)
			return ""
		}
		return s
	}
	c.instanceARN = str(keyInstanceARN, instanceARN, "an IAM Identity Center instance ARN such as arn:aws:sso:::instance/ssoins-0123456789abcdef")
	c.identityStoreID = str(keyIdentityStoreID, identityStoreID, "an identity store id such as d-1234567890")
	if v, ok := m[keyEndSessions]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			bad("%s must be true or false", keyEndSessions)
		}
		c.endSessions = b
	}
	return c, problems
}

// parseTarget reads a target's settings.
func parseTarget(t latch.Target) (target, error) {
	get := func(key string, re *regexp.Regexp, want string) (string, error) {
		v, ok := t.Settings[key]
		if !ok || v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("target %q: %s must be a quoted string (%s)", t.ID, key, want)
		}
		if !re.MatchString(s) {
			return "", fmt.Errorf("target %q: %s %q is not %s", t.ID, key, s, want)
		}
		return s, nil
	}
	var out target
	var errs []error
	for _, f := range []struct {
		key, want string
		re        *regexp.Regexp
		dst       *string
	}{
		{keyPermissionSetARN, "a permission set ARN such as arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef", permissionSetARN, &out.PermissionSetARN},
		{keyAccountID, "a 12-digit AWS account id", accountID, &out.AccountID},
		{keyGroupID, "an identity store group id", resourceID, &out.GroupID},
	} {
		s, err := get(f.key, f.re, f.want)
		if err != nil {
			errs = append(errs, err)
		}
		*f.dst = s
	}
	if len(errs) > 0 {
		return target{}, errors.Join(errs...)
	}
	for k := range t.Settings {
		if k != keyPermissionSetARN && k != keyAccountID && k != keyGroupID {
			return target{}, fmt.Errorf("target %q: unknown setting %q (known: %s, %s, %s)", t.ID, k, keyPermissionSetARN, keyAccountID, keyGroupID)
		}
	}
	switch {
	case out.GroupID != "" && (out.PermissionSetARN != "" || out.AccountID != ""):
		return target{}, fmt.Errorf("target %q: set either group_id, or permission_set_arn and account_id, not both", t.ID)
	case out.GroupID != "":
	case out.PermissionSetARN == "" || out.AccountID == "":
		return target{}, fmt.Errorf("target %q: needs permission_set_arn and account_id (an account assignment), or group_id (a group membership)", t.ID)
	}
	return out, nil
}

func quoted(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%v", v)
}
