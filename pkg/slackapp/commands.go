package slackapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/latchhq/latch/pkg/latch"
)

// helpText answers /latch help.
const helpText = "*Latch* grants temporary access, approved in Slack.\n" +
	"• `/latch` — pick a flow and request access\n" +
	"• `/latch req FLOW` — open FLOW's request form\n" +
	"• `/latch whoami` — who Latch thinks you are: role, Slack ids, identities\n" +
	"• `/latch help` — this message\n" +
	"Approvers decide with the buttons on the request's message; you get a DM at every step."

// serveCommand answers a slash command within Slack's 3 seconds: help at
// once; /latch and /latch req by opening a modal, the only Web API call made
// before the answer (the form itself when the person is known, else a
// modal that says Latch is looking them up, replaced by the form once they
// are); whoami after the answer, through the command's response_url.
func (a *App) serveCommand(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	cmd, err := ParseSlashCommand(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), ackBudget)
	defer cancel()
	verb, arg := splitCommand(cmd.Text)
	var answer map[string]any
	switch verb {
	case "help":
		answer = ephemeral(helpText)
	case "whoami":
		a.later(ctx, Job{Kind: JobCommand, Body: body})
	case "", "req", "request":
		answer = a.openRequest(ctx, cmd, arg, Job{Kind: JobCommand, Body: body})
	default:
		answer = ephemeral(fmt.Sprintf("`%s %s` is not something Latch knows.\n\n%s", escape(clipPlain(cmd.Command, 50)), escape(clipPlain(cmd.Text, 200)), helpText))
	}
	if answer == nil {
		w.WriteHeader(http.StatusOK) // an empty 200: the modal, or a later message, is the answer
		return
	}
	writeJSON(w, answer)
}

// respond posts text (mrkdwn), shown only to the person who acted, to a
// command's or click's response_url, logging what cannot be posted.
func (a *App) respond(ctx context.Context, responseURL, text string) {
	if responseURL == "" {
		a.Log.WarnContext(ctx, "a message for Slack was dropped: the payload named no response_url", "text", text)
		return
	}
	if err := a.Slack.Respond(ctx, responseURL, text); err != nil {
		a.Log.WarnContext(ctx, "could not answer through response_url", "err", err)
	}
}

// splitCommand splits a slash command's text into its verb and the rest.
func splitCommand(text string) (verb, arg string) {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return "", ""
	}
	return strings.ToLower(fields[0]), strings.Join(fields[1:], " ")
}

// loadingView is the modal opened at once for someone Latch has not looked
// up lately; the form replaces it.
func loadingView() view {
	return messageView(callbackLoading, "Request access", ":hourglass_flowing_sand: Looking you up…")
}

// openRequest opens the flow picker, or the named flow's request form. For
// a person resolved lately it opens the form at once; else it opens a
// loading modal (the one call before the answer) and, after the answer,
// job (the command's, or the shortcut's) looks them up and replaces it with
// the form, or with why they may not request (showRequest).
func (a *App) openRequest(ctx context.Context, cmd *SlashCommand, flowName string, job Job) map[string]any {
	if p, ok := a.cached(cmd.TeamID, cmd.UserID); ok {
		v, refusal := a.requestViewFor(p, flowName)
		if refusal != "" {
			return ephemeral(refusal)
		}
		return a.openView(ctx, cmd, p.user.Email, v)
	}
	id, hash, err := a.Slack.OpenView(ctx, cmd.TriggerID, loadingView())
	if err != nil {
		return a.openFailed(ctx, cmd.UserID, err)
	}
	job.View, job.Hash = id, hash
	a.later(ctx, job)
	return nil
}

// showRequest replaces the loading modal (view id, hash) with the request
// form for cmd's person, or with why they may not request.
func (a *App) showRequest(ctx context.Context, cmd *SlashCommand, flowName, id, hash string) {
	if id == "" {
		return
	}
	var v view
	p, err := a.resolve(ctx, cmd.TeamID, cmd.UserID)
	if err != nil {
		v = messageView(callbackRequest+"_error", "Latch", ":warning: "+escape(a.explain(ctx, err)))
	} else if form, refusal := a.requestViewFor(p, flowName); refusal != "" {
		v = messageView(callbackRequest+"_error", "Latch", refusal)
	} else {
		v = form
	}
	if err := a.Slack.UpdateView(ctx, id, hash, v); err != nil {
		a.Log.WarnContext(ctx, "could not show the request form", "user", cmd.UserID, "err", err)
	}
}

// openView opens v for a command, answering nil when it opened.
func (a *App) openView(ctx context.Context, cmd *SlashCommand, who string, v view) map[string]any {
	if _, _, err := a.Slack.OpenView(ctx, cmd.TriggerID, v); err != nil {
		return a.openFailed(ctx, who, err)
	}
	return nil
}

func (a *App) openFailed(ctx context.Context, who string, err error) map[string]any {
	a.Log.WarnContext(ctx, "could not open the request form", "user", who, "err", err)
	if ErrorCode(err) == "expired_trigger_id" || errors.Is(err, context.DeadlineExceeded) {
		return ephemeral("Slack took too long to open the form. Please run the command again.")
	}
	return ephemeral("Latch could not open the form: " + escape(err.Error()))
}

// requestViewFor is the view p sees for /latch [req flowName]: the picker,
// or a flow's form; or, when p may not request from Slack, why (mrkdwn).
func (a *App) requestViewFor(p person, flowName string) (view, string) {
	if p.connect {
		return view{}, "Slack Connect users cannot request access through Latch: you are a guest here. Ask someone in this workspace to request it for you."
	}
	if p.user.Role == latch.RoleGuest {
		return view{}, escape(latch.ErrorMessageOf(latch.Errorf(latch.KindForbidden, latch.CodeGuestCannotRequest,
			"Guests cannot request access. Ask an admin to make %s a member.", p.user.Email)))
	}
	flows := a.requestable(&p.user)
	if len(flows) == 0 {
		return view{}, "No flow can be requested from Slack. An admin adds flows in Latch's flows directory."
	}
	meta := metaFor(p)
	switch {
	case flowName != "":
		f, ok := findFlow(flows, flowName)
		if !ok {
			return pickerView(flows, fmt.Sprintf(":warning: There is no flow %s that you can request from Slack. Pick one of these.", escape(strconv.Quote(clipPlain(flowName, 100))))), ""
		}
		return requestView(f, meta), ""
	case len(flows) == 1:
		return requestView(flows[0], meta), ""
	}
	return pickerView(flows, ""), ""
}

// requestable returns the flows user may request from Slack, in the
// engine's order.
func (a *App) requestable(user *latch.User) []*latch.Flow {
	var out []*latch.Flow
	for _, f := range a.Engine.Flows().All() {
		if latch.CanRequest(f, user, latch.SourceSlack) == nil {
			out = append(out, f)
		}
	}
	return out
}

// findFlow finds a flow by name or label, case-insensitively.
func findFlow(flows []*latch.Flow, name string) (*latch.Flow, bool) {
	for _, f := range flows {
		if strings.EqualFold(f.Name, name) || strings.EqualFold(f.Label, name) {
			return f, true
		}
	}
	return nil, false
}

// whoami answers who Latch thinks the caller is.
func (a *App) whoami(ctx context.Context, cmd *SlashCommand) map[string]any {
	a.forget(cmd.TeamID, cmd.UserID)
	p, err := a.resolve(ctx, cmd.TeamID, cmd.UserID)
	if err != nil {
		return ephemeral(escape(a.explain(ctx, err)))
	}
	ids, err := a.Store.ListIdentities(ctx, p.user.Email)
	if err != nil {
		return ephemeral(escape(a.explain(ctx, err)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*You are %s* in Latch\n", escape(p.user.Email))
	fmt.Fprintf(&b, "• Latch id: `%s`\n• Role: *%s*", escape(p.user.ID), escape(string(p.user.Role)))
	if p.connect {
		b.WriteString(" (a Slack Connect user from another organisation: always a guest here)")
	}
	fmt.Fprintf(&b, "\n• Slack workspace: `%s`\n• Slack user: `%s`", escape(cmd.TeamID), escape(cmd.UserID))
	if p.slack.TeamID != "" && p.slack.TeamID != cmd.TeamID {
		fmt.Fprintf(&b, " (of workspace `%s`)", escape(p.slack.TeamID))
	}
	if cmd.EnterpriseID != "" {
		fmt.Fprintf(&b, "\n• Enterprise: `%s`", escape(cmd.EnterpriseID))
	}
	if len(ids) == 0 {
		b.WriteString("\n• Identities: none yet. Latch learns them when you are first granted access, or an admin sets them with `latch users set-identity`.")
	} else {
		b.WriteString("\n• Identities:")
		for _, id := range ids {
			fmt.Fprintf(&b, "\n    – %s: `%s` (%s)", escape(id.Service), escape(id.ID), escape(string(id.Source)))
		}
	}
	return ephemeral(b.String())
}

// explain turns an error into words for the person who hit it (plain
// text: escape it where it is shown as mrkdwn); an internal error is logged
// and not shown.
func (a *App) explain(ctx context.Context, err error) string {
	if k := latch.ErrorKindOf(err); k != latch.KindInternal {
		if latch.ErrorCodeOf(err) == latch.CodeRuleError {
			// The person is told which rule failed; admins learn why here.
			a.Log.WarnContext(ctx, "a rule failed when it ran", "err", err)
		}
		return latch.ErrorMessageOf(err)
	}
	a.Log.ErrorContext(ctx, "slack request failed", "err", err)
	return "Something went wrong in Latch; an admin can find the details in its log."
}
