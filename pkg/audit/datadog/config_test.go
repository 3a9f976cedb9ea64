package datadog_test

import (
	"context"
	"github.com/latchhq/latch/pkg/audit/audittest"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/latchhq/latch/pkg/audit/datadog"
)

func TestIntakeHost(t *testing.T) {
	tests := []struct {
		give string
		want string
	}{
		{give: "", want: "http-intake.logs.datadoghq.com"},
		{give: "US1", want: "http-intake.logs.datadoghq.com"},
		{give: "datadoghq.com", want: "http-intake.logs.datadoghq.com"},
		{give: "app.datadoghq.com", want: "http-intake.logs.datadoghq.com"},
		{give: "US3", want: "http-intake.logs.us3.datadoghq.com"},
		{give: "us3.datadoghq.com", want: "http-intake.logs.us3.datadoghq.com"},
		{give: "US5", want: "http-intake.logs.us5.datadoghq.com"},
		{give: "us5.datadoghq.com", want: "http-intake.logs.us5.datadoghq.com"},
		{give: "EU1", want: "http-intake.logs.datadoghq.eu"},
		{give: "eu1", want: "http-intake.logs.datadoghq.eu"},
		{give: "datadoghq.eu", want: "http-intake.logs.datadoghq.eu"},
		{give: "app.datadoghq.eu", want: "http-intake.logs.datadoghq.eu"},
		{give: "AP1", want: "http-intake.logs.ap1.datadoghq.com"},
		{give: "ap1.datadoghq.com", want: "http-intake.logs.ap1.datadoghq.com"},
		{give: "AP2", want: "http-intake.logs.ap2.datadoghq.com"},
		{give: "ap2.datadoghq.com", want: "http-intake.logs.ap2.datadoghq.com"},
		{give: "US1-FED", want: "http-intake.logs.ddog-gov.com"},
		{give: "us1-fed", want: "http-intake.logs.ddog-gov.com"},
		{give: "ddog-gov.com", want: "http-intake.logs.ddog-gov.com"},
		{give: "app.ddog-gov.com", want: "http-intake.logs.ddog-gov.com"},
		{give: "US2-FED", want: "http-intake.logs.us2.ddog-gov.com"},
		{give: "us2.ddog-gov.com", want: "http-intake.logs.us2.ddog-gov.com"},
		{give: "uk1.datadoghq.com", want: "http-intake.logs.uk1.datadoghq.com"},
		{give: " Datadoghq.EU ", want: "http-intake.logs.datadoghq.eu"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := datadog.IntakeHost(tt.give)
			if err != nil || got != tt.want {
				t.Errorf("IntakeHost(%q) = %q, %v, want %q", tt.give, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"EU", "us2", "datadoghq.co", "https://app.datadoghq.eu", "http-intake.logs.datadoghq.eu"} {
		if got, err := datadog.IntakeHost(bad); err == nil || !strings.Contains(err.Error(), "EU1 (datadoghq.eu)") {
			t.Errorf("IntakeHost(%q) = %q, %v, want an error listing the sites", bad, got, err)
		}
	}
}

func TestSitesCoverEveryName(t *testing.T) {
	for _, s := range datadog.Sites() {
		for _, v := range append([]string{s.Name, s.Domain}, s.Aliases...) {
			if v == "" {
				continue
			}
			if got, err := datadog.IntakeHost(v); err != nil || got != s.IntakeHost {
				t.Errorf("IntakeHost(%q) = %q, %v, want %q", v, got, err, s.IntakeHost)
			}
		}
	}
}

// recordingTransport answers every request with 202 and records its URL;
// nothing leaves the process.
type recordingTransport struct {
	mu   sync.Mutex
	urls []string
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.urls = append(rt.urls, r.URL.String())
	rt.mu.Unlock()
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusAccepted, Body: io.NopCloser(strings.NewReader("{}")), Header: http.Header{}, Request: r}, nil
}

func TestSendGoesToTheSitesIntake(t *testing.T) {
	tests := []struct {
		site string
		want string
	}{
		{site: "", want: "https://http-intake.logs.datadoghq.com/api/v2/logs"},
		{site: "EU1", want: "https://http-intake.logs.datadoghq.eu/api/v2/logs"},
		{site: "us5.datadoghq.com", want: "https://http-intake.logs.us5.datadoghq.com/api/v2/logs"},
		{site: "US1-FED", want: "https://http-intake.logs.ddog-gov.com/api/v2/logs"},
	}
	for _, tt := range tests {
		t.Run(tt.site, func(t *testing.T) {
			rt := &recordingTransport{}
			s, err := datadog.New(datadog.Config{Site: tt.site, APIKey: apiKey, HTTPClient: &http.Client{Transport: rt}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), audittest.Events(1)); err != nil {
				t.Fatal(err)
			}
			if len(rt.urls) != 1 || rt.urls[0] != tt.want {
				t.Errorf("POSTed to %v, want %s", rt.urls, tt.want)
			}
		})
	}
}

func TestNewKeepsTheCallersClient(t *testing.T) {
	hc := &http.Client{}
	if _, err := datadog.New(datadog.Config{APIKey: apiKey, HTTPClient: hc}); err != nil {
		t.Fatal(err)
	}
	if hc.CheckRedirect != nil {
		t.Error("New changed the redirect policy of the client it was given")
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		give datadog.Config
		want []string // each must appear in the error
	}{
		{name: "no API key", give: datadog.Config{}, want: []string{"APIKey is required"}},
		{name: "API key with a newline", give: datadog.Config{APIKey: apiKey + "\n"}, want: []string{"APIKey holds spaces"}},
		{name: "unknown site", give: datadog.Config{APIKey: apiKey, Site: "mars1"}, want: []string{`Site: unknown Datadog site "mars1"`, "US1 (datadoghq.com)"}},
		{name: "endpoint with a path", give: datadog.Config{APIKey: apiKey, Endpoint: "http://127.0.0.1:1/api/v2/logs"}, want: []string{"Endpoint:", "without a path"}},
		{name: "endpoint not http", give: datadog.Config{APIKey: apiKey, Endpoint: "ftp://example.com"}, want: []string{"Endpoint:", "https://"}},
		{name: "endpoint with credentials", give: datadog.Config{APIKey: apiKey, Endpoint: "https://u:p@example.com"}, want: []string{"Endpoint: must not hold a user name or password"}},
		{name: "tag without a value", give: datadog.Config{APIKey: apiKey, Tags: []string{"env"}}, want: []string{`Tags[0] "env": not in the form "key:value"`}},
		{name: "tag ending with a colon", give: datadog.Config{APIKey: apiKey, Tags: []string{"env:prod:"}}, want: []string{`Tags[0] "env:prod:": ends with a colon`}},
		{name: "tag starting with a digit", give: datadog.Config{APIKey: apiKey, Tags: []string{"1env:prod"}}, want: []string{"must start with a letter"}},
		{name: "tag with a space", give: datadog.Config{APIKey: apiKey, Tags: []string{"env:my prod"}}, want: []string{`holds ' '`}},
		{name: "tag with a comma", give: datadog.Config{APIKey: apiKey, Tags: []string{"env:a,b"}}, want: []string{`holds ','`}},
		{name: "tag in uppercase", give: datadog.Config{APIKey: apiKey, Tags: []string{"Env:Prod"}}, want: []string{`write it as "env:prod"`}},
		{name: "tag too long", give: datadog.Config{APIKey: apiKey, Tags: []string{"env:" + strings.Repeat("x", 197)}}, want: []string{"201 characters; Datadog allows 200"}},
		{name: "service with a control character", give: datadog.Config{APIKey: apiKey, Service: "lat\x00ch"}, want: []string{"Service", "control character"}},
		{name: "negative timeout", give: datadog.Config{APIKey: apiKey, Timeout: -1}, want: []string{"Timeout -1ns is negative"}},
		{name: "every problem at once", give: datadog.Config{Site: "x", Tags: []string{"a", "B:c"}},
			want: []string{"Site:", "APIKey is required", "Tags[0]", "Tags[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := datadog.New(tt.give)
			if err == nil {
				t.Fatalf("New = %v, want an error", s)
			}
			if !strings.HasPrefix(err.Error(), "datadog audit destination: ") {
				t.Errorf("err = %v, want it to name the destination", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err lacks %q: %v", w, err)
				}
			}
			if tt.give.APIKey != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.give.APIKey)) {
				t.Errorf("err shows the API key: %v", err)
			}
		})
	}
}

func TestNewAcceptsValidTags(t *testing.T) {
	for _, tag := range []string{"env:prod", "team:sec-ops", "region:eu-west-1", "path:/a/b.c", "env:staging:east", "équipe:sécurité"} {
		if _, err := datadog.New(datadog.Config{APIKey: apiKey, Tags: []string{tag}}); err != nil {
			t.Errorf("New with tag %q: %v", tag, err)
		}
	}
}
