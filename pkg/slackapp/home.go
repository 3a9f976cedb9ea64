package slackapp

import (
	"context"
	"fmt"
	"slices"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/slack-go/slack"
)

// maxHomeRequests bounds each list of the Home tab, so that the tab stays
// within Slack's 100 blocks: a header and a note, then three lists of a
// divider, a header, up to two blocks a request and a line saying how many
// more (2 + 3×(2+2×14+1) = 95).
const maxHomeRequests = 14

// openStatuses are the statuses of a request still under way.
var openStatuses = []latch.Status{latch.StatusPending, latch.StatusApproved, latch.StatusScheduled, latch.StatusEscalating, latch.StatusActive, latch.StatusDeescalating}

// publishHome sets the App Home tab of the Slack user userID of team: their
// requests under way and active access (with Revoke where the flow allows
// it) and, for approvers, the requests waiting for them (with Approve and
// Deny).
func (a *App) publishHome(ctx context.Context, team, userID string) {
	p, err := a.resolve(ctx, team, userID)
	var blocks []slack.Block
	if err != nil {
		blocks = []slack.Block{section("", ":warning: "+escape(a.explain(ctx, err)), "")}
	} else {
		blocks = a.homeBlocks(ctx, p)
	}
	home := slack.HomeTabViewRequest{Type: slack.VTHomeTab, CallbackID: "latch_home", Blocks: slack.Blocks{BlockSet: blocks}}
	if err := a.Slack.PublishHome(ctx, userID, home); err != nil {
		a.Log.WarnContext(ctx, "could not publish the App Home tab", "user", userID, "err", err)
	}
}

// homeBlocks are the Home tab's blocks for p.
func (a *App) homeBlocks(ctx context.Context, p person) []slack.Block {
	blocks := []slack.Block{header("Latch"),
		section("", "Request access with `/latch` or the *Request access* shortcut. Approvers decide here or on the request's message.", "")}
	mine, err := a.Store.ListRequests(ctx, latch.RequestFilter{User: p.user.Email, Limit: 100})
	if err != nil {
		a.Log.WarnContext(ctx, "App Home: could not list requests", "user", p.user.Email, "err", err)
	}
	var open, active []latch.Request
	for _, r := range mine {
		switch {
		case r.Status == latch.StatusActive:
			active = append(active, r)
		case slices.Contains(openStatuses, r.Status):
			open = append(open, r)
		}
	}
	blocks = append(blocks, a.homeList(ctx, "active", "Your active access", "No access is active.", active)...)
	blocks = append(blocks, a.homeList(ctx, "open", "Your requests under way", "None.", open)...)
	if p.connect || p.user.Role == latch.RoleGuest {
		return blocks
	}
	pending, err := a.Store.ListRequests(ctx, latch.RequestFilter{Status: latch.StatusPending, Limit: 100})
	if err != nil {
		a.Log.WarnContext(ctx, "App Home: could not list pending requests", "err", err)
	}
	var waiting []latch.Request
	for _, r := range pending {
		cmd := latch.Command{ID: engine.NewID("cmd"), Kind: latch.CmdApprove, RequestID: r.ID, Actor: latch.Actor{Email: p.user.Email},
			Source: latch.SourceSlack, At: a.Clock.Now()}
		if a.Engine.Check(ctx, cmd) == nil { // they may approve it
			waiting = append(waiting, r)
		}
	}
	if len(waiting) > 0 {
		blocks = append(blocks, a.homeList(ctx, "waiting", "Waiting for you", "", waiting)...)
	}
	return blocks
}

// homeList is a titled list of requests, each its summary, status and
// buttons (their block ids made unique with key); empty says so.
func (a *App) homeList(ctx context.Context, key, title, empty string, rs []latch.Request) []slack.Block {
	blocks := []slack.Block{slack.NewDividerBlock(), header(title)}
	if len(rs) == 0 {
		return append(blocks, contextBlock(empty))
	}
	for i, r := range rs {
		if i == maxHomeRequests {
			blocks = append(blocks, contextBlock(fmt.Sprintf("…and %d more: `latch list`.", len(rs)-i)))
			break
		}
		f, err := a.Engine.Flows().Get(r.Flow)
		if err != nil {
			f = &latch.Flow{Name: r.Flow}
		}
		line := fmt.Sprintf("%s for %s · `%s`\n%s", whatOf(f, r), a.who(ctx, latch.Actor{Email: r.Requester.Email}), escape(r.ID), a.status(ctx, f, r))
		blocks = append(blocks, section("", line, seeRequest(r.ID)))
		if key == "open" && r.Status == latch.StatusPending {
			continue // a requester does not decide their own request
		}
		for _, b := range actionBlocks(f, r) {
			if act, ok := b.(*slack.ActionBlock); ok { // buttons only: a Home tab has no reason box
				if key != "waiting" && r.Extension != nil && act.BlockID == "decide" {
					continue // nor their own extension; the access can still be ended
				}
				act.BlockID = clipPlain(act.BlockID+"_"+key+"_"+r.ID, maxID)
				blocks = append(blocks, act)
			}
		}
	}
	return blocks
}
