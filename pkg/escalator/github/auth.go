package github

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v78/github"

	"github.com/latchhq/latch/pkg/latch"
)

// tokenRefresh is how long before its expiry an installation token is
// replaced (they live an hour).
const tokenRefresh = 5 * time.Minute

// tokenSource gives the token calls are made with.
type tokenSource interface {
	Token(ctx context.Context) (string, error)
}

type staticToken string

func (t staticToken) Token(context.Context) (string, error) { return string(t), nil }

// bearer is a RoundTripper that sets each call's Authorization header from
// a tokenSource.
type bearer struct {
	src  tokenSource
	next http.RoundTripper
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := b.src.Token(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+tok)
	return b.next.RoundTrip(req)
}

// appTokens makes installation access tokens of a GitHub App: a JWT signed
// with the App's private key (RS256; issued a minute in the past for clock
// drift, valid for nine minutes, GitHub's limit being ten) buys a token with
// POST /app/installations/{id}/access_tokens, which is kept until
// tokenRefresh before it expires.
type appTokens struct {
	appID          string
	key            *rsa.PrivateKey
	installationID int64
	client         *gh.Client // authenticates with the JWT
	now            func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

func (a *appTokens) Token(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && a.now().Before(a.expires.Add(-tokenRefresh)) {
		return a.token, nil
	}
	it, _, err := a.client.Apps.CreateInstallationToken(ctx, a.installationID, nil)
	if err != nil {
		var er *gh.ErrorResponse
		if errors.As(err, &er) && er.Response != nil {
			switch er.Response.StatusCode {
			case http.StatusUnauthorized:
				return "", latch.Permanent(&latch.Error{Kind: latch.KindUnauthorized, Code: CodeBadCredentials,
					Message: "GitHub refused the GitHub App's credentials: check that app_id is the App's id and that private_key_env holds one of its current private keys (the App's settings, Private keys).",
					Err:     err})
			case http.StatusNotFound:
				return "", latch.Permanent(&latch.Error{Kind: latch.KindNotFound, Code: CodeBadCredentials,
					Message: fmt.Sprintf("GitHub has no installation %d of the GitHub App %s: install the App on the organisation and set installation_id to the number in the installation's settings URL.", a.installationID, a.appID),
					Err:     err})
			}
		}
		return "", fmt.Errorf("create an installation token for the GitHub App: %w", err)
	}
	a.token = it.GetToken()
	a.expires = it.GetExpiresAt().Time
	if a.token == "" {
		return "", errors.New("create an installation token for the GitHub App: GitHub answered without a token")
	}
	return a.token, nil
}

// jwt is a JWT for the App, signed with its key (RS256), as
// `Authorization: Bearer` for the App's own endpoints. A JWT of three fixed
// claims is a few lines of the standard library, so no JWT module is used.
func (a *appTokens) jwt() (string, error) {
	now := a.now()
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, err := json.Marshal(map[string]any{"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(9 * time.Minute).Unix(), "iss": a.appID})
	if err != nil {
		return "", err
	}
	signed := header + "." + base64.RawURLEncoding.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, a.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

type jwtSource struct{ a *appTokens }

func (s jwtSource) Token(context.Context) (string, error) { return s.a.jwt() }

// parsePrivateKey reads a GitHub App's private key: the PEM file GitHub
// gives (PKCS #1, "RSA PRIVATE KEY") or PKCS #8 ("PRIVATE KEY"). A key
// kept on one line with its newlines written as \n (as in a JSON secret) is
// read too. The error never quotes the key.
func parsePrivateKey(s string) (*rsa.PrivateKey, error) {
	if !strings.Contains(s, "\n") && strings.Contains(s, `\n`) {
		s = strings.ReplaceAll(s, `\n`, "\n")
	}
	block, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return nil, errors.New("it is not a PEM private key (-----BEGIN RSA PRIVATE KEY-----)")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("its PEM block is not an RSA private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("it is not an RSA key (GitHub App keys are RSA)")
	}
	return rk, nil
}
