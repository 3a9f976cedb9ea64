package latch_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/latchhq/latch/pkg/latch"
)

func TestErrorHelpers(t *testing.T) {
	cause := errors.New("dial tcp: connection refused")
	denied := latch.Errorf(latch.KindForbidden, latch.CodeSelfApproval, "You cannot approve %s.", "r1")
	tests := []struct {
		name        string
		give        error
		wantKind    latch.ErrorKind
		wantCode    string
		wantMessage string
	}{
		{name: "nil", give: nil, wantKind: latch.KindInternal, wantCode: "internal", wantMessage: "An internal error occurred."},
		{name: "a plain error", give: cause, wantKind: latch.KindInternal, wantCode: "internal", wantMessage: "An internal error occurred."},
		{name: "an *Error", give: denied, wantKind: latch.KindForbidden, wantCode: "self_approval", wantMessage: "You cannot approve r1."},
		{name: "an *Error wrapped with context", give: fmt.Errorf("approve r1: %w", denied),
			wantKind: latch.KindForbidden, wantCode: "self_approval", wantMessage: "You cannot approve r1."},
		{name: "an *Error wrapped twice", give: fmt.Errorf("handle: %w", fmt.Errorf("approve r1: %w", denied)),
			wantKind: latch.KindForbidden, wantCode: "self_approval", wantMessage: "You cannot approve r1."},
		{name: "the first *Error in the chain wins", give: &latch.Error{Kind: latch.KindConflict, Code: "outer", Message: "Outer.", Err: denied},
			wantKind: latch.KindConflict, wantCode: "outer", wantMessage: "Outer."},
		{name: "an *Error without code or message", give: &latch.Error{Kind: latch.KindNotFound},
			wantKind: latch.KindNotFound, wantCode: "internal", wantMessage: "An internal error occurred."},
		{name: "a store sentinel", give: fmt.Errorf("get r1: %w", latch.ErrNotFound),
			wantKind: latch.KindNotFound, wantCode: "not_found", wantMessage: "Not found."},
		{name: "a version conflict", give: latch.ErrConflict, wantKind: latch.KindConflict, wantCode: "version_conflict",
			wantMessage: "The item changed; try again."},
		{name: "a duplicate", give: latch.ErrDuplicate, wantKind: latch.KindConflict, wantCode: "duplicate", wantMessage: "Already done."},
		{name: "joined errors", give: errors.Join(cause, denied),
			wantKind: latch.KindForbidden, wantCode: "self_approval", wantMessage: "You cannot approve r1."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diff(t, "kind", tt.wantKind, latch.ErrorKindOf(tt.give))
			diff(t, "code", tt.wantCode, latch.ErrorCodeOf(tt.give))
			diff(t, "message", tt.wantMessage, latch.ErrorMessageOf(tt.give))
		})
	}
}

func TestErrorString(t *testing.T) {
	cause := errors.New("boom")
	tests := []struct {
		name string
		give *latch.Error
		want string
	}{
		{name: "without a cause", give: &latch.Error{Code: "c", Message: "M."}, want: "c: M."},
		{name: "with a cause", give: &latch.Error{Code: "c", Message: "M.", Err: cause}, want: "c: M.: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diff(t, "error", tt.want, tt.give.Error())
			if tt.give.Err != nil && !errors.Is(tt.give, cause) {
				t.Errorf("the cause is not unwrapped")
			}
		})
	}
}

func TestPermanent(t *testing.T) {
	cause := errors.New("403 Forbidden")
	tests := []struct {
		name string
		give error
		want bool
	}{
		{name: "nil", give: nil},
		{name: "a plain error", give: cause},
		{name: "marked", give: latch.Permanent(cause), want: true},
		{name: "marked, then wrapped", give: fmt.Errorf("grant g1: %w", latch.Permanent(cause)), want: true},
		{name: "marked twice", give: latch.Permanent(latch.Permanent(cause)), want: true},
		{name: "an *Error marked", give: latch.Permanent(latch.ErrNotFound), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diff(t, "permanent", tt.want, latch.IsPermanent(tt.give))
		})
	}

	t.Run("nil stays nil", func(t *testing.T) {
		if err := latch.Permanent(nil); err != nil {
			t.Errorf("Permanent(nil) = %v", err)
		}
	})
	t.Run("the mark keeps the message and the cause", func(t *testing.T) {
		err := latch.Permanent(cause)
		diff(t, "message", cause.Error(), err.Error())
		if !errors.Is(err, cause) {
			t.Error("the cause is not unwrapped")
		}
		wrapped := latch.Permanent(fmt.Errorf("revoke: %w", latch.ErrNotFound))
		diff(t, "kind through the mark", latch.KindNotFound, latch.ErrorKindOf(wrapped))
	})
}
