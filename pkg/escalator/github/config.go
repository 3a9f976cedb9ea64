package github

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/latchhq/latch/pkg/escalator/settings"
	"github.com/latchhq/latch/pkg/latch"
)

// Type is the strategy type this package implements, as written in a flow's
// strategy block.
const Type = "github"

// The keys of the strategy's config block.
const (
	keyOrg            = "org"
	keyTokenEnv       = "token_env"
	keyAppID          = "app_id"
	keyPrivateKeyEnv  = "private_key_env"
	keyInstallationID = "installation_id"
	keyAPIURL         = "api_url"
)

// The keys of a target's settings.
const (
	KeyRepo       = "repo"
	KeyPermission = "permission"
	KeyTeam       = "team"
)

var knownKeys = []string{keyAPIURL, keyAppID, keyInstallationID, keyOrg, keyPrivateKeyEnv, keyTokenEnv}

// Permissions are the repository permissions a target may grant, weakest
// first: GitHub's names for its base repository roles (read, triage, write,
// maintain, admin) in the REST API.
var Permissions = []string{"pull", "triage", "push", "maintain", "admin"}

// permissionAliases are the role names GitHub shows in its web interface and
// in invitations, and the name a target uses for each.
var permissionAliases = map[string]string{"read": "pull", "write": "push"}

// Shapes, from GitHub's rules for organisation logins, repository names and
// team slugs.
var (
	orgLogin = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`) })
	repoName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`) })
	teamSlug = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,254}$`) })
	envName  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })
	appID    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`) })
)

// config is a checked strategy config block.
type config struct {
	org            string
	tokenEnv       string
	appID          string // the App's id or client id (the JWT's issuer)
	privateKeyEnv  string
	installationID int64
	apiURL         string // "" for github.com
}

func (c config) app() bool { return c.appID != "" }

// target is a checked target: a repository and a permission, or a team.
type target struct {
	Repo       string
	Permission string
	Team       string
}

func (t target) String() string {
	if t.Team != "" {
		return "team " + t.Team
	}
	return fmt.Sprintf("repository %s (%s)", t.Repo, t.Permission)
}

// ValidateConfig checks a github strategy's config block and targets, and
// returns nil or every problem, one error each joined with errors.Join, in
// words a person can act on (the flow loader adds the file, line and
// strategy). It reads no environment variable and calls no API: New checks
// that the secrets are set, Escalator.Validate that the targets exist.
//
// The config: org (required; the organisation's login); either token_env
// (the name of the environment variable holding a fine-grained personal
// access token or an installation token) or the GitHub App credentials
// app_id, private_key_env and installation_id; and api_url (optional; a
// GitHub Enterprise Server such as https://github.example.com/api/v3/).
// Every target has settings repo and permission (one of Permissions), or
// team (a team slug).
func ValidateConfig(cfg map[string]any, targets []latch.Target) error {
	_, problems := parseConfig(cfg)
	for _, t := range targets { // the flow loader checks their ids
		if _, err := parseTarget(t); err != nil {
			problems = append(problems, err.Error())
		}
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = errors.New(p)
	}
	return errors.Join(errs...)
}

func parseConfig(m map[string]any) (config, []string) {
	var c config
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, err := range settings.UnknownKeys(m, knownKeys) {
		problems = append(problems, err.Error())
	}
	text := func(key string) (string, bool) {
		s, ok, err := settings.Text(m, key)
		if err != nil {
			bad("%s", err)
		}
		return s, ok
	}
	if s, ok := text(keyOrg); !ok {
		bad("org is required: the login of the GitHub organisation that owns the repositories and teams")
	} else if !orgLogin().MatchString(s) {
		bad("org %q is not a GitHub organisation login (letters, digits and -, at most 39; the login, not a URL)", s)
	} else {
		c.org = s
	}
	env := func(key, holds string) string {
		s, ok := text(key)
		if !ok {
			return ""
		}
		if !envName().MatchString(s) {
			// Never echo the value: it may be the secret itself, pasted by mistake.
			bad("%s must be the NAME of an environment variable (letters, digits and _, not starting with a digit) that holds %s, not the secret itself", key, holds)
			return ""
		}
		return s
	}
	c.tokenEnv = env(keyTokenEnv, "the token")
	c.privateKeyEnv = env(keyPrivateKeyEnv, "the GitHub App's private key (PEM)")
	if v, ok := m[keyAppID]; ok && v != nil {
		if s, ok := idText(v); ok && appID().MatchString(s) {
			c.appID = s
		} else {
			bad("app_id must be the GitHub App's id (a number such as 123456) or its client id (such as Iv23liAbCdEf)")
		}
	}
	if v, ok := m[keyInstallationID]; ok && v != nil {
		s, _ := idText(v)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			bad("installation_id must be the number of the App's installation on the organisation (in the installation's settings URL)")
		} else {
			c.installationID = n
		}
	}
	hasToken := m[keyTokenEnv] != nil
	hasApp := m[keyAppID] != nil || m[keyPrivateKeyEnv] != nil || m[keyInstallationID] != nil
	switch {
	case hasToken && hasApp:
		bad("set either token_env, or app_id, private_key_env and installation_id (a GitHub App), not both")
	case !hasToken && !hasApp:
		bad("token_env is required: the name of the environment variable holding a GitHub token (or set app_id, private_key_env and installation_id to act as a GitHub App)")
	case hasApp:
		for _, k := range []string{keyAppID, keyPrivateKeyEnv, keyInstallationID} {
			if m[k] == nil {
				bad("%s is required with a GitHub App (app_id, private_key_env and installation_id)", k)
			}
		}
	}
	if s, ok := text(keyAPIURL); ok {
		u, err := url.Parse(s)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			bad("api_url %q is not an http(s) URL such as https://github.example.com/api/v3/", s)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			bad("api_url must be a plain address, without user, query or fragment")
		default:
			c.apiURL = s
		}
	}
	return c, problems
}

// idText reads a number written as a YAML integer or as text.
func idText(v any) (string, bool) {
	switch n := v.(type) {
	case string:
		return strings.TrimSpace(n), true
	case int:
		return strconv.Itoa(n), true
	case int64:
		return strconv.FormatInt(n, 10), true
	case uint64:
		return strconv.FormatUint(n, 10), true
	case float64:
		if n == float64(int64(n)) {
			return strconv.FormatInt(int64(n), 10), true
		}
	}
	return "", false
}

// parseTarget reads a target's settings.
func parseTarget(t latch.Target) (target, error) {
	var out target
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("target %q: "+format, append([]any{t.ID}, args...)...))
	}
	get := func(key string) string {
		v, ok := t.Settings[key]
		if !ok || v == nil {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			bad("settings.%s must be text", key)
			return ""
		}
		return strings.TrimSpace(s)
	}
	var unknown []string
	for k := range t.Settings {
		if k != KeyRepo && k != KeyPermission && k != KeyTeam {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		bad("unknown setting %q (the settings are repo and permission, or team)", k)
	}
	out.Repo, out.Permission, out.Team = get(KeyRepo), get(KeyPermission), get(KeyTeam)
	switch {
	case out.Team != "" && (out.Repo != "" || out.Permission != ""):
		bad("set either team, or repo and permission, not both")
	case out.Team != "":
		if !teamSlug().MatchString(out.Team) {
			hint := ""
			if s := slug(out.Team); teamSlug().MatchString(s) {
				hint = fmt.Sprintf("; did you mean %q?", s)
			}
			bad("settings.team %q is not a team slug (the lower-case name in the team's URL, such as platform-oncall)%s", out.Team, hint)
		}
	case out.Repo == "" && out.Permission == "" && len(errs) == 0:
		bad("needs settings repo and permission (a repository collaborator), or team (a team membership)")
	default:
		switch {
		case out.Repo == "":
			bad("settings.repo is required with a permission: the repository's name in the organisation")
		case strings.Contains(out.Repo, "/"):
			bad("settings.repo %q must be the repository's name alone (the organisation is the strategy's org)", out.Repo)
		case !repoName().MatchString(out.Repo) || out.Repo == "." || out.Repo == "..":
			bad("settings.repo %q is not a repository name (letters, digits, ., _ and -)", out.Repo)
		}
		if p, ok := permissionAliases[out.Permission]; ok {
			bad("settings.permission %q: the REST API calls it %q; write %s", out.Permission, p, p)
		} else if !slices.Contains(Permissions, out.Permission) {
			bad("settings.permission %q is not one of %s", out.Permission, strings.Join(Permissions, ", "))
		}
	}
	if len(errs) > 0 {
		return target{}, errors.Join(errs...)
	}
	return out, nil
}

// slug is GitHub's slug of a team name, near enough for a hint.
func slug(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(name)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// rank orders permissions: 0 for none, 1 (pull, read) to 5 (admin). Unknown
// names (custom repository roles) rank 0.
func rank(permission string) int {
	if p, ok := permissionAliases[permission]; ok {
		permission = p
	}
	return slices.Index(Permissions, permission) + 1
}
