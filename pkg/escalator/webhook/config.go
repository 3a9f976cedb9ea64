package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound"
)

// Type is the strategy type this package implements, as written in a flow's
// strategy block.
const Type = "webhook"

// Timeouts for one call to the receiver.
const (
	DefaultTimeout = outbound.DefaultTimeout
	MaxTimeout     = 5 * time.Minute
)

// The keys of the strategy's config block.
const (
	keyURL       = "url"
	keySecretEnv = "secret_env"
	keyTimeout   = "timeout"
	keyHeaders   = "headers"
)

var knownKeys = []string{keyHeaders, keySecretEnv, keyTimeout, keyURL}

// reservedHeaders are set by Latch on every call and cannot be configured.
var reservedHeaders = []string{
	"Connection", "Content-Length", "Content-Type", "Host", "Idempotency-Key", "Transfer-Encoding",
	"User-Agent", "X-Latch-Signature", "X-Latch-Timestamp",
}

// config is a checked strategy config block.
type config struct {
	url       string
	secretEnv string
	timeout   time.Duration
	headers   http.Header
}

// ValidateConfig checks a webhook strategy's config block and targets, and
// returns nil or every problem, one error each joined with errors.Join, in
// words a person can act on (without a prefix: the flow loader adds the file,
// line and strategy). It does not read the environment: whether the secret is
// set is checked by New, when the escalator starts.
//
// The config is every key of a flow's strategy other than type and targets:
// url (required; http or https), secret_env (required;
// the name of the environment variable holding the signing secret), timeout
// (optional; a duration such as 10s, or whole seconds; default 10s, at most
// 5m) and headers (optional; a map of extra static request headers). Every
// target needs an id, unique in the flow, and settings that can be sent as
// JSON.
func ValidateConfig(config map[string]any, targets []latch.Target) error {
	_, problems := parseConfig(config)
	problems = append(problems, CheckTargets(targets)...)
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = errors.New(p)
	}
	return errors.Join(errs...)
}

// parseConfig reads a config block, returning every problem found.
func parseConfig(m map[string]any) (config, []string) {
	c := config{timeout: DefaultTimeout, headers: http.Header{}}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(knownKeys, k) {
			bad("unknown key %q (the keys are %s)", k, strings.Join(knownKeys, ", "))
		}
	}

	switch raw, ok := m[keyURL]; {
	case !ok || raw == nil:
		bad("url is required: the address Latch POSTs grants and revokes to")
	default:
		s, isString := raw.(string)
		if !isString {
			bad("url must be text, such as https://hooks.example.com/latch")
			break
		}
		u, err := checkURL(s)
		if err != nil {
			bad("url %s", err)
			break
		}
		c.url = u.String()
	}

	switch raw, ok := m[keySecretEnv]; {
	case !ok || raw == nil:
		bad("secret_env is required: the name of the environment variable that holds the signing secret")
	default:
		s, isString := raw.(string)
		if !isString || s == "" {
			bad("secret_env must be the name of an environment variable, such as LATCH_WEBHOOK_SECRET")
			break
		}
		if !validEnvName(s) {
			// Never echo the value: it may be the secret itself, pasted by mistake.
			bad("secret_env must be the NAME of an environment variable (letters, digits and _, not starting with a digit), not the secret itself")
			break
		}
		c.secretEnv = s
	}

	if raw, ok := m[keyTimeout]; ok && raw != nil {
		d, err := parseTimeout(raw)
		if err != nil {
			bad("timeout %s", err)
		} else {
			c.timeout = d
		}
	}

	if raw, ok := m[keyHeaders]; ok && raw != nil {
		h, hp := parseHeaders(raw)
		problems = append(problems, hp...)
		c.headers = h
	}
	return c, problems
}

func checkURL(s string) (*url.URL, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("is empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("must start with https:// (or http://)")
	case u.Opaque != "" || u.Host == "":
		return nil, fmt.Errorf("must name a host, as in https://hooks.example.com/latch")
	case u.User != nil:
		return nil, fmt.Errorf("must not contain a user name or password: Latch signs every call, so the receiver can tell it comes from Latch")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return nil, fmt.Errorf("must not contain a #fragment")
	}
	return u, nil
}

func validEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

func parseTimeout(raw any) (time.Duration, error) {
	outOfRange := func(d string) error {
		return fmt.Errorf("must be more than 0s and at most %s, got %s", latch.FormatDuration(MaxTimeout), d)
	}
	seconds := func(n int64) (time.Duration, error) {
		if n <= 0 || n > int64(MaxTimeout/time.Second) {
			return 0, outOfRange(fmt.Sprintf("%d seconds", n))
		}
		return time.Duration(n) * time.Second, nil
	}
	switch v := raw.(type) {
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (write 10s, 30s or 1m)", v)
		}
		if d <= 0 || d > MaxTimeout {
			return 0, outOfRange(v)
		}
		return d, nil
	case int:
		return seconds(int64(v))
	case int64:
		return seconds(v)
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1e9 {
			return 0, fmt.Errorf("%v is not a duration (write 10s, 30s or 1m)", v)
		}
		return seconds(int64(v))
	}
	return 0, fmt.Errorf("must be a duration such as 10s")
}

func parseHeaders(raw any) (http.Header, []string) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	values := map[string]any{}
	switch v := raw.(type) {
	case map[string]any:
		values = v
	case map[string]string:
		for k, s := range v {
			values[k] = s
		}
	default:
		bad("headers must be a map of header name to value")
		return http.Header{}, problems
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	slices.Sort(names)
	h := http.Header{}
	for _, name := range names {
		if !validHeaderName(name) {
			bad("headers: %q is not a valid header name", name)
			continue
		}
		canon := http.CanonicalHeaderKey(name)
		if slices.Contains(reservedHeaders, canon) {
			bad("headers: %s is set by Latch and cannot be configured", canon)
			continue
		}
		if _, dup := h[canon]; dup {
			bad("headers: %s is given twice", canon)
			continue
		}
		s, ok := values[name].(string)
		if !ok {
			bad("headers: the value of %s must be text (quote it in YAML)", canon)
			continue
		}
		if !validHeaderValue(s) {
			bad("headers: the value of %s must not contain line breaks or control characters", canon)
			continue
		}
		h.Set(canon, s)
	}
	return h, problems
}

// validHeaderName reports whether s is an HTTP token (RFC 9110, 5.6.2).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s may be sent as a header value: no
// control characters other than tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// CheckTargets returns the problems of a strategy's targets whose id and
// settings are sent as the payload's target (NewPayload): every target needs
// an id, unique in the flow, and settings that can be sent as JSON. The
// aws_lambda strategy, which sends the same payload, checks with it too.
func CheckTargets(targets []latch.Target) []string {
	var problems []string
	if len(targets) == 0 {
		problems = append(problems, "at least one target is required: a target's id and settings are sent to the receiver")
	}
	seen := map[string]bool{}
	for i, t := range targets {
		switch {
		case strings.TrimSpace(t.ID) == "":
			problems = append(problems, fmt.Sprintf("target %d has no id", i+1))
			continue
		case seen[t.ID]:
			problems = append(problems, fmt.Sprintf("target %q is listed twice", t.ID))
			continue
		}
		seen[t.ID] = true
		if _, err := json.Marshal(t.Settings); err != nil {
			problems = append(problems, fmt.Sprintf("target %q: settings cannot be sent as JSON (keys must be text; no NaN or infinite numbers)", t.ID))
		}
	}
	return problems
}
