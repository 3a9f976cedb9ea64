package okta

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/latchhq/latch/pkg/escalator/settings"
	"github.com/latchhq/latch/pkg/latch"
)

// The keys of the strategy's config block.
const (
	KeyOrgURL        = "org_url"         // the org's address, e.g. https://example.okta.com
	KeyTokenEnv      = "token_env"       // the environment variable holding an SSWS API token
	KeyClientID      = "client_id"       // an OAuth 2.0 service app's client id
	KeyPrivateKeyEnv = "private_key_env" // the environment variable holding that app's private key (PEM)
	KeyKeyID         = "key_id"          // optional: the key's kid, when the app has more than one
)

// KeyGroupID is the target setting naming the Okta group.
const KeyGroupID = "group_id"

var knownKeys = []string{KeyClientID, KeyKeyID, KeyOrgURL, KeyPrivateKeyEnv, KeyTokenEnv}

// oktaID is the shape of an Okta object id (00g… for a group, 00u… for a
// user): letters and digits only, so it is safe in a URL path.
var oktaID = regexp.MustCompile(`^[0-9A-Za-z]{1,64}$`)

// envName is the shape of an environment variable's name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// config is a checked strategy config block.
type config struct {
	orgURL        *url.URL
	tokenEnv      string
	clientID      string
	privateKeyEnv string
	keyID         string
}

// ValidateConfig checks an okta strategy's config block and targets, and
// returns nil or every problem joined with errors.Join. The keys are
// org_url (required: https://, the org's address without a path; http:// is
// accepted only for a loopback host, for tests), and either token_env (the
// name of the environment variable holding an SSWS API token) or client_id
// and private_key_env (an OAuth 2.0 service app and the variable holding its
// PEM private key; key_id optional). Each target needs an id, unique in the
// flow, and a setting group_id: the Okta group's id (00g…), not its name. It
// does not read the environment: New does.
func ValidateConfig(cfg map[string]any, targets []latch.Target) error {
	_, errs := parseConfig(cfg)
	errs = append(errs, settings.Targets(targets, KeyGroupID, func(t latch.Target) error {
		_, err := targetGroup(t)
		return err
	})...)
	return errors.Join(errs...)
}

// parseConfig reads a config block, returning every problem found.
func parseConfig(m map[string]any) (config, []error) {
	var c config
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	errs = append(errs, settings.UnknownKeys(m, knownKeys)...)
	text := func(key string) (string, bool) {
		s, ok, err := settings.Text(m, key)
		if err != nil {
			bad("%s", err)
		}
		return s, ok
	}

	if s, ok := text(KeyOrgURL); !ok {
		if _, present := m[KeyOrgURL]; !present || m[KeyOrgURL] == nil {
			bad("org_url is required: the address of the Okta org, such as https://example.okta.com")
		}
	} else if u, err := checkOrgURL(s); err != nil {
		bad("org_url %v", err)
	} else {
		c.orgURL = u
	}

	env := func(key, what string) string {
		s, ok := text(key)
		if !ok {
			return ""
		}
		if !envName.MatchString(s) {
			// Never echo the value: it may be the secret itself, pasted by mistake.
			bad("%s must be the NAME of an environment variable holding %s (letters, digits and _, not starting with a digit), not the secret itself", key, what)
			return ""
		}
		return s
	}
	c.tokenEnv = env(KeyTokenEnv, "the API token")
	c.privateKeyEnv = env(KeyPrivateKeyEnv, "the private key")
	c.clientID, _ = text(KeyClientID)
	c.keyID, _ = text(KeyKeyID)
	if c.clientID != "" && !oktaID.MatchString(c.clientID) {
		bad("client_id %q is not an Okta client id (letters and digits, such as 0oa1b2c3d4e5f6g7h8i9)", c.clientID)
	}

	_, hasToken := m[KeyTokenEnv]
	_, hasClient := m[KeyClientID]
	_, hasKey := m[KeyPrivateKeyEnv]
	switch {
	case hasToken && (hasClient || hasKey):
		bad("set either token_env (an API token) or client_id and private_key_env (an OAuth 2.0 service app), not both")
	case !hasToken && !hasClient && !hasKey:
		bad("token_env is required (the name of the environment variable holding an Okta API token), or client_id and private_key_env for an OAuth 2.0 service app")
	case !hasToken && hasClient != hasKey:
		bad("client_id and private_key_env go together: the OAuth 2.0 service app's client id and the variable holding its private key")
	}
	if _, ok := m[KeyKeyID]; ok && !hasClient {
		bad("key_id belongs to an OAuth 2.0 service app: set it only with client_id and private_key_env")
	}
	return c, errs
}

// checkOrgURL checks the org's address: https, a host, no path, query or
// user. http is accepted only for a loopback host (a local fake in tests).
func checkOrgURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("must be the address of the Okta org, such as https://example.okta.com")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback(u.Hostname()):
	default:
		return nil, fmt.Errorf("%q must start with https://", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("%q must be only the org's address, such as https://example.okta.com (no path, query or user)", s)
	}
	u.Path, u.RawPath = "", ""
	return u, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// targetGroup returns the Okta group id a target names.
func targetGroup(t latch.Target) (string, error) {
	raw, ok := t.Settings[KeyGroupID]
	if !ok || raw == nil {
		return "", errors.New("settings.group_id is required: the id of the Okta group to add the grantee to (00g…)")
	}
	s, ok := raw.(string)
	if !ok {
		return "", errors.New("settings.group_id must be text: an Okta group id such as 00g1emaKYZTWRYYRRTSK")
	}
	if !oktaID.MatchString(s) {
		return "", fmt.Errorf("settings.group_id %q is not an Okta group id (letters and digits, such as 00g1emaKYZTWRYYRRTSK; the id, not the group's name)", s)
	}
	return s, nil
}
