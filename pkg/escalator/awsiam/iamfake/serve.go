package iamfake

import (
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// Serve starts f on 127.0.0.1 until the test ends, and points the AWS SDK
// of this process at it through its own settings: AWS_ENDPOINT_URL_IAM and
// AWS_ENDPOINT_URL_STS, fake static credentials (access key AKIDBASE), a
// region, and empty shared config files. It returns the fake's URL. Tests
// that call it cannot run in parallel (it sets the environment).
func Serve(tb testing.TB, f *IAM) string {
	tb.Helper()
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	dir := tb.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_IAM":        srv.URL,
		"AWS_ENDPOINT_URL_STS":        srv.URL,
		"AWS_ACCESS_KEY_ID":           "AKIDBASE",
		"AWS_SECRET_ACCESS_KEY":       "base-secret",
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  "us-east-1",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		tb.Setenv(k, v)
	}
	return srv.URL
}
