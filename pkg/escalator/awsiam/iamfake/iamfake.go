// Package iamfake is a fake AWS IAM (and STS AssumeRole) for tests: an
// http.Handler speaking IAM's query protocol (form POSTs with Action and
// Version=2010-05-08, XML answers and XML errors) for the calls the aws_iam
// strategy makes: AddUserToGroup, RemoveUserFromGroup, ListGroupsForUser
// (paged with Marker and IsTruncated) and GetGroup, and STS's AssumeRole.
// Point the SDK at it with AWS_ENDPOINT_URL_IAM (and AWS_ENDPOINT_URL_STS).
//
// RemoveUserFromGroup of a membership that is not there answers
// NoSuchEntity (IAM has also been seen to answer success; the aws_iam
// escalator takes both as removed).
//
// Faults are set per action: Throttle answers Throttling (HTTP 400) a number
// of times; KeepOnce makes the next RemoveUserFromGroup of a membership
// answer success while the membership stays.
package iamfake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Account is the account id in the ARNs the fake answers with.
const Account = "123456789012"

const (
	iamNS = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// Call is one request the fake received.
type Call struct {
	Action string
	Params url.Values
	// AccessKey is the access key id the request was signed with.
	AccessKey string
}

// IAM is the fake. Its zero value is not usable: call New.
type IAM struct {
	// PageSize is how many groups one ListGroupsForUser page holds at most
	// (a smaller MaxItems in the request wins); 0 means 100.
	PageSize int

	mu       sync.Mutex
	users    map[string]bool
	groups   map[string]bool
	members  map[string]map[string]bool // group → users
	throttle map[string]int
	keepOnce map[string]bool // "group/user"
	calls    []Call
}

// New returns a fake holding the given IAM users and groups (no memberships).
func New(users, groups []string) *IAM {
	f := &IAM{users: map[string]bool{}, groups: map[string]bool{}, members: map[string]map[string]bool{},
		throttle: map[string]int{}, keepOnce: map[string]bool{}}
	for _, u := range users {
		f.users[u] = true
	}
	for _, g := range groups {
		f.groups[g] = true
		f.members[g] = map[string]bool{}
	}
	return f
}

// Throttle makes the next n calls of action answer Throttling.
func (f *IAM) Throttle(action string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttle[action] = n
}

// KeepOnce makes the next RemoveUserFromGroup of user from group answer
// success and leave the membership in place.
func (f *IAM) KeepOnce(group, user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keepOnce[group+"/"+user] = true
}

// SetMember adds (or, with in false, removes) a membership by hand, as a
// person in the console would.
func (f *IAM) SetMember(group, user string, in bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in {
		f.members[group][user] = true
	} else {
		delete(f.members[group], user)
	}
}

// IsMember reports whether user is in group.
func (f *IAM) IsMember(group, user string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.members[group][user]
}

// AddGroups adds groups to a user's account, as memberships of other groups
// (to make ListGroupsForUser answer several pages).
func (f *IAM) AddGroups(user string, groups ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range groups {
		f.groups[g] = true
		if f.members[g] == nil {
			f.members[g] = map[string]bool{}
		}
		f.members[g][user] = true
	}
}

// Calls returns the requests received so far, in order.
func (f *IAM) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallsOf returns the requests of one action.
func (f *IAM) CallsOf(action string) []Call {
	var out []Call
	for _, c := range f.Calls() {
		if c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// ServeHTTP answers one query-protocol request.
func (f *IAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		writeErr(w, iamNS, http.StatusBadRequest, "Sender", "MalformedQueryString", "expected a form POST")
		return
	}
	p := r.PostForm
	action := p.Get("Action")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, Call{Action: action, Params: p, AccessKey: accessKey(r.Header.Get("Authorization"))})

	if action == "AssumeRole" {
		if p.Get("Version") != "2011-06-15" {
			writeErr(w, stsNS, http.StatusBadRequest, "Sender", "InvalidParameterValue", "bad Version")
			return
		}
		writeXML(w, "AssumeRoleResponse", stsNS, fmt.Sprintf(`<AssumeRoleResult><Credentials><AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey><SessionToken>assumed-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::%s:assumed-role/latch-target/%s</Arn><AssumedRoleId>AROAEXAMPLE:%s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult>`,
			Account, esc(p.Get("RoleSessionName")), esc(p.Get("RoleSessionName"))))
		return
	}
	if p.Get("Version") != "2010-05-08" {
		writeErr(w, iamNS, http.StatusBadRequest, "Sender", "InvalidAction", "unknown Version "+p.Get("Version"))
		return
	}
	if f.throttle[action] > 0 {
		f.throttle[action]--
		writeErr(w, iamNS, http.StatusBadRequest, "Sender", "Throttling", "Rate exceeded")
		return
	}
	user, group := p.Get("UserName"), p.Get("GroupName")
	noUser := func() bool {
		if !f.users[user] {
			writeErr(w, iamNS, http.StatusNotFound, "Sender", "NoSuchEntity", fmt.Sprintf("The user with name %s cannot be found.", user))
			return true
		}
		return false
	}
	noGroup := func() bool {
		if !f.groups[group] {
			writeErr(w, iamNS, http.StatusNotFound, "Sender", "NoSuchEntity", fmt.Sprintf("The group with name %s cannot be found.", group))
			return true
		}
		return false
	}
	switch action {
	case "AddUserToGroup":
		if noGroup() || noUser() {
			return
		}
		f.members[group][user] = true
		writeXML(w, action+"Response", iamNS, "")
	case "RemoveUserFromGroup":
		if noGroup() || noUser() {
			return
		}
		if !f.members[group][user] {
			writeErr(w, iamNS, http.StatusNotFound, "Sender", "NoSuchEntity",
				fmt.Sprintf("The user with name %s cannot be found in group %s.", user, group))
			return
		}
		if f.keepOnce[group+"/"+user] {
			delete(f.keepOnce, group+"/"+user)
		} else {
			delete(f.members[group], user)
		}
		writeXML(w, action+"Response", iamNS, "")
	case "ListGroupsForUser":
		if noUser() {
			return
		}
		var names []string
		for g, m := range f.members {
			if m[user] {
				names = append(names, g)
			}
		}
		slices.Sort(names)
		size := f.PageSize
		if size <= 0 {
			size = 100
		}
		if n, err := strconv.Atoi(p.Get("MaxItems")); err == nil && n > 0 && n < size {
			size = n
		}
		start := 0
		if m := p.Get("Marker"); m != "" {
			n, err := strconv.Atoi(m)
			if err != nil || n < 0 || n > len(names) {
				writeErr(w, iamNS, http.StatusBadRequest, "Sender", "InvalidInput", "bad Marker")
				return
			}
			start = n
		}
		end := min(start+size, len(names))
		var b strings.Builder
		b.WriteString("<ListGroupsForUserResult><Groups>")
		for _, g := range names[start:end] {
			b.WriteString("<member>" + groupXML(g) + "</member>")
		}
		b.WriteString("</Groups>")
		if end < len(names) {
			fmt.Fprintf(&b, "<IsTruncated>true</IsTruncated><Marker>%d</Marker>", end)
		} else {
			b.WriteString("<IsTruncated>false</IsTruncated>")
		}
		b.WriteString("</ListGroupsForUserResult>")
		writeXML(w, action+"Response", iamNS, b.String())
	case "GetGroup":
		if noGroup() {
			return
		}
		writeXML(w, action+"Response", iamNS, "<GetGroupResult><Group>"+groupXML(group)+"</Group><Users></Users><IsTruncated>false</IsTruncated></GetGroupResult>")
	default:
		writeErr(w, iamNS, http.StatusBadRequest, "Sender", "InvalidAction", "the fake does not serve "+action)
	}
}

func groupXML(g string) string {
	return fmt.Sprintf("<Path>/</Path><GroupName>%s</GroupName><GroupId>AGPA%08X</GroupId><Arn>arn:aws:iam::%s:group/%s</Arn><CreateDate>2024-01-01T00:00:00Z</CreateDate>",
		esc(g), len(g), Account, esc(g))
}

func writeXML(w http.ResponseWriter, root, ns, inner string) {
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%s xmlns="%s">%s<ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata></%s>`, root, ns, inner, root)
}

func writeErr(w http.ResponseWriter, ns string, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ErrorResponse>`,
		ns, typ, code, esc(msg))
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// accessKey is the access key id of a SigV4 Authorization header.
func accessKey(auth string) string {
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(rest, "/")
	return key
}
