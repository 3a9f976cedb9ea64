package datadog

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Config configures a Sink. Only APIKey is required.
type Config struct {
	// Site is the Datadog site of the account: its name (US1, US3, US5,
	// EU1, AP1, AP2, US1-FED, US2-FED; any case) or its domain
	// (datadoghq.com, us3.datadoghq.com, datadoghq.eu, ...; the app.
	// address shown in the browser works too). Empty means US1. See Sites.
	Site string
	// Endpoint, when set, replaces the site's intake: a base URL
	// ("https://host[:port]", no path, query or credentials) to which
	// /api/v2/logs is appended. It is for tests and proxies.
	Endpoint string
	// APIKey is a Datadog API key, sent in the DD-API-KEY header. Read it
	// from a secret; it never appears in an error.
	APIKey string
	// Service is every log's service. Empty means "latch".
	Service string
	// Source is every log's ddsource. Empty means "latch".
	Source string
	// Tags are added to every log (its ddtags), each "key:value" as
	// Datadog defines tags: a lowercase letter first, then lowercase
	// letters, digits and _ - : . /, at most 200 characters, not ending
	// with a colon. Example: "env:prod".
	Tags []string
	// Hostname is every log's hostname; empty leaves it out.
	Hostname string
	// Timeout bounds each HTTP call. Zero means 10 seconds; at most 5
	// minutes.
	Timeout time.Duration
	// HTTPClient makes the calls; nil means outbound.SharedClient(). Its redirect
	// policy is replaced so that redirects are never followed: a redirect
	// would carry the API key to another address.
	HTTPClient *http.Client
}

const (
	defaultService = "latch"
	defaultSource  = "latch"
	defaultTimeout = 10 * time.Second
	maxTimeout     = 5 * time.Minute
	maxTagLen      = 200
	maxNameLen     = 100 // service, source, hostname
)

// Site is one Datadog site and the host its logs intake answers on.
type Site struct {
	Name       string   // the site's name in Datadog's documentation, e.g. "EU1"; empty when Datadog gives none
	Domain     string   // the site parameter, e.g. "datadoghq.eu"
	Aliases    []string // other spellings accepted, e.g. the app. address
	IntakeHost string   // the logs intake host, e.g. "http-intake.logs.datadoghq.eu"
}

// sites are Datadog's sites and their logs intake hosts, as Datadog's
// "Getting Started with Datadog Sites" and "Send logs" (API v2) pages list
// them.
var sites = []Site{
	{Name: "US1", Domain: "datadoghq.com", Aliases: []string{"app.datadoghq.com"}, IntakeHost: "http-intake.logs.datadoghq.com"},
	{Name: "US3", Domain: "us3.datadoghq.com", IntakeHost: "http-intake.logs.us3.datadoghq.com"},
	{Name: "US5", Domain: "us5.datadoghq.com", IntakeHost: "http-intake.logs.us5.datadoghq.com"},
	{Name: "EU1", Domain: "datadoghq.eu", Aliases: []string{"app.datadoghq.eu"}, IntakeHost: "http-intake.logs.datadoghq.eu"},
	{Name: "AP1", Domain: "ap1.datadoghq.com", IntakeHost: "http-intake.logs.ap1.datadoghq.com"},
	{Name: "AP2", Domain: "ap2.datadoghq.com", IntakeHost: "http-intake.logs.ap2.datadoghq.com"},
	{Name: "US1-FED", Domain: "ddog-gov.com", Aliases: []string{"app.ddog-gov.com"}, IntakeHost: "http-intake.logs.ddog-gov.com"},
	{Name: "US2-FED", Domain: "us2.ddog-gov.com", IntakeHost: "http-intake.logs.us2.ddog-gov.com"},
	// The Send logs page lists this intake; the sites page gives the site no name.
	{Domain: "uk1.datadoghq.com", IntakeHost: "http-intake.logs.uk1.datadoghq.com"},
}

// Sites returns the Datadog sites Config.Site accepts.
func Sites() []Site {
	out := make([]Site, len(sites))
	for i, s := range sites {
		s.Aliases = append([]string(nil), s.Aliases...)
		out[i] = s
	}
	return out
}

// IntakeHost returns the logs intake host of site, given by name or domain
// as Config.Site is ("" means US1). It fails, listing the accepted values,
// for a site it does not know.
func IntakeHost(site string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(site))
	if s == "" {
		return sites[0].IntakeHost, nil
	}
	for _, st := range sites {
		if s == strings.ToLower(st.Name) || s == st.Domain {
			return st.IntakeHost, nil
		}
		for _, a := range st.Aliases {
			if s == a {
				return st.IntakeHost, nil
			}
		}
	}
	var names []string
	for _, st := range sites {
		if st.Name != "" {
			names = append(names, st.Name+" ("+st.Domain+")")
		} else {
			names = append(names, st.Domain)
		}
	}
	return "", fmt.Errorf("unknown Datadog site %q; use one of %s", site, strings.Join(names, ", "))
}

// settings is a validated Config.
type settings struct {
	url      string // where logs are POSTed
	host     string // its host, for messages
	apiKey   string
	service  string
	source   string
	tags     string // ddtags
	hostname string
	timeout  time.Duration
}

// check validates c and fills in defaults. It returns every problem found,
// each naming its setting.
func check(c Config) (settings, []string) {
	var problems []string
	s := settings{
		apiKey:   c.APIKey,
		service:  strings.TrimSpace(c.Service),
		source:   strings.TrimSpace(c.Source),
		hostname: strings.TrimSpace(c.Hostname),
		timeout:  c.Timeout,
	}

	host, err := IntakeHost(c.Site)
	if err != nil {
		problems = append(problems, "Site: "+err.Error())
	}
	base := "https://" + host
	if c.Endpoint != "" {
		b, h, err := checkEndpoint(c.Endpoint)
		if err != nil {
			problems = append(problems, "Endpoint: "+err.Error())
		}
		base, host = b, h
	}
	s.url, s.host = base+"/api/v2/logs", host

	switch {
	case c.APIKey == "":
		problems = append(problems, "APIKey is required: a Datadog API key (Organization Settings > API Keys)")
	case strings.TrimSpace(c.APIKey) != c.APIKey || strings.IndexFunc(c.APIKey, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0:
		problems = append(problems, "APIKey holds spaces or characters that are not printable ASCII; check how it is read from the secret")
	}

	if s.service == "" {
		s.service = defaultService
	}
	if s.source == "" {
		s.source = defaultSource
	}
	for _, f := range []struct{ name, v string }{{"Service", s.service}, {"Source", s.source}, {"Hostname", s.hostname}} {
		if err := checkName(f.v); err != nil {
			problems = append(problems, fmt.Sprintf("%s %q: %v", f.name, f.v, err))
		}
	}

	seen := map[string]bool{}
	var tags []string
	for i, t := range c.Tags {
		if err := checkTag(t); err != nil {
			problems = append(problems, fmt.Sprintf("Tags[%d] %q: %v", i, t, err))
			continue
		}
		if !seen[t] {
			seen[t] = true
			tags = append(tags, t)
		}
	}
	s.tags = strings.Join(tags, ",")

	switch {
	case c.Timeout < 0:
		problems = append(problems, fmt.Sprintf("Timeout %s is negative", c.Timeout))
	case c.Timeout == 0:
		s.timeout = defaultTimeout
	case c.Timeout > maxTimeout:
		problems = append(problems, fmt.Sprintf("Timeout %s is longer than %s", c.Timeout, maxTimeout))
	}
	return s, problems
}

// checkEndpoint validates an Endpoint and returns it without a trailing
// slash, and its host.
func checkEndpoint(raw string) (base, host string, err error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", "", fmt.Errorf("%q is not a URL", raw)
	case u.Scheme != "https" && u.Scheme != "http":
		return "", "", fmt.Errorf("%q must start with https:// (or http://)", raw)
	case u.Host == "":
		return "", "", fmt.Errorf("%q has no host", raw)
	case u.User != nil:
		return "", "", fmt.Errorf("must not hold a user name or password")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return "", "", fmt.Errorf("%q must be a base URL without a path, query or fragment (/api/v2/logs is added)", raw)
	}
	return u.Scheme + "://" + u.Host, u.Host, nil
}

// checkName validates a service, source or hostname.
func checkName(v string) error {
	switch {
	case len(v) > maxNameLen:
		return fmt.Errorf("longer than %d bytes", maxNameLen)
	case !utf8.ValidString(v):
		return fmt.Errorf("not valid UTF-8")
	case strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) || r == ',' }):
		return fmt.Errorf("holds a control character or a comma")
	}
	return nil
}

// checkTag validates a tag by Datadog's rules (Getting Started with Tags),
// and requires the key:value form.
func checkTag(t string) error {
	if t == "" {
		return fmt.Errorf("empty")
	}
	if !utf8.ValidString(t) {
		return fmt.Errorf("not valid UTF-8")
	}
	if n := utf8.RuneCountInString(t); n > maxTagLen {
		return fmt.Errorf("%d characters; Datadog allows %d", n, maxTagLen)
	}
	key, value, ok := strings.Cut(t, ":")
	if !ok || key == "" || value == "" {
		return fmt.Errorf(`not in the form "key:value"`)
	}
	if strings.HasSuffix(t, ":") {
		return fmt.Errorf("ends with a colon")
	}
	first, _ := utf8.DecodeRuneInString(t)
	if !unicode.IsLetter(first) {
		return fmt.Errorf("must start with a letter")
	}
	for _, r := range t {
		switch {
		case unicode.IsUpper(r):
			return fmt.Errorf("holds an uppercase letter; Datadog lowercases tags, so write it as %q", strings.ToLower(t))
		case unicode.IsLetter(r), unicode.IsDigit(r), strings.ContainsRune("_-:./", r):
		default:
			return fmt.Errorf("holds %q; tags may hold only letters, digits and _ - : . /", r)
		}
	}
	return nil
}
