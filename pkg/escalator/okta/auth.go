package okta

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/version"
)

// Scopes are the OAuth 2.0 scopes a service app's access token asks for:
// group membership changes and reading users (the lookup by email and a
// user's groups).
const Scopes = "okta.groups.manage okta.users.read"

// forbiddenFix says what a 403 needs.
const forbiddenFix = "Give the API token's admin (or the OAuth 2.0 service app) the standard role Group Membership Administrator " +
	"on the flow's groups, or a custom admin role with okta.groups.members.manage and okta.groups.read on them and okta.users.read " +
	"on all users; a service app also needs the scopes " + Scopes + " granted (docs/strategies/okta.md)."

// ssws authorizes with an API token: "Authorization: SSWS <token>".
type ssws struct {
	token string
	env   string
}

func (s ssws) header(context.Context) (string, error) { return "SSWS " + s.token, nil }
func (s ssws) refused(string) bool                    { return false }
func (s ssws) fix() string {
	return fmt.Sprintf("The API token in %s is invalid, expired (Okta ends a token after 30 days unused) or its admin was deactivated: "+
		"create a new token in the Admin Console (Security > API > Tokens) as an admin with a role that can manage the flow's groups' "+
		"membership, and put it in %s (docs/strategies/okta.md).", s.env, s.env)
}

// serviceApp authorizes with scoped OAuth 2.0 access tokens of a service
// app, got with the client credentials grant and a private_key_jwt client
// assertion, and kept until shortly before they expire.
type serviceApp struct {
	tokenURL string
	clientID string
	keyID    string
	key      *rsa.PrivateKey
	keyEnv   string
	http     *http.Client
	clock    latch.Clock

	mu      sync.Mutex
	token   string
	expires time.Time
}

// parsePrivateKey reads an RSA private key in PEM (PKCS #8 "PRIVATE KEY" or
// PKCS #1 "RSA PRIVATE KEY"), as Okta's Admin Console gives it.
func parsePrivateKey(s string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return nil, errors.New("it is not a PEM private key (-----BEGIN PRIVATE KEY-----); in the Okta Admin Console, copy the key in PEM format")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("it is not an RSA private key in PKCS #8 or PKCS #1 form")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("it is not an RSA key; Okta service apps sign with RS256")
	}
	return rk, nil
}

func (a *serviceApp) header(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && a.clock.Now().Before(a.expires) {
		return "Bearer " + a.token, nil
	}
	tok, ttl, err := a.fetch(ctx)
	if err != nil {
		return "", err
	}
	// Renewed a minute early, so a token does not expire in flight.
	a.token, a.expires = tok, a.clock.Now().Add(max(ttl-time.Minute, ttl/2))
	return "Bearer " + a.token, nil
}

func (a *serviceApp) refused(value string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == "" || value != "Bearer "+a.token {
		return false
	}
	a.token = ""
	return true
}

func (a *serviceApp) fix() string {
	return fmt.Sprintf("Check the OAuth 2.0 service app %s: its client authentication is \"Public key / Private key\" with the public key of "+
		"the private key in %s, DPoP is off, the scopes %s are granted, and it holds an admin role that can manage the flow's groups' "+
		"membership (docs/strategies/okta.md).", a.clientID, a.keyEnv, Scopes)
}

// tokenAnswer is the token endpoint's answer, success or error.
type tokenAnswer struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// fetch gets an access token: POST /oauth2/v1/token with grant_type
// client_credentials, the scopes, and a client assertion (a JWT signed
// RS256 by the app's key, for the token URL as audience).
func (a *serviceApp) fetch(ctx context.Context) (string, time.Duration, error) {
	assertion, err := a.assertion()
	if err != nil {
		return "", 0, latch.Permanent(&latch.Error{Kind: latch.KindInternal, Code: CodeUnauthorized,
			Message: "Latch could not sign the client assertion for the Okta service app.", Err: err})
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {Scopes},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, latch.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", version.UserAgent())
	resp, err := a.http.Do(req)
	if err != nil {
		return "", 0, &latch.Error{Kind: latch.KindInternal, Code: CodeUnreachable,
			Message: "Could not reach Okta to get an access token; Latch tries again.", Err: unwrapURL(err)}
	}
	defer resp.Body.Close()
	var ans tokenAnswer
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = json.Unmarshal(body, &ans)
	switch {
	case resp.StatusCode == http.StatusOK && ans.AccessToken != "":
		ttl := time.Duration(ans.ExpiresIn) * time.Second
		if ttl <= 0 {
			ttl = 5 * time.Minute
		}
		return ans.AccessToken, ttl, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return "", 0, &latch.Error{Kind: latch.KindInternal, Code: CodeServerError,
			Message: fmt.Sprintf("Okta's token endpoint answered %s; Latch tries again.", statusText(resp.StatusCode))}
	}
	what := ans.Error
	if ans.ErrorDescription != "" {
		what += ": " + ans.ErrorDescription
	}
	if what == "" {
		what = statusText(resp.StatusCode)
	}
	return "", 0, latch.Permanent(&latch.Error{Kind: latch.KindUnauthorized, Code: CodeUnauthorized,
		Message: fmt.Sprintf("Okta refused an access token to the service app %s (%s). %s", a.clientID, oneLine(what), a.fix()),
		Details: map[string]any{"status": resp.StatusCode}})
}

// assertion is the client assertion: header {alg RS256, kid}, claims iss
// and sub the client id, aud the token URL, iat, exp five minutes later and
// a random jti (Okta refuses a jti it has seen).
func (a *serviceApp) assertion() (string, error) {
	now := a.clock.Now()
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	head := map[string]string{"alg": "RS256", "typ": "JWT"}
	if a.keyID != "" {
		head["kid"] = a.keyID
	}
	claims := map[string]any{"iss": a.clientID, "sub": a.clientID, "aud": a.tokenURL,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": hex.EncodeToString(jti)}
	hb, err := json.Marshal(head)
	if err != nil {
		return "", err
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, a.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// oneLine bounds outside text for a message.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
