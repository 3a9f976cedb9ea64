package slackapp

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/slack-go/slack"
)

// serveInteraction answers button clicks, menu choices and form
// submissions within Slack's 3 seconds: a click is acknowledged at once and
// handled after; a submission is answered from what the form carries, with
// Web API calls (if any) bounded by what is left of the budget.
func (a *App) serveInteraction(w http.ResponseWriter, r *http.Request) {
	in, body, ok := readInteraction(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), ackBudget)
	defer cancel()
	switch in.Type {
	case InteractionViewSubmission:
		if answer := a.submit(ctx, in); answer != nil {
			writeJSON(w, answer)
			return
		}
	case InteractionBlockActions:
		if a.openExtend(ctx, in) {
			break // the extension modal is open
		}
		a.later(ctx, Job{Kind: JobInteraction, Body: body})
	case InteractionShortcut:
		if in.CallbackID == ShortcutRequestAccess {
			a.shortcut(ctx, in, Job{Kind: JobInteraction, Body: body})
		}
	case InteractionBlockSuggestion:
		writeJSON(w, a.options(ctx, in))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// shortcut opens the flow picker from the global shortcut, as /latch
// does; a refusal, with no channel to answer in, is shown in a modal.
func (a *App) shortcut(ctx context.Context, in *Interaction, job Job) {
	answer := a.openRequest(ctx, shortcutCommand(in), "", job)
	if answer == nil {
		return
	}
	text, _ := answer["text"].(string)
	if _, _, err := a.Slack.OpenView(ctx, in.TriggerID, messageView(callbackRequest+"_error", "Latch", text)); err != nil {
		a.Log.WarnContext(ctx, "could not answer the Request access shortcut", "user", in.User.ID, "err", err)
	}
}

// shortcutCommand is the global shortcut as the command it stands for.
func shortcutCommand(in *Interaction) *SlashCommand {
	return &SlashCommand{TeamID: teamOf(in), UserID: in.User.ID, TriggerID: in.TriggerID, Command: "shortcut"}
}

// teamOf is the workspace an interaction happened in.
func teamOf(in *Interaction) string {
	if in.Team != nil && in.Team.ID != "" {
		return in.Team.ID
	}
	return in.User.TeamID
}

// submit handles a submitted request form: it checks the request as the
// engine will (Engine.Prepare) and answers errors next to the fields
// (nothing is created), or hands the request to the engine and shows that
// it was sent.
func (a *App) submit(ctx context.Context, in *Interaction) map[string]any {
	if in.View != nil && in.View.CallbackID == callbackExtend {
		return a.submitExtend(ctx, in)
	}
	if in.View == nil || in.View.CallbackID != callbackRequest {
		return nil
	}
	var meta formMeta
	if err := json.Unmarshal([]byte(in.View.PrivateMetadata), &meta); err != nil || meta.Flow == "" {
		return formError(in.View, "This form is from an older version of Latch. Close it and run /latch again.")
	}
	f, err := a.Engine.Flows().Get(meta.Flow)
	if err != nil {
		return formError(in.View, fmt.Sprintf("The flow %q is no longer available. Close the form and run /latch again.", meta.Flow))
	}
	key := teamOf(in) + "/" + in.View.ID + "/" + in.View.Hash
	if answer, ok := a.remembered(key); ok {
		return answer // the same submission again: it was sent once
	}
	email, connect := meta.Email, meta.Connect
	if meta.User == "" || meta.User != in.User.ID || email == "" {
		p, err := a.resolve(ctx, teamOf(in), in.User.ID)
		if err != nil {
			return formError(in.View, a.explain(ctx, err))
		}
		email, connect = p.user.Email, p.connect
	}
	if connect {
		return formError(in.View, "Slack Connect users cannot request access through Latch.")
	}
	create := engine.CreateInput{Flow: f.Name, UserEmail: email, Source: latch.SourceSlack, Fields: formValues(f, &in.View.State),
		Context: map[string]any{"slack": map[string]any{"team_id": teamOf(in), "user_id": in.User.ID}},
		ID:      submissionID(key)}
	create.StartsAt = formStart(f, &in.View.State)
	create.BreakGlass, create.Reason = breakGlassChoice(&in.View.State)
	if _, err := a.Engine.Prepare(ctx, create); err != nil {
		if answer, ok := startError(err); ok {
			return answer
		}
		if answer, ok := breakGlassError(err); ok && create.BreakGlass {
			return answer
		}
		if latch.ErrorKindOf(err) == latch.KindInternal || latch.ErrorCodeOf(err) == latch.CodeRuleError {
			return formError(in.View, a.explain(ctx, err))
		}
		return fieldErrors(in.View, err)
	}
	if err := a.Submit(ctx, create); err != nil && !errors.Is(err, engine.ErrExists) {
		return formError(in.View, a.explain(ctx, err))
	}
	answer := map[string]any{"response_action": "update", "view": submittedView(f, create.ID, a.approvalChannel(f))}
	if create.BreakGlass {
		answer["view"] = brokeGlassView(f, create.ID)
	}
	a.remember(key, answer)
	return answer
}

// submissionID is the id of the request a submitted view creates: the same
// view and hash (Slack's retry, a double click, another instance) always
// name the same request, which the engine creates once.
func submissionID(key string) string {
	sum := sha256.Sum256([]byte("slack\x00" + key))
	return "req_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))[:26]
}

// fieldErrors answers a form with each bad field's reason next to it.
func fieldErrors(v *View, err error) map[string]any {
	le, ok := errors.AsType[*latch.Error](err)
	if !ok || len(le.Details) == 0 || le.Kind != latch.KindInvalid {
		return formError(v, latch.ErrorMessageOf(err))
	}
	errs := map[string]string{}
	blocks := blockIDs(v)
	var unplaced []string
	for name, reason := range le.Details {
		msg := fmt.Sprint(reason)
		if blocks[name] {
			errs[name] = clipPlain(upperFirst(msg), maxErrorText)
		} else {
			unplaced = append(unplaced, name+": "+msg)
		}
	}
	if len(unplaced) > 0 {
		return formError(v, strings.Join(unplaced, "; "))
	}
	return map[string]any{"response_action": "errors", "errors": errs}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// blockIDs returns the ids of a view's input blocks.
func blockIDs(v *View) map[string]bool {
	var blocks []struct {
		Type    string `json:"type"`
		BlockID string `json:"block_id"`
	}
	_ = json.Unmarshal(v.Blocks, &blocks)
	out := map[string]bool{}
	for _, b := range blocks {
		if b.Type == "input" {
			out[b.BlockID] = true
		}
	}
	return out
}

// formError shows msg next to the form's first input (Slack shows errors
// only next to input blocks), or, for a form without inputs, replaces it
// with a view that says so.
func formError(v *View, msg string) map[string]any {
	var blocks []struct {
		Type    string `json:"type"`
		BlockID string `json:"block_id"`
	}
	_ = json.Unmarshal(v.Blocks, &blocks)
	for _, b := range blocks {
		if b.Type == "input" {
			return map[string]any{"response_action": "errors", "errors": map[string]string{b.BlockID: clipPlain(msg, maxErrorText)}}
		}
	}
	return map[string]any{"response_action": "update", "view": messageView(callbackRequest+"_error", "Latch", ":warning: "+escape(msg))}
}

// act handles a click: a flow picked in the picker, or Approve, Deny or
// Revoke on an approval message.
func (a *App) act(ctx context.Context, in *Interaction) {
	if len(in.Actions) == 0 {
		return
	}
	act := in.Actions[0]
	switch act.ActionID {
	case actionPickFlow:
		a.pickFlow(ctx, in, act)
	case actionApprove, actionDeny, actionRevoke, actionDone, actionReview:
		a.decide(ctx, in, act)
		if in.View != nil && in.View.Type == "home" {
			a.publishHome(ctx, teamOf(in), in.User.ID) // show the click's effect
		}
	}
}

// pickFlow replaces the picker with the chosen flow's form.
func (a *App) pickFlow(ctx context.Context, in *Interaction, act Action) {
	if in.View == nil {
		return
	}
	vals := act.Strings()
	if len(vals) == 0 {
		return
	}
	f, err := a.Engine.Flows().Get(optionValue(vals[0], flowNames(a.Engine.Flows().All())))
	var v view
	p, perr := a.resolve(ctx, teamOf(in), in.User.ID)
	switch {
	case perr != nil:
		v = messageView(callbackRequest+"_error", "Latch", ":warning: "+escape(a.explain(ctx, perr)))
	case err != nil:
		v = pickerView(a.pickable(ctx, in), fmt.Sprintf(":warning: There is no flow %s any more. Pick another.", escape(strconv.Quote(vals[0]))))
	default:
		v = requestView(f, metaFor(p))
	}
	if err := a.Slack.UpdateView(ctx, in.View.ID, in.View.Hash, v); err != nil {
		a.Log.WarnContext(ctx, "could not show the flow's form", "flow", vals[0], "err", err)
	}
}

// flowNames is the names of flows.
func flowNames(flows []*latch.Flow) []string {
	out := make([]string, len(flows))
	for i, f := range flows {
		out[i] = f.Name
	}
	return out
}

// pickable is the flows the person behind an interaction may request.
func (a *App) pickable(ctx context.Context, in *Interaction) []*latch.Flow {
	p, err := a.resolve(ctx, teamOf(in), in.User.ID)
	if err != nil || p.connect {
		return nil
	}
	return a.requestable(&p.user)
}

// decide turns Approve, Deny, Revoke or I'm done into a command. Whoever
// may not act is told why, only them, and nothing changes. I'm done is the
// requester's own revoke: only the requester may click it.
func (a *App) decide(ctx context.Context, in *Interaction, act Action) {
	requestID := act.Value
	kind := map[string]latch.CommandKind{actionApprove: latch.CmdApprove, actionDeny: latch.CmdDeny, actionRevoke: latch.CmdRevoke,
		actionDone: latch.CmdRevoke, actionReview: latch.CmdReview}[act.ActionID]
	refuse := func(msg string) {
		text := clipMrkdwn(escape(msg), maxMessageText, "")
		if in.ResponseURL != "" {
			a.respond(ctx, in.ResponseURL, text)
			return
		}
		if in.Channel == nil {
			a.Log.WarnContext(ctx, "a refusal could not be shown: the click came from no channel", "request", requestID, "reason", msg)
			return
		}
		if err := a.Slack.PostEphemeral(ctx, in.Channel.ID, in.User.ID, text); err != nil {
			a.Log.WarnContext(ctx, "could not tell a person why they may not act", "request", requestID, "err", err)
		}
	}
	p, err := a.resolve(ctx, teamOf(in), in.User.ID)
	if err != nil {
		refuse(a.explain(ctx, err))
		return
	}
	r, err := a.Store.GetRequest(ctx, requestID)
	if err != nil {
		refuse(a.explain(ctx, err))
		return
	}
	f, err := a.Engine.Flows().Get(r.Flow)
	if err != nil {
		refuse(a.explain(ctx, err))
		return
	}
	done := act.ActionID == actionDone
	if done && !r.ReleasedBy(p.user.Email) {
		refuse(latch.ErrorMessageOf(latch.Errorf(latch.KindForbidden, latch.CodeNotRequester,
			"Only the person who asked for this access can say they are done with it.")))
		return
	}
	if p.connect && !f.AllowGuestInteraction && !done {
		refuse(latch.ErrorMessageOf(latch.Errorf(latch.KindForbidden, latch.CodeGuestNotAllowed,
			"Slack Connect users are guests, and guests cannot act on flow %q.", f.Name)))
		return
	}
	reason := ""
	if v, ok := in.State.Get(blockReason, actionValue); ok && !f.OmitDecisionMessage {
		reason = strings.TrimSpace(v.Value)
	}
	cmd := latch.Command{ID: engine.NewID("cmd"), Kind: kind, RequestID: r.ID, Actor: latch.Actor{Email: p.user.Email},
		Reason: reason, Source: latch.SourceSlack, At: a.Clock.Now()}
	if err := a.Engine.Check(ctx, cmd); err != nil {
		refuse(a.explain(ctx, err))
		return
	}
	if err := a.Queue.Publish(ctx, cmd); err != nil {
		refuse(a.explain(ctx, err))
		return
	}
	a.Log.InfoContext(ctx, "slack decision accepted", "request", r.ID, "kind", kind, "actor", p.user.Email)
}

// options answers an external select: the flows or targets matching what
// the person typed.
func (a *App) options(ctx context.Context, in *Interaction) map[string]any {
	q := strings.ToLower(strings.TrimSpace(in.Value))
	match := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(strings.ToLower(x), q) {
				return true
			}
		}
		return false
	}
	var opts []*slack.OptionBlockObject
	switch {
	case in.ActionID == actionPickFlow:
		for _, f := range a.pickable(ctx, in) {
			if match(f.Name, f.Label) && len(opts) < maxStaticOptions {
				opts = append(opts, option(flowLabel(f), optionKey(f.Name)))
			}
		}
	case in.BlockID == blockTarget && in.View != nil:
		var meta formMeta
		_ = json.Unmarshal([]byte(in.View.PrivateMetadata), &meta)
		f, err := a.Engine.Flows().Get(meta.Flow)
		if err == nil && f.Strategy != nil {
			for _, t := range f.Strategy.Targets {
				if match(t.ID, t.Label) && len(opts) < maxStaticOptions {
					opts = append(opts, option(targetLabel(t), optionKey(t.ID)))
				}
			}
		}
	case in.View != nil: // a field with more allowed values than a static select holds
		var meta formMeta
		_ = json.Unmarshal([]byte(in.View.PrivateMetadata), &meta)
		f, err := a.Engine.Flows().Get(meta.Flow)
		if err != nil {
			break
		}
		if fl, ok := f.Field(in.BlockID); ok {
			for _, v := range allowedStrings(fl) {
				if match(v) && len(opts) < maxStaticOptions {
					opts = append(opts, option(v, optionKey(v)))
				}
			}
		}
	}
	if opts == nil {
		opts = []*slack.OptionBlockObject{}
	}
	return map[string]any{"options": opts}
}

// serveOptions answers the options load URL: Slack posts a block_suggestion
// there when someone types into an external select.
func (a *App) serveOptions(w http.ResponseWriter, r *http.Request) {
	if in, _, ok := readInteraction(w, r); ok {
		ctx, cancel := context.WithTimeout(r.Context(), ackBudget)
		defer cancel()
		writeJSON(w, a.options(ctx, in))
	}
}

// readInteraction reads and parses an interaction's body, answering 400
// itself when it cannot. It returns the body too, for the work after the
// answer (Job).
func readInteraction(w http.ResponseWriter, r *http.Request) (*Interaction, []byte, bool) {
	body, err := readBody(r)
	if err == nil {
		var in *Interaction
		if in, err = ParseInteraction(body); err == nil {
			return in, body, true
		}
	}
	writeError(w, http.StatusBadRequest, err)
	return nil, nil, false
}
