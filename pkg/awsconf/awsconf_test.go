package awsconf_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/awsconf"
	"github.com/latchhq/latch/pkg/latch"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		give    map[string]any
		want    awsconf.Settings
		wantErr string
	}{
		{name: "nothing set uses the default chain", give: map[string]any{"group": "x"}},
		{name: "all set", give: map[string]any{"region": "eu-west-1", "role_arn": "arn:aws:iam::123456789012:role/latch-target", "external_id": "latch-prod"},
			want: awsconf.Settings{Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/latch-target", ExternalID: "latch-prod"}},
		{name: "GovCloud role", give: map[string]any{"role_arn": "arn:aws-us-gov:iam::123456789012:role/path/latch"},
			want: awsconf.Settings{RoleARN: "arn:aws-us-gov:iam::123456789012:role/path/latch"}},
		{name: "not a role ARN", give: map[string]any{"role_arn": "arn:aws:iam::123456789012:user/bob"}, wantErr: "role_arn"},
		{name: "not a string", give: map[string]any{"region": 5}, wantErr: "region must be a string"},
		{name: "not a region", give: map[string]any{"region": "Europe"}, wantErr: "region"},
		{name: "external id without a role", give: map[string]any{"external_id": "abc123"}, wantErr: "external_id needs role_arn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := awsconf.Parse(tt.give)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse() (-want +got):\n%s", diff)
			}
		})
	}
}

func apiError(code string, fault smithy.ErrorFault, status int) error {
	return &smithy.OperationError{ServiceID: "IAM", OperationName: "AddUserToGroup", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err: &smithy.GenericAPIError{Code: code, Message: "m", Fault: fault}},
	}}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name          string
		give          error
		wantPermanent bool
	}{
		{name: "throttled", give: apiError("Throttling", smithy.FaultClient, 400)},
		{name: "too many requests", give: apiError("TooManyRequestsException", smithy.FaultClient, 429)},
		{name: "conflict", give: apiError("ConflictException", smithy.FaultClient, 409)},
		{name: "server error", give: apiError("ServiceFailure", smithy.FaultServer, 500)},
		{name: "unavailable", give: apiError("ServiceUnavailable", smithy.FaultUnknown, 503)},
		{name: "timeout", give: fmt.Errorf("grant: %w", context.DeadlineExceeded)},
		{name: "transport", give: errors.New("dial tcp: connection refused")},
		{name: "no such entity", give: apiError("NoSuchEntity", smithy.FaultClient, 404), wantPermanent: true},
		{name: "access denied", give: apiError("AccessDenied", smithy.FaultClient, 403), wantPermanent: true},
		{name: "validation", give: apiError("ValidationException", smithy.FaultClient, 400), wantPermanent: true},
		{name: "already permanent", give: latch.Permanent(errors.New("no")), wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := awsconf.Classify(tt.give)
			if !errors.Is(got, tt.give) && got != tt.give {
				t.Fatalf("Classify() = %v, lost the cause %v", got, tt.give)
			}
			if latch.IsPermanent(got) != tt.wantPermanent {
				t.Errorf("IsPermanent(Classify(%v)) = %v, want %v", tt.give, latch.IsPermanent(got), tt.wantPermanent)
			}
		})
	}
	if awsconf.Classify(nil) != nil {
		t.Error("Classify(nil) is not nil")
	}
}

// TestLoadAssumesTheRole points STS at a fake through the SDK's own
// AWS_ENDPOINT_URL_STS and checks the AssumeRole call and that its
// credentials are the ones the configuration signs with.
func TestLoadAssumesTheRole(t *testing.T) {
	var mu sync.Mutex
	var calls []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		calls = append(calls, r.PostForm)
		mu.Unlock()
		if !strings.Contains(r.Header.Get("Authorization"), "Credential=AKIDBASE/") {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>r1</RequestId></ErrorResponse>`)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAASSUMED</AccessKeyId>
      <SecretAccessKey>assumed-secret</SecretAccessKey>
      <SessionToken>assumed-token</SessionToken>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/latch-target/latch</Arn>
      <AssumedRoleId>AROAEXAMPLE:latch</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata>
</AssumeRoleResponse>`)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDBASE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "base-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)

	s, err := awsconf.Parse(map[string]any{"role_arn": "arn:aws:iam::123456789012:role/latch-target", "external_id": "latch-prod", "region": "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" {
		t.Errorf("region = %q, want eu-west-1", cfg.Region)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "ASIAASSUMED" || creds.SessionToken != "assumed-token" {
		t.Errorf("credentials = %s/%s, want the assumed role's", creds.AccessKeyID, creds.SessionToken)
	}
	if _, err := cfg.Credentials.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 {
		t.Fatalf("STS called %d times, want once (credentials are cached)", len(calls))
	}
	want := map[string]string{"Action": "AssumeRole", "RoleArn": "arn:aws:iam::123456789012:role/latch-target",
		"ExternalId": "latch-prod", "RoleSessionName": awsconf.SessionName}
	for k, v := range want {
		if got := calls[0].Get(k); got != v {
			t.Errorf("AssumeRole %s = %q, want %q", k, got, v)
		}
	}
}
