package slackapp

import (
	"context"
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

// serveCommand answers a slash command. Forms open synchronously
// (views.open must be called within 3 seconds of the trigger); everything
// else is answered in the response body.
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
	ctx := r.Context()
	verb, arg := splitCommand(cmd.Text)
	var answer map[string]any
	switch verb {
	case "help":
		answer = ephemeral(helpText)
	case "whoami":
		answer = a.whoami(ctx, cmd)
	case "", "req", "request":
		answer = a.openRequest(ctx, cmd, arg)
	default:
		answer = ephemeral(fmt.Sprintf("`%s %s` is not something Latch knows.\n\n%s", escape(clipPlain(cmd.Command, 50)), escape(clipPlain(cmd.Text, 200)), helpText))
	}
	if answer == nil {
		w.WriteHeader(http.StatusOK) // an empty 200: the modal is the answer
		return
	}
	writeJSON(w, answer)
}

// splitCommand splits a slash command's text into its verb and the rest.
func splitCommand(text string) (verb, arg string) {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return "", ""
	}
	return strings.ToLower(fields[0]), strings.Join(fields[1:], " ")
}

// openRequest opens the flow picker, or the named flow's request form.
func (a *App) openRequest(ctx context.Context, cmd *SlashCommand, flowName string) map[string]any {
	p, err := a.resolve(ctx, cmd.TeamID, cmd.UserID)
	if err != nil {
		return ephemeral(escape(a.explain(ctx, err)))
	}
	if p.connect {
		return ephemeral("Slack Connect users cannot request access through Latch: you are a guest here. Ask someone in this workspace to request it for you.")
	}
	if p.user.Role == latch.RoleGuest {
		return ephemeral(escape(latch.ErrorMessageOf(latch.Errorf(latch.KindForbidden, latch.CodeGuestCannotRequest,
			"Guests cannot request access. Ask an admin to make %s a member.", p.user.Email))))
	}
	flows := a.requestable(&p.user)
	if len(flows) == 0 {
		return ephemeral("No flow can be requested from Slack. An admin adds flows in Latch's flows directory.")
	}
	var view map[string]any
	switch {
	case flowName != "":
		f, ok := findFlow(flows, flowName)
		if !ok {
			view = pickerView(flows, fmt.Sprintf(":warning: There is no flow %s that you can request from Slack. Pick one of these.", escape(strconv.Quote(clipPlain(flowName, 100)))))
			break
		}
		view = requestView(f, nil)
	case len(flows) == 1:
		view = requestView(flows[0], nil)
	default:
		view = pickerView(flows, "")
	}
	if _, err := a.Slack.OpenView(ctx, cmd.TriggerID, view); err != nil {
		a.Log.WarnContext(ctx, "could not open the request form", "user", p.user.Email, "err", err)
		if ErrorCode(err) == "expired_trigger_id" {
			return ephemeral("Slack took too long to open the form. Please run the command again.")
		}
		return ephemeral("Latch could not open the form: " + escape(err.Error()))
	}
	return nil
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
		return latch.ErrorMessageOf(err)
	}
	a.Log.ErrorContext(ctx, "slack request failed", "err", err)
	return "Something went wrong in Latch; an admin can find the details in its log."
}
