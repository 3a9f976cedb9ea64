package boot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// DefaultSecretsTTL is how long a secret's value is used before it is read
// again (LATCH_SECRETS_TTL changes it): a rotation takes effect in every
// warm function within it.
const DefaultSecretsTTL = 5 * time.Minute

// Placeholder is the value the stack gives a secret an operator must set
// (the Slack app's): a secret holding it, or nothing, is "not configured
// yet".
const Placeholder = "REPLACE_ME"

// ErrNotConfigured is the error of a use of a secret that still holds its
// placeholder. It is transient: whatever needed the secret (a Slack
// notification in the outbox) is retried, and succeeds once the operator
// has put the value and the cache has read it.
var ErrNotConfigured = errors.New("not configured yet")

// secretReader is the one call of Secrets Manager the functions make.
type secretReader interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// secretCache reads secrets by ARN, each at most once per ttl. When a read
// fails and an earlier value is known, the earlier value is used (and the
// failure logged): a Secrets Manager outage does not take a warm function
// down.
type secretCache struct {
	client  secretReader
	ttl     time.Duration
	now     func() time.Time
	onStale func(ctx context.Context, arn string, err error)

	mu      sync.Mutex
	entries map[string]secretEntry
}

type secretEntry struct {
	value string
	read  time.Time
}

func (c *secretCache) get(ctx context.Context, arn string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, known := c.entries[arn]
	if known && c.now().Sub(e.read) < c.ttl {
		return e.value, nil
	}
	out, err := c.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		if known {
			if c.onStale != nil {
				c.onStale(ctx, arn, err)
			}
			return e.value, nil
		}
		return "", err
	}
	e = secretEntry{value: aws.ToString(out.SecretString), read: c.now()}
	c.entries[arn] = e
	return e.value, nil
}

// Configured reports whether a secret's value is set: not empty and not
// the placeholder.
func Configured(v string) bool {
	v = strings.TrimSpace(v)
	return v != "" && v != Placeholder
}

// Fingerprint returns a digest of the current values of the named
// secrets: a name is a value's own name (SLACK_BOT_TOKEN, read as Secret
// reads it) or the variable holding a JSON secret's ARN
// (LATCH_HOOKS_SECRETS_ARN). Two calls return the same digest exactly when
// every value is the same.
func (e *Env) Fingerprint(ctx context.Context, names ...string) (string, error) {
	h := sha256.New()
	for _, name := range names {
		var v string
		var err error
		if strings.HasSuffix(name, "_ARN") {
			v, err = e.jsonSecretRaw(ctx, name)
		} else {
			v, err = e.Secret(ctx, name)
		}
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%d:%s\n", len(v), v)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// jsonSecretRaw returns the value of the JSON secret whose ARN is in the
// variable arnVar, as stored ("" when the variable is unset).
func (e *Env) jsonSecretRaw(ctx context.Context, arnVar string) (string, error) {
	arn := e.getenv(arnVar)
	if arn == "" {
		return "", nil
	}
	v, err := e.cache.get(ctx, arn)
	if err != nil {
		return "", fmt.Errorf("read secret %s (%s): %w", arn, arnVar, err)
	}
	return v, nil
}

// parseJSONSecret reads a JSON secret's value: an object of strings, or
// nothing.
func parseJSONSecret(v, arn, from string) (map[string]string, error) {
	m := map[string]string{}
	if strings.TrimSpace(v) == "" {
		return m, nil
	}
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return nil, fmt.Errorf("secret %s (%s) is not a JSON object of strings: %w", arn, from, err)
	}
	return m, nil
}

// Live is a value built from secrets and built again when one of them
// changes (checked at most once per the secrets' TTL), such as a Slack app
// holding a bot token, or an API handler holding the admin token. It is
// safe for concurrent use.
type Live[T any] struct {
	Env *Env
	// Secrets are the names the value is built from, as Fingerprint takes
	// them.
	Secrets []string
	// Build builds the value from the secrets' current values.
	Build func(ctx context.Context) (T, error)

	mu    sync.Mutex
	built bool
	print string
	v     T
}

// Get returns the value, built again first if a secret has changed since
// it was built. When a build fails, the error is returned and the next Get
// tries again.
func (l *Live[T]) Get(ctx context.Context) (T, error) {
	var zero T
	print, err := l.Env.Fingerprint(ctx, l.Secrets...)
	if err != nil {
		return zero, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.built && print == l.print {
		return l.v, nil
	}
	v, err := l.Build(ctx)
	if err != nil {
		return zero, err
	}
	if l.built {
		l.Env.Log.InfoContext(ctx, "a secret changed: rebuilt what uses it", "secrets", strings.Join(l.Secrets, ","))
	}
	l.v, l.print, l.built = v, print, true
	return v, nil
}

// Serve serves each HTTP request with the current handler of live; when it
// cannot be built (a secret cannot be read) the answer is 503.
func Serve(live *Live[http.Handler]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, err := live.Get(r.Context())
		if err != nil {
			live.Env.Log.ErrorContext(r.Context(), "the handler cannot be built", "err", err)
			http.Error(w, "Latch cannot read its configuration; try again shortly", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}
