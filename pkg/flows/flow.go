package flows

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/latchhq/latch/pkg/latch"
)

// The keys of each part of a flow file, in documentation order.
// MaxFields is how many fields a flow may have: Slack's modals hold at
// most 100 blocks, and a request form spends three besides its fields
// (the title, the header text and the target picker).
const MaxFields = 97

var (
	flowKeys      = []string{"name", "label", "additional_header_text", "sources", "allow_revoke", "schedule_deescalation", "allow_guest_interaction", "include_decision_message", "visible_to", "fields", "approval", "strategy", "identity", "hooks", "oncall", "auto_approve", "allow_scheduled_start", "extension", "break_glass"}
	onCallKeys    = []string{"provider", "schedule_ids", "token_env"}
	fieldKeys     = []string{"name", "type", "label", "required", "default", "allowed_values", "min", "max"}
	approvalKeys  = []string{"channel", "approvers", "rule", "quorum", "allow_self_approval", "timeout", "forward"}
	forwardKeys   = []string{"after", "channel", "approvers", "rule", "dm"}
	targetKeys    = []string{"id", "label", "settings"}
	identityKeys  = []string{"service", "rule", "lookup_by_email"}
	extensionKeys = []string{"max_total", "approval", "auto_within"}
	hookKeys      = []string{"secret_env", latch.HookOnRequest, latch.HookOnApprove, latch.HookOnDeny, latch.HookAfterEscalate, latch.HookAfterDeescalate, latch.HookGetIdentity}
)

// Defaults of the keys a flow file may leave out.
const (
	DefaultAllowRevoke          = true  // requester, approvers and admins may end access early
	DefaultScheduleDeescalation = true  // access ends by itself when its duration is up
	DefaultQuorum               = 1     // approvals needed
	DefaultAllowSelfApproval    = false // nobody decides their own request
	DefaultAllowGuests          = false // guests (Slack Connect, foreign domains) may not act
)

var (
	flowNameRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9_-]{1,64}$`) })
	fieldNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`) })
	envNameRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })
	serviceRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9_.:-]{1,64}$`) })
)

// located is a flow as parsed, with where its name is, for finding
// duplicate names across files.
type located struct {
	flow     *latch.Flow
	nameLine int
}

func (p *parser) flow(root *yaml.Node) located {
	top := p.object(root, "", "a flow file", flowKeys)
	if top == nil {
		return located{}
	}
	f := &latch.Flow{
		File:                  p.file,
		AllowRevoke:           DefaultAllowRevoke,
		ScheduleDeescalation:  DefaultScheduleDeescalation,
		AllowGuestInteraction: DefaultAllowGuests,
	}
	out := located{flow: f}

	if n := top.get("name"); n == nil {
		p.addf(top.line("name"), "name is required")
	} else if s, ok := p.text(n, "name"); ok {
		if flowNameRE().MatchString(s) {
			f.Name, out.nameLine = s, n.Line
		} else {
			p.addf(n, `name %q is not valid: use 1 to 64 lowercase letters, digits, "-" and "_"`, s)
		}
	}
	f.Label = f.Name
	if n := top.get("label"); n != nil {
		if s, ok := p.text(n, "label"); ok {
			f.Label = s
		}
	}
	if n := top.get("additional_header_text"); n != nil {
		f.AdditionalHeaderText, _ = p.text(n, "additional_header_text")
	}
	f.Sources = p.sources(top)
	for key, dst := range map[string]*bool{
		"allow_revoke":            &f.AllowRevoke,
		"schedule_deescalation":   &f.ScheduleDeescalation,
		"allow_guest_interaction": &f.AllowGuestInteraction,
	} {
		if n := top.get(key); n != nil {
			if b, ok := p.boolean(n, key); ok {
				*dst = b
			}
		}
	}
	if n := top.get("include_decision_message"); n != nil {
		if b, ok := p.boolean(n, "include_decision_message"); ok {
			f.OmitDecisionMessage = !b
		}
	}

	if n := top.get("strategy"); n != nil {
		f.Strategy = p.strategy(n, top.keys["strategy"])
		if f.Strategy != nil && !f.AllowRevoke && !f.ScheduleDeescalation {
			// Both default to true, so both were written false: blame the first.
			p.addf(top.line("allow_revoke"), "allow_revoke and schedule_deescalation are both false, so access granted by this flow would never be taken away; set at least one to true")
		}
	}
	if n := top.get("allow_scheduled_start"); n != nil {
		if b, ok := p.boolean(n, "allow_scheduled_start"); ok && b {
			f.AllowScheduledStart = true
			if f.Strategy == nil {
				p.addf(n, "allow_scheduled_start applies only to flows with a strategy: an approval-only flow grants nothing to start later")
			}
		}
	}
	if n := top.get("fields"); n != nil {
		f.Fields = p.fields(n, f.Strategy)
	}
	if n := top.get("visible_to"); n != nil {
		f.VisibleTo, f.VisibleToSource, _ = p.rule(n, "visible_to")
	}
	if n := top.get("approval"); n == nil {
		p.addf(top.line("approval"), "approval is required: name approvers, a rule or both")
	} else {
		f.Approval = p.approval(n, top.keys["approval"])
	}
	f.Identity = latch.IdentityConfig{LookupByEmail: true}
	if n := top.get("identity"); n != nil {
		if f.Strategy == nil {
			p.addf(top.line("identity"), "identity applies only to flows with a strategy: an approval-only flow grants nothing")
		}
		f.Identity = p.identity(n)
	}
	if n := top.get("oncall"); n != nil {
		f.OnCall = p.onCall(n, top.keys["oncall"])
	}
	if n := top.get("auto_approve"); n != nil {
		f.AutoApprove, f.AutoApproveSource, _ = p.rule(n, "auto_approve")
		if f.AutoApproveSource != "" && strings.Contains(f.AutoApproveSource, "approver.") {
			p.addf(n, "auto_approve sees no approver: it judges a new request before anyone decides; use requester, request and flow")
		}
	}
	if n := top.get("break_glass"); n != nil {
		f.BreakGlass = p.breakGlass(n, top.keys["break_glass"])
		if f.BreakGlass != nil && f.Strategy != nil && !f.ScheduleDeescalation {
			p.addf(top.keys["break_glass"], "break_glass needs schedule_deescalation: without a scheduled end its max_duration would never be enforced")
			f.BreakGlass = nil
		}
		if len(f.Fields) > MaxFieldsWithBreakGlass && len(f.Fields) <= MaxFields {
			p.addf(top.keys["break_glass"], "a flow with break_glass has at most %d fields (this one has %d): its Slack form spends two more blocks on breaking glass", MaxFieldsWithBreakGlass, len(f.Fields))
		}
	}
	if f.OnCall == nil {
		// on_call without a source is always false: a rule relying on it
		// would never hold.
		for _, r := range []struct {
			src  string
			node *yaml.Node
		}{{f.AutoApproveSource, top.get("auto_approve")}, {f.Approval.RuleSource, approvalRuleNode(top)}} {
			if r.node != nil && strings.Contains(r.src, "."+onCallKey) {
				p.addf(r.node, "the rule uses on_call, but the flow names no oncall source, so it would always be false")
			}
		}
	}
	if n := top.get("extension"); n != nil {
		f.Extension = p.extension(n, top.keys["extension"], f)
	}
	if n := top.get("hooks"); n != nil {
		var secretGiven bool
		f.Hooks, secretGiven = p.hooks(n)
		if !secretGiven && f.Hooks != (latch.Hooks{}) {
			p.addf(top.line("hooks"), "hooks.secret_env is required: hook calls are signed with the secret in that environment variable")
		}
	}
	return out
}

func (p *parser) sources(top *object) []latch.Source {
	n := top.get("sources")
	if n == nil {
		return nil // both
	}
	items, ok := p.list(n, "sources", " such as [slack, api]")
	if !ok {
		return nil
	}
	out := make([]latch.Source, 0, len(items))
	for _, it := range items {
		s, ok := p.text(it, "a source")
		if !ok {
			continue
		}
		src := latch.Source(s)
		switch {
		case src != latch.SourceSlack && src != latch.SourceAPI:
			p.addf(it, "sources: %q is not a source; use slack or api", s)
		case slices.Contains(out, src):
			p.addf(it, "sources: %q is listed twice", s)
		default:
			out = append(out, src)
		}
	}
	return out
}

// fields reads the fields list. The strategy (nil for an approval-only
// flow) is needed to check a target_id field.
//
// A flow has at most MaxFields fields.
func (p *parser) fields(n *yaml.Node, strategy *latch.Strategy) []latch.Field {
	items, ok := p.list(n, "fields", "")
	if !ok {
		return nil
	}
	if len(items) > MaxFields {
		p.addf(items[MaxFields], "a flow has at most %d fields (this is field %d): its Slack form holds at most 100 blocks, and the title, header text and target take three", MaxFields, MaxFields+1)
	}
	var out []latch.Field
	first := map[string]int{}
	for i, it := range items {
		fl, ok := p.field(it, i, strategy)
		if !ok {
			continue
		}
		if line, dup := first[fl.Name]; dup {
			p.addf(it, "field %q is declared twice (first at line %d)", fl.Name, line)
			continue
		}
		first[fl.Name] = it.Line
		out = append(out, fl)
	}
	return out
}

func (p *parser) field(n *yaml.Node, index int, strategy *latch.Strategy) (latch.Field, bool) {
	where := fmt.Sprintf("field %d", index+1)
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k, v := n.Content[i], n.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && !isNull(v) {
				where = fmt.Sprintf("field %q", v.Value)
				break
			}
		}
	}
	o := p.object(n, where, where, fieldKeys)
	if o == nil {
		return latch.Field{}, false
	}
	before := len(p.problems)
	fl := latch.Field{}

	if v := o.get("name"); v == nil {
		p.addf(o.line("name"), "%s needs a name", where)
	} else if s, ok := p.text(v, where+": name"); ok {
		if fieldNameRE().MatchString(s) {
			fl.Name = s
		} else {
			p.addf(v, `field name %q is not valid: use a lowercase letter followed by up to 63 lowercase letters, digits and "_"`, s)
		}
	}
	fl.Label = fl.Name
	if v := o.get("label"); v != nil {
		if s, ok := p.text(v, where+": label"); ok {
			fl.Label = s
		}
	}
	if v := o.get("required"); v != nil {
		fl.Required, _ = p.boolean(v, where+": required")
	}

	typeOK := false
	if v := o.get("type"); v == nil {
		p.addf(o.line("type"), "%s needs a type: one of %s", where, fieldTypeList())
	} else if s, ok := p.text(v, where+": type"); ok {
		t := latch.FieldType(s)
		if slices.Contains(latch.FieldTypes, t) {
			fl.Type, typeOK = t, true
		} else {
			p.addf(v, "%s: %s", where, unknownFieldType(s))
		}
	}
	if !typeOK {
		// Without a type, values cannot be checked; the name still can.
		p.specialField(o, where, fl, strategy, false)
		return fl, len(p.problems) == before
	}

	// Bounds come first: allowed values and the default are checked against them.
	bare := latch.Field{Name: fl.Name, Type: fl.Type}
	for _, key := range []string{"min", "max"} {
		v := o.get(key)
		if v == nil {
			continue
		}
		if fl.Type != latch.FieldInt && fl.Type != latch.FieldDuration {
			p.addf(o.line(key), "%s: %s applies only to int and duration fields", where, key)
			continue
		}
		raw, ok := p.value(v, where+": "+key)
		if !ok {
			continue
		}
		nv, err := normalize(bare, raw)
		if err != "" {
			p.addf(v, "%s: %s: %s", where, key, err)
			continue
		}
		b := nv.(int64)
		if key == "min" {
			fl.Min = &b
		} else {
			fl.Max = &b
		}
	}
	if fl.Min != nil && fl.Max != nil && *fl.Min > *fl.Max {
		p.addf(o.get("min"), "%s: min %s is more than max %s", where,
			latch.FormatValue(fl.Type, *fl.Min), latch.FormatValue(fl.Type, *fl.Max))
		fl.Min, fl.Max = nil, nil
	}

	if v := o.get("allowed_values"); v != nil {
		fl.AllowedValues = p.allowedValues(v, where, fl)
	}
	if v := o.get("default"); v != nil {
		if raw, ok := p.value(v, where+": default"); ok {
			nv, err := normalize(fl, raw)
			if err != "" {
				p.addf(v, "%s: default: %s", where, err)
			} else {
				fl.Default = nv
			}
		}
	}
	p.specialField(o, where, fl, strategy, true)
	return fl, len(p.problems) == before
}

func (p *parser) allowedValues(n *yaml.Node, where string, fl latch.Field) []any {
	items, ok := p.list(n, where+": allowed_values", "")
	if !ok {
		return nil
	}
	switch {
	case len(items) == 0:
		p.addf(n, "%s: allowed_values is empty; remove it to allow any value", where)
		return nil
	case fl.Type == latch.FieldStrings || fl.Type == latch.FieldInts || fl.Type == latch.FieldSlackUsers:
		p.addf(n, "%s: allowed_values is not supported for %s fields", where, fl.Type)
		return nil
	}
	check := fl
	check.AllowedValues = nil
	var out []any
	for _, it := range items {
		raw, ok := p.value(it, where+": allowed_values")
		if !ok {
			continue
		}
		nv, err := normalize(check, raw)
		switch {
		case err != "":
			p.addf(it, "%s: allowed_values: %s", where, err)
		case slices.Contains(out, nv):
			p.addf(it, "%s: allowed_values: %s is listed twice", where, latch.FormatValue(fl.Type, nv))
		default:
			out = append(out, nv)
		}
	}
	return out
}

// specialField checks the rules of the fields with special names.
// typed reports whether fl.Type was read.
func (p *parser) specialField(o *object, where string, fl latch.Field, strategy *latch.Strategy, typed bool) {
	switch fl.Name {
	case latch.FieldNameDuration:
		if typed && fl.Type != latch.FieldDuration {
			p.addf(o.get("type"), "field %q must have type duration: it sets how long access lasts", fl.Name)
		}
	case latch.FieldNameTarget:
		if strategy == nil {
			p.addf(o.line("name"), "field %q needs a strategy with targets to choose from", fl.Name)
			return
		}
		if typed && fl.Type != latch.FieldString {
			p.addf(o.get("type"), "field %q must have type string: it chooses one of the strategy's targets", fl.Name)
			return
		}
		if !typed {
			return
		}
		av := o.get("allowed_values")
		if av == nil {
			p.addf(o.line("name"), "field %q must list the target ids it offers in allowed_values", fl.Name)
			return
		}
		ids := make([]string, len(strategy.Targets))
		for i, t := range strategy.Targets {
			ids[i] = t.ID
		}
		if len(ids) == 0 {
			return // the strategy's own problem says why
		}
		var reported []string
		for _, it := range av.Content {
			if it.Kind != yaml.ScalarNode || slices.Contains(ids, it.Value) || slices.Contains(reported, it.Value) {
				continue
			}
			reported = append(reported, it.Value)
			p.addf(it, "field %q: %q is not a target id; the targets are %s", fl.Name, it.Value, strings.Join(ids, ", "))
		}
	}
}

// normalize returns fl.Normalize(v), with its error as a reason without the
// field's name (the caller says where).
func normalize(fl latch.Field, v any) (any, string) {
	out, err := fl.Normalize(v)
	if err != nil {
		return nil, strings.TrimPrefix(err.Error(), fmt.Sprintf("field %q: ", fl.Name))
	}
	return out, ""
}

func fieldTypeNames() []string {
	names := make([]string, len(latch.FieldTypes))
	for i, t := range latch.FieldTypes {
		names[i] = string(t)
	}
	return names
}

func fieldTypeList() string { return strings.Join(fieldTypeNames(), ", ") }

func unknownFieldType(s string) string {
	if g, ok := suggest(s, fieldTypeNames()); ok {
		return fmt.Sprintf("type %q is not a field type; did you mean %q? The types are %s", s, g, fieldTypeList())
	}
	return fmt.Sprintf("type %q is not a field type; use one of %s", s, fieldTypeList())
}

func (p *parser) approval(n, key *yaml.Node) latch.Approval {
	a := latch.Approval{Quorum: DefaultQuorum, AllowSelfApproval: DefaultAllowSelfApproval}
	o := p.object(n, "approval", "approval", approvalKeys)
	if o == nil {
		return a
	}
	o.at = key
	if v := o.get("channel"); v != nil {
		a.Channel, _ = p.text(v, "approval.channel")
	}
	approversOK := true
	if v := o.get("approvers"); v != nil {
		a.Approvers, approversOK = p.approvers(v, "approval.approvers")
	}
	ruleOK := true
	if v := o.get("rule"); v != nil {
		a.Rule, a.RuleSource, ruleOK = p.rule(v, "approval.rule")
	}
	// A rule or list that is present but broken has its own problem already.
	if len(a.Approvers) == 0 && a.RuleSource == "" && approversOK && ruleOK {
		p.addf(key, "approval needs approvers, a rule or both; admins can always approve, but a flow must also say who else may")
	}
	if v := o.get("quorum"); v != nil {
		if q, ok := p.integer(v, "approval.quorum"); ok {
			switch {
			case q < 1:
				p.addf(v, "approval.quorum must be at least 1")
			case a.RuleSource == "" && approversOK && len(a.Approvers) > 0 && q > int64(len(a.Approvers)):
				p.addf(v, "approval.quorum is %d, but only %s listed and there is no rule", q, approverCount(len(a.Approvers)))
			case q > 1000:
				p.addf(v, "approval.quorum must be at most 1000")
			default:
				a.Quorum = int(q)
			}
		}
	}
	if v := o.get("allow_self_approval"); v != nil {
		if b, ok := p.boolean(v, "approval.allow_self_approval"); ok {
			a.AllowSelfApproval = b
		}
	}
	if v := o.get("timeout"); v != nil {
		a.Timeout, _ = p.duration(v, "approval.timeout", "remove it for requests that never expire")
	}
	if v := o.get("forward"); v != nil {
		a.Forward = p.forward(v, a.Timeout)
	}
	return a
}

// forward reads approval.forward: the steps a pending request is forwarded
// to, each after a time counted from the request's creation, in order, and
// all before the approval's timeout.
func (p *parser) forward(n *yaml.Node, timeout time.Duration) []latch.ForwardStep {
	items, ok := p.list(n, "approval.forward", " of steps such as {after: 15m, channel: \"#sre-leads\"}")
	if !ok {
		return nil
	}
	var out []latch.ForwardStep
	var prev time.Duration
	for i, it := range items {
		where := fmt.Sprintf("approval.forward step %d", i+1)
		o := p.object(it, where, where, forwardKeys)
		if o == nil {
			continue
		}
		s := latch.ForwardStep{}
		// A key refused already (misspelt) has its own problem: the step is
		// not reported empty for it too.
		good := len(it.Content)/2 == len(o.keys)
		if v := o.get("after"); v == nil {
			p.addf(it, "%s needs after: how long after the request it is forwarded (15m, 1h)", where)
			good = false
		} else if d, ok := p.duration(v, where+": after", "write how long after the request it is forwarded"); !ok {
			good = false
		} else {
			s.After = d
			switch {
			case timeout > 0 && d >= timeout:
				p.addf(v, "%s: after %s is not before approval.timeout %s: the request expires first", where,
					latch.FormatDuration(d), latch.FormatDuration(timeout))
				good = false
			case d <= prev:
				p.addf(v, "%s: after %s must be later than the step before it (%s); each after counts from the request",
					where, latch.FormatDuration(d), latch.FormatDuration(prev))
				good = false
			}
			prev = max(prev, d)
		}
		if v := o.get("channel"); v != nil {
			s.Channel, _ = p.text(v, where+": channel")
		}
		if v := o.get("approvers"); v != nil {
			var ok bool
			if s.Approvers, ok = p.approvers(v, where+": approvers"); !ok {
				good = false
			}
		}
		if v := o.get("dm"); v != nil {
			var ok bool
			if s.DM, ok = p.approvers(v, where+": dm"); !ok {
				good = false
			}
		}
		if v := o.get("rule"); v != nil {
			var ok bool
			if s.Rule, s.RuleSource, ok = p.rule(v, where+": rule"); !ok {
				good = false
			}
		}
		switch {
		case s.Channel == "" && len(s.Approvers) == 0 && len(s.DM) == 0 && s.RuleSource == "":
			if good {
				p.addf(it, "%s is empty: name a channel, approvers, dm or a rule", where)
			}
			good = false
		case s.Channel == "" && len(s.Approvers) == 0 && len(s.DM) == 0:
			p.addf(it, "%s has only a rule, which names nobody to send the request to: add a channel or dm", where)
			good = false
		}
		if good {
			out = append(out, s)
		}
	}
	return out
}

// approvalRuleNode is the node of approval.rule, or nil.
func approvalRuleNode(top *object) *yaml.Node {
	a := top.get("approval")
	if a == nil || a.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(a.Content); i += 2 {
		if a.Content[i].Value == "rule" {
			return a.Content[i+1]
		}
	}
	return nil
}

// scheduleIDRE is a PagerDuty schedule id (PABC123).
var scheduleIDRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Z0-9]{2,32}$`) })

// onCall reads the oncall block: the provider, its schedules and the
// environment variable holding its API token.
func (p *parser) onCall(n, key *yaml.Node) *latch.OnCallConfig {
	o := p.object(n, "oncall", "oncall", onCallKeys)
	if o == nil {
		return nil
	}
	o.at = key
	cfg := &latch.OnCallConfig{}
	good := true
	if v := o.get("provider"); v == nil {
		p.addf(o.line("provider"), "oncall.provider is required: pagerduty")
		good = false
	} else if s, ok := p.text(v, "oncall.provider"); ok {
		if s != "pagerduty" {
			p.addf(v, "oncall.provider %q is not known; the providers are pagerduty", s)
			good = false
		}
		cfg.Provider = s
	} else {
		good = false
	}
	if v := o.get("schedule_ids"); v == nil {
		p.addf(o.line("schedule_ids"), "oncall.schedule_ids is required: the schedules whose on-call people count")
		good = false
	} else if items, ok := p.list(v, "oncall.schedule_ids", " of schedule ids"); ok {
		for _, it := range items {
			s, ok := p.text(it, "a schedule id")
			switch {
			case !ok:
				good = false
			case !scheduleIDRE().MatchString(s):
				p.addf(it, "oncall.schedule_ids: %q is not a PagerDuty schedule id (such as PABC123)", s)
				good = false
			case slices.Contains(cfg.ScheduleIDs, s):
				p.addf(it, "oncall.schedule_ids: %q is listed twice", s)
			default:
				cfg.ScheduleIDs = append(cfg.ScheduleIDs, s)
			}
		}
		if len(items) == 0 {
			p.addf(v, "oncall.schedule_ids needs at least one schedule id")
			good = false
		}
	} else {
		good = false
	}
	if v := o.get("token_env"); v == nil {
		p.addf(o.line("token_env"), "oncall.token_env is required: the environment variable holding the API token")
		good = false
	} else if s, ok := p.text(v, "oncall.token_env"); ok {
		if !envNameRE().MatchString(s) {
			p.addf(v, "oncall.token_env %q is not an environment variable name (write the variable's name, not the token)", s)
			good = false
		}
		cfg.TokenEnv = s
	} else {
		good = false
	}
	if !good {
		return nil
	}
	return cfg
}

func approverCount(n int) string {
	if n == 1 {
		return "1 approver is"
	}
	return fmt.Sprintf("%d approvers are", n)
}

func (p *parser) approvers(n *yaml.Node, what string) ([]string, bool) {
	items, ok := p.list(n, what, " of emails")
	if !ok {
		return nil, false
	}
	var out []string
	ok = true
	for _, it := range items {
		s, tok := p.text(it, "an approver")
		if !tok {
			ok = false
			continue
		}
		e := latch.NormalizeEmail(s)
		switch {
		case !latch.ValidEmail(e):
			p.addf(it, "%s: %q is not an email address", what, s)
			ok = false
		case slices.Contains(out, e):
			p.addf(it, "%s: %q is listed twice", what, e)
		default:
			out = append(out, e)
		}
	}
	return out, ok
}

// rule reads and compiles a boolean rule (approval.rule, visible_to).
func (p *parser) rule(n *yaml.Node, what string) (latch.Rule, string, bool) {
	src, ok := p.text(n, what)
	if !ok {
		return nil, "", false
	}
	rule, err := p.opts.rules().CompileRule(src)
	if err != nil {
		p.ruleError(n, src, what, err)
		return nil, src, false
	}
	return rule, src, true
}

// identity reads the identity block: the service name, the CEL rule and
// whether the strategy's own lookup by email is used.
func (p *parser) identity(n *yaml.Node) latch.IdentityConfig {
	cfg := latch.IdentityConfig{LookupByEmail: true}
	o := p.object(n, "identity", "identity", identityKeys)
	if o == nil {
		return cfg
	}
	if v := o.get("service"); v != nil {
		if s, ok := p.text(v, "identity.service"); ok {
			if !serviceRE().MatchString(s) {
				p.addf(v, "identity.service %q must be 1 to 64 lower-case letters, digits, '_', '-', '.' or ':'", s)
			} else {
				cfg.Service = s
			}
		}
	}
	if v := o.get("rule"); v != nil {
		if src, ok := p.text(v, "identity.rule"); ok {
			rule, err := p.opts.rules().CompileIdentityRule(src)
			if err != nil {
				p.ruleError(v, src, "identity.rule", err)
			} else {
				cfg.Rule, cfg.RuleSource = rule, src
			}
		}
	}
	if v := o.get("lookup_by_email"); v != nil {
		if b, ok := p.boolean(v, "identity.lookup_by_email"); ok {
			cfg.LookupByEmail = b
		}
	}
	return cfg
}

// ruleError reports a rule that does not compile at the rule's own line and,
// where it can be known, column.
func (p *parser) ruleError(n *yaml.Node, src, what string, err error) {
	line, col, reason := n.Line, n.Column, err.Error()
	if ce, ok := errors.AsType[RuleError](err); ok {
		ceLine, ceColumn, ceReason := ce.RulePosition()
		switch {
		case n.Style&yaml.LiteralStyle != 0 && ceLine > 0:
			line, col = n.Line+ceLine, 0 // the text starts on the line after "|"
		case n.Style&yaml.FoldedStyle != 0:
			line, col = n.Line+1, 0
		case ceLine == 1 && !strings.Contains(src, "\n"):
			col = n.Column + ceColumn - 1
			if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
				col++
			}
		}
		reason = ceReason
	}
	p.addAt(line, col, what+" does not compile: "+reason)
}

// duration reads a duration written like 30m, 4h or 1d, or as whole seconds.
func (p *parser) duration(n *yaml.Node, what, unset string) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode {
		p.addf(n, "%s must be a duration such as 30m, 4h or 1d, not %s", what, describeNode(n))
		return 0, false
	}
	if n.Tag == "!!int" {
		var secs int64
		if err := n.Decode(&secs); err != nil || secs <= 0 {
			p.addf(n, "%s must be positive; %s", what, unset)
			return 0, false
		}
		if secs > int64(100000*24*time.Hour/time.Second) {
			p.addf(n, "%s is too long", what)
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	d, err := latch.ParseDuration(n.Value)
	if err != nil {
		if nonPositive(n.Value) {
			p.addf(n, "%s must be positive; %s", what, unset)
		} else {
			p.addf(n, "%s: %v", what, err)
		}
		return 0, false
	}
	return d, true
}

// nonPositive reports whether s is a zero or negative duration or number.
func nonPositive(s string) bool {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return true
	}
	if d, err := time.ParseDuration(t); err == nil {
		return d <= 0
	}
	return strings.Trim(t, "0") == "" || strings.Trim(t, "0") == "d"
}

func (p *parser) strategy(n, key *yaml.Node) *latch.Strategy {
	o := p.object(n, "strategy", "strategy", nil)
	if o == nil {
		return nil
	}
	o.at = key
	before := len(p.problems)
	s := &latch.Strategy{Config: map[string]any{}}
	typeNode := o.get("type")
	if typeNode == nil {
		p.addf(o.line("type"), "strategy needs a type%s", p.knownStrategies())
	} else if t, ok := p.text(typeNode, "strategy.type"); ok {
		s.Type = t
		if p.opts.Strategies != nil {
			if _, known := p.opts.Strategies[t]; !known {
				if g, ok := suggest(t, slices.Sorted(maps.Keys(p.opts.Strategies))); ok {
					p.addf(typeNode, "strategy type %q is not known; did you mean %q? The types are %s", t, g, strategyList(p.opts.Strategies))
				} else {
					p.addf(typeNode, "strategy type %q is not known%s", t, p.knownStrategies())
				}
			}
		}
	}
	targetNodes := map[string]*yaml.Node{}
	if v := o.get("targets"); v == nil {
		p.addf(o.line("targets"), "strategy needs at least one target")
	} else if items, ok := p.list(v, "strategy.targets", ""); ok {
		if len(items) == 0 {
			p.addf(v, "strategy needs at least one target")
		}
		first := map[string]int{}
		for _, it := range items {
			t, ok := p.target(it)
			if !ok {
				continue
			}
			if line, dup := first[t.ID]; dup {
				p.addf(it, "target id %q is used twice (first at line %d)", t.ID, line)
				continue
			}
			first[t.ID] = it.Line
			targetNodes[t.ID] = it
			s.Targets = append(s.Targets, t)
		}
	}
	for _, k := range o.order {
		if k == "type" || k == "targets" {
			continue
		}
		if v, ok := p.value(o.vals[k], "strategy."+k); ok {
			s.Config[k] = v
		}
	}
	if len(p.problems) == before && p.opts.Strategies != nil {
		if validate := p.opts.Strategies[s.Type]; validate != nil {
			p.strategyErrors(validate(s.Config, s.Targets), s.Type, o, typeNode, targetNodes)
		}
	}
	return s
}

func (p *parser) knownStrategies() string {
	if p.opts.Strategies == nil {
		return ""
	}
	if len(p.opts.Strategies) == 0 {
		return "; no strategy types are available"
	}
	return "; the types are " + strategyList(p.opts.Strategies)
}

func strategyList(m map[string]func(map[string]any, []latch.Target) error) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// strategyErrors records what a strategy validator returned, each
// *ConfigError on the line of the setting it names.
func (p *parser) strategyErrors(err error, typ string, o *object, typeNode *yaml.Node, targets map[string]*yaml.Node) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			p.strategyErrors(e, typ, o, typeNode, targets)
		}
		return
	}
	at := typeNode
	var ce *ConfigError
	if errors.As(err, &ce) {
		switch {
		case ce.Target != "" && targets[ce.Target] != nil:
			at = targets[ce.Target]
			if ce.Key != "" {
				at = settingNode(targets[ce.Target], ce.Key, at)
			}
		case ce.Target == "" && ce.Key != "":
			if k, ok := o.keys[ce.Key]; ok {
				at = k
			}
		}
	}
	p.addf(at, "strategy %s: %v", typ, err)
}

// settingNode finds key in the settings of the target at n, or returns def.
func settingNode(n *yaml.Node, key string, def *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "settings" || n.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		s := n.Content[i+1]
		for j := 0; j+1 < len(s.Content); j += 2 {
			if s.Content[j].Value == key {
				return s.Content[j]
			}
		}
	}
	return def
}

func (p *parser) target(n *yaml.Node) (latch.Target, bool) {
	where := "a target"
	o := p.object(n, "strategy.targets", "a target", targetKeys)
	if o == nil {
		return latch.Target{}, false
	}
	before := len(p.problems)
	var t latch.Target
	if v := o.get("id"); v == nil {
		p.addf(o.line("id"), "a target needs an id")
	} else if s, ok := p.text(v, "a target's id"); ok {
		if strings.TrimSpace(s) == "" {
			p.addf(v, "a target needs an id; this one is blank")
		} else {
			t.ID = s
			where = fmt.Sprintf("target %q", s)
		}
	}
	t.Label = t.ID
	if v := o.get("label"); v != nil {
		if s, ok := p.text(v, where+": label"); ok {
			t.Label = s
		}
	}
	if v := o.get("settings"); v != nil {
		if so := p.object(v, where+" settings", where+": settings", nil); so != nil {
			t.Settings, _ = p.values(so, where+": settings")
		}
	}
	return t, len(p.problems) == before
}

// hooks reads the hook URLs and the secret's variable; secretGiven says
// whether secret_env was written at all (valid or not).
func (p *parser) hooks(n *yaml.Node) (h latch.Hooks, secretGiven bool) {
	o := p.object(n, "hooks", "hooks", hookKeys)
	if o == nil {
		return h, false
	}
	if v := o.get("secret_env"); v != nil {
		secretGiven = true
		if s, ok := p.text(v, "hooks.secret_env"); ok {
			if !envNameRE().MatchString(s) {
				p.addf(v, "hooks.secret_env %q is not an environment variable name (write the variable's name, not the secret)", s)
			} else {
				h.SecretEnv = s
			}
		}
	}
	dst := map[string]*string{
		latch.HookOnRequest:       &h.OnRequest,
		latch.HookOnApprove:       &h.OnApprove,
		latch.HookOnDeny:          &h.OnDeny,
		latch.HookAfterEscalate:   &h.AfterEscalate,
		latch.HookAfterDeescalate: &h.AfterDeescalate,
		latch.HookGetIdentity:     &h.GetIdentity,
	}
	for _, k := range o.order {
		v := o.get(k)
		if v == nil || k == "secret_env" {
			continue
		}
		s, ok := p.text(v, "hooks."+k)
		if !ok {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.addf(v, "hooks.%s: %q is not an http or https URL", k, s)
			continue
		}
		*dst[k] = s
	}
	return h, secretGiven
}

// extension reads extension: max_total (required), and either approval:
// required (approvers decide every extension) or auto_within (extensions
// adding at most that are granted at once; longer ones go to approvers).
func (p *parser) extension(n, key *yaml.Node, f *latch.Flow) *latch.Extension {
	o := p.object(n, "extension", "extension", extensionKeys)
	if o == nil {
		return nil
	}
	o.at = key
	good := true
	if f.Strategy == nil {
		p.addf(key, "extension applies only to flows with a strategy: an approval-only flow grants nothing to extend")
		good = false
	} else if !f.ScheduleDeescalation {
		p.addf(key, "extension needs schedule_deescalation: without a scheduled end there is no end to move")
		good = false
	}
	x := &latch.Extension{}
	if v := o.get("max_total"); v == nil {
		p.addf(o.line("max_total"), "extension.max_total is required: the longest the access of one request may last in all, such as 8h")
		good = false
	} else if d, ok := p.duration(v, "extension.max_total", "remove extension to refuse extending"); ok {
		x.MaxTotal = d
	} else {
		good = false
	}
	approval, auto := o.get("approval"), o.get("auto_within")
	switch {
	case approval != nil && auto != nil:
		p.addf(auto, "extension: write either approval: required or auto_within, not both")
		good = false
	case approval != nil:
		if s, ok := p.text(approval, "extension.approval"); ok && s != "required" {
			p.addf(approval, "extension.approval %q is not known: write approval: required, or auto_within: 1h to grant shorter extensions at once", s)
			good = false
		} else if !ok {
			good = false
		}
	case auto != nil:
		if d, ok := p.duration(auto, "extension.auto_within", "write approval: required to have approvers decide every extension"); ok {
			x.AutoWithin = d
		} else {
			good = false
		}
	default:
		p.addf(key, "extension needs approval: required, or auto_within: 1h to grant extensions up to that at once")
		good = false
	}
	if !good {
		return nil
	}
	return x
}

// MaxFieldsWithBreakGlass is how many fields a flow with break_glass may
// have: its Slack form spends two blocks (the checkbox and the reason) on
// breaking glass.
const MaxFieldsWithBreakGlass = MaxFields - 2

// breakGlassKeys are the keys of break_glass, in documentation order.
var breakGlassKeys = []string{"allowed", "broadcast", "max_duration", "review_within"}

// DefaultReviewWithin is how long after a break glass a reviewer has to
// acknowledge it when break_glass.review_within is left out.
const DefaultReviewWithin = 24 * time.Hour

// breakGlass reads break_glass: who may grant themselves access at once
// (allowed, a rule over requester and flow), the channel told
// (broadcast), the longest such grant (max_duration) and how soon a
// reviewer must acknowledge it (review_within).
func (p *parser) breakGlass(n, key *yaml.Node) *latch.BreakGlass {
	o := p.object(n, "break_glass", "break_glass", breakGlassKeys)
	if o == nil {
		return nil
	}
	o.at = key
	bg := &latch.BreakGlass{ReviewWithin: DefaultReviewWithin}
	good := true
	if v := o.get("allowed"); v == nil {
		p.addf(o.line("allowed"), "break_glass.allowed is required: a rule saying who may break glass, such as requester.role == \"admin\"")
		good = false
	} else {
		var ok bool
		bg.Allowed, bg.AllowedSource, ok = p.rule(v, "break_glass.allowed")
		good = good && ok
		if ok && strings.Contains(bg.AllowedSource, "approver.") {
			p.addf(v, "break_glass.allowed sees no approver: it judges the person breaking glass; use requester and flow")
			good = false
		}
	}
	if v := o.get("broadcast"); v == nil {
		p.addf(o.line("broadcast"), "break_glass.broadcast is required: the Slack channel told of every break glass, such as \"#security\"")
		good = false
	} else if s, ok := p.text(v, "break_glass.broadcast"); !ok {
		good = false
	} else if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t\n") {
		p.addf(v, "break_glass.broadcast %q is not a Slack channel: write its name (#security) or id", s)
		good = false
	} else {
		bg.Broadcast = s
	}
	if v := o.get("max_duration"); v == nil {
		p.addf(o.line("max_duration"), "break_glass.max_duration is required: the longest access a break glass grants, such as 1h")
		good = false
	} else if d, ok := p.duration(v, "break_glass.max_duration", "a break glass must end"); ok {
		bg.MaxDuration = d
	} else {
		good = false
	}
	if v := o.get("review_within"); v != nil {
		if d, ok := p.duration(v, "break_glass.review_within", "remove it for the default of 24h"); ok {
			bg.ReviewWithin = d
		} else {
			good = false
		}
	}
	if !good {
		return nil
	}
	return bg
}
