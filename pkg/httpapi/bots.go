package httpapi

import (
	"context"
	"strings"

	"github.com/latchhq/latch/pkg/latch"
)

// botMayRequestFor refuses a bot's request for a person its
// may_request_for rule leaves out. Nothing is recorded about the person
// before the rule is judged.
func (s *Server) botMayRequestFor(ctx context.Context, p Principal, email string) error {
	if p.Bot == "" {
		return nil
	}
	bot, err := s.Tokens.Bot(ctx, p.Bot)
	if err != nil {
		return err
	}
	person, err := s.Engine.Users().Peek(ctx, email)
	if err != nil {
		return err
	}
	return s.Tokens.MayRequestFor(ctx, bot, person)
}

// actor is who acts in a command the principal sends, "as" naming a person.
// A person's or the bootstrap token must name someone. A bot acts as itself
// when "as" is empty or names it; as a person only where its rules allow:
// approve, deny and retry by may_decide_as (default: nobody), and cancel
// and revoke, which take access away, by may_request_for. Whom a refused
// "as" names is not recorded.
func (s *Server) actor(ctx context.Context, p Principal, kind latch.CommandKind, as string) (latch.Actor, error) {
	as = strings.TrimSpace(as)
	if p.Bot == "" {
		if as == "" {
			return latch.Actor{}, &latch.Error{Kind: latch.KindInvalid, Code: "missing_fields",
				Message: "The body must say who acts: {\"as\": \"email\"}.", Details: map[string]any{"as": "is required"}}
		}
		return p.actorFor(as), nil
	}
	bot, err := s.Tokens.Bot(ctx, p.Bot)
	if err != nil {
		return latch.Actor{}, err
	}
	if as == "" || latch.NormalizeEmail(as) == bot.Email {
		return latch.Actor{Email: bot.Email, Bot: bot.Name}, nil
	}
	person, err := s.Engine.Users().Peek(ctx, as)
	if err != nil {
		return latch.Actor{}, err
	}
	if kind == latch.CmdCancel || kind == latch.CmdRevoke || kind == latch.CmdExtend {
		err = s.Tokens.MayRequestFor(ctx, bot, person)
	} else {
		err = s.Tokens.MayDecideAs(ctx, bot, person)
	}
	if err != nil {
		return latch.Actor{}, err
	}
	return p.actorFor(as), nil
}
