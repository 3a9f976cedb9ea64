package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// scrape reads GET /metrics (no token) and returns each sample line's value
// by its name and labels as printed, e.g. `latch_grants_active{flow="x"}`.
func scrape(t *testing.T, srv *server) map[string]float64 {
	t.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// The metrics move as a grant is made and taken away: requests by outcome,
// grants active, escalation and revoke latency, API calls by route.
func TestMetricsDuringAGrant(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())
	c := srv.client()
	ctx := context.Background()

	before := scrape(t, srv)
	if before[`latch_grants_active{flow="prod-access"}`] != 0 || before["latch_revokes_overdue"] != 0 {
		t.Errorf("before any request: %v", before)
	}
	r, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com",
		Fields: map[string]any{"reason": "metrics", "duration": "1h"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, r.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	tg.next(10 * time.Second)
	waitStatus(t, c, r.ID, latch.StatusActive, 10*time.Second)

	during := scrape(t, srv)
	for name, want := range map[string]float64{
		`latch_grants_active{flow="prod-access"}`:                          1,
		`latch_requests_total{flow="prod-access",outcome="requested"}`:     1,
		`latch_requests_total{flow="prod-access",outcome="approved"}`:      1,
		`latch_requests_total{flow="prod-access",outcome="escalated"}`:     1,
		`latch_escalation_latency_seconds_count{flow="prod-access"}`:       1,
		`latch_api_requests_total{route="POST /v1/requests",status="202"}`: 1,
		"latch_revokes_overdue": 0,
	} {
		if got := during[name]; got != want {
			t.Errorf("while active: %s = %v, want %v", name, got, want)
		}
	}
	if during[`latch_api_requests_total{route="GET /v1/requests/{id}",status="200"}`] < 1 {
		t.Errorf("GET /v1/requests/{id} calls are not counted by route pattern")
	}

	if _, err := c.Act(ctx, r.ID, "revoke", httpapi.ActionBody{As: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	tg.next(10 * time.Second)
	waitStatus(t, c, r.ID, latch.StatusEnded, 10*time.Second)

	after := scrape(t, srv)
	for name, want := range map[string]float64{
		`latch_grants_active{flow="prod-access"}`:                        0,
		`latch_requests_total{flow="prod-access",outcome="released"}`:    1,
		`latch_requests_total{flow="prod-access",outcome="deescalated"}`: 1,
		`latch_revoke_latency_seconds_count{flow="prod-access"}`:         1,
		`latch_revoke_lateness_seconds_count{flow="prod-access"}`:        1,
		// Revoked early: the access did not outlive its end.
		`latch_revoke_lateness_seconds_bucket{flow="prod-access",le="0.05"}`: 1,
	} {
		if got := after[name]; got != want {
			t.Errorf("after the revoke: %s = %v, want %v", name, got, want)
		}
	}
	if after["latch_revoke_latency_seconds_sum{flow=\"prod-access\"}"] <= 0 {
		t.Errorf("revoke latency sum = %v, want the time the revoke took", after[`latch_revoke_latency_seconds_sum{flow="prod-access"}`])
	}
}

// /readyz commits to the store of a running server; a wrong method is 405
// with Allow; a 401 says Bearer. (The suite checks each answer against the
// OpenAPI document too.)
func TestServerHTTPConventions(t *testing.T) {
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir())
	// Ready once the server has caught up at start (503 not_ready until then).
	var resp *http.Response
	waitFor(t, func() bool {
		r, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK && r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("/readyz = %d, want 200 or, while starting, 503", r.StatusCode)
		}
		resp = r
		return r.StatusCode == http.StatusOK
	}, "/readyz to say ready")
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("/readyz = %d without X-Request-Id, want an id", resp.StatusCode)
	}
	for _, tt := range []struct{ method, path, allow string }{
		{http.MethodDelete, "/v1/requests", "GET, HEAD, POST"},
		{http.MethodPost, "/v1/flows", "GET, HEAD"},
		{http.MethodGet, "/v1/requests/req_x/approve", "POST"},
	} {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tt.allow {
			t.Errorf("%s %s = %d, Allow %q; want 405, %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Allow"), tt.allow)
		}
	}
	resp, err := http.Get(srv.URL + "/v1/requests")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="latch"` {
		t.Errorf("no token: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if !srv.logged(`msg="api call" method=GET route="GET /v1/requests" status=401`) {
		t.Errorf("no access log line for the refused call:\n%s", srv.logs.String())
	}
	if strings.Contains(srv.logs.String(), adminToken) {
		t.Errorf("the server log holds the admin token")
	}
}

// --tls-cert and --tls-key serve HTTPS.
func TestServerTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir(),
		"--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Fatalf("server URL %q, want https://", srv.URL)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	resp, err := hc.Get(srv.URL + "/v1/info")
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || info["api_version"] != "v1" {
		t.Errorf("GET /v1/info over TLS = %d, %v", resp.StatusCode, info)
	}
	// The CLI speaks to it with the system's trust store: the self-signed
	// certificate is refused, with the error saying so.
	_, stderr, code := cli(t, srv, "list")
	if code == 0 || !strings.Contains(stderr, "certificate") {
		t.Errorf("latch list against a self-signed server: exit %d, %q; want a certificate error", code, stderr)
	}
	// Plain HTTP to the TLS port is refused by the server.
	direct := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second} // not recorded: no API call
	plain, err := direct.Get("http://" + strings.TrimPrefix(srv.URL, "https://") + "/healthz")
	if err == nil {
		io.Copy(io.Discard, plain.Body)
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP to the TLS port answered 200")
		}
	}

	// Only one of the two is a usage error.
	out, _, code := cliEnv(t, nil, "server", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--flows", srv.flowDir, "--tls-cert", certFile)
	if code != 2 {
		t.Errorf("server --tls-cert without --tls-key: exit %d, %q; want 2", code, out)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their files and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "latch test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
