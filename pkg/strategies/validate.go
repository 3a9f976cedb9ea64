package strategies

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// TargetTimeout bounds the check of one target by ValidateTargets.
const TargetTimeout = 30 * time.Second

// TargetProblem is one target that failed its strategy's check.
type TargetProblem struct {
	Flow, File, Target string
	Err                error
}

func (p TargetProblem) Error() string {
	return fmt.Sprintf("%s: flow %q, target %q: %v", p.File, p.Flow, p.Target, p.Err)
}

func (p TargetProblem) Unwrap() error { return p.Err }

// ValidateTargets asks the target system whether each target of each flow
// exists, for flows whose strategy's escalator is a latch.Validator (e.g.
// aws_iam: the IAM group exists). Flows of other strategies, and
// approval-only flows, are skipped without building their escalator. It
// returns every problem joined (each a TargetProblem; latch.IsPermanent
// tells a target that is wrong from one that could not be checked), or nil.
func ValidateTargets(ctx context.Context, loaded []*latch.Flow, escalator func(*latch.Flow) (latch.Escalator, error)) error {
	var errs []error
	for _, f := range loaded {
		if f.Strategy == nil {
			continue
		}
		s, ok := Get(f.Strategy.Type)
		if !ok || !s.Validates {
			continue
		}
		esc, err := escalator(f)
		if err != nil {
			errs = append(errs, TargetProblem{Flow: f.Name, File: f.File, Target: "*", Err: err})
			continue
		}
		v, ok := esc.(latch.Validator)
		if !ok {
			continue
		}
		for _, t := range f.Strategy.Targets {
			tctx, cancel := context.WithTimeout(ctx, TargetTimeout)
			err := safeValidate(tctx, v, t)
			cancel()
			if err != nil {
				errs = append(errs, TargetProblem{Flow: f.Name, File: f.File, Target: t.ID, Err: err})
			}
		}
	}
	return errors.Join(errs...)
}

func safeValidate(ctx context.Context, v latch.Validator, t latch.Target) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("validating the target panicked: %v", r)
		}
	}()
	return v.Validate(ctx, t)
}

// Problems splits the error of ValidateTargets into the targets that are
// wrong (a permanent answer: fix the flow or the target system) and those
// that could not be checked (the target system did not answer).
func Problems(err error) (wrong, unchecked []TargetProblem) {
	if err == nil {
		return nil, nil
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		var p TargetProblem
		if !errors.As(e, &p) {
			p = TargetProblem{Target: "*", Err: e}
		}
		if latch.IsPermanent(p.Err) {
			wrong = append(wrong, p)
		} else {
			unchecked = append(unchecked, p)
		}
	}
	return wrong, unchecked
}

// sessionWarner is an optional ability of an escalator: a warning about a
// target whose access can outlast its grant by more than Latch's revoke
// controls (aws_sso: a permission set whose session duration is longer than
// the flow's longest grant, so a session started during a grant can live on
// after the revoke).
type sessionWarner interface {
	SessionWarning(ctx context.Context, t latch.Target, longest time.Duration) (string, error)
}

// SessionWarnings asks, for each target of each flow whose escalator can
// tell (sessionWarner), whether access can outlast the flow's longest grant
// (the duration field's maximum). Flows without a maximum are skipped: their
// grants have no longest. A target system that does not answer is left out
// (ValidateTargets reports it). Each warning names the file, flow and
// target.
func SessionWarnings(ctx context.Context, loaded []*latch.Flow, escalator func(*latch.Flow) (latch.Escalator, error)) []string {
	var out []string
	for _, f := range loaded {
		if f.Strategy == nil {
			continue
		}
		if s, ok := Get(f.Strategy.Type); !ok || !s.Validates {
			continue
		}
		longest, ok := longestGrant(f)
		if !ok {
			continue
		}
		esc, err := escalator(f)
		if err != nil {
			continue
		}
		w, ok := esc.(sessionWarner)
		if !ok {
			continue
		}
		for _, t := range f.Strategy.Targets {
			tctx, cancel := context.WithTimeout(ctx, TargetTimeout)
			msg, err := safeWarn(tctx, w, t, longest)
			cancel()
			if err == nil && msg != "" {
				out = append(out, fmt.Sprintf("%s: flow %q: %s", f.File, f.Name, msg))
			}
		}
	}
	return out
}

// longestGrant is the longest grant a flow allows: the duration field's
// maximum, or its largest allowed value.
func longestGrant(f *latch.Flow) (time.Duration, bool) {
	fd, ok := f.Field(latch.FieldNameDuration)
	if !ok {
		return 0, false
	}
	if fd.Max != nil {
		return time.Duration(*fd.Max) * time.Second, true
	}
	var longest int64
	for _, v := range fd.AllowedValues {
		if n, ok := v.(int64); ok && n > longest {
			longest = n
		}
	}
	return time.Duration(longest) * time.Second, longest > 0
}

func safeWarn(ctx context.Context, w sessionWarner, t latch.Target, longest time.Duration) (msg string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("checking the session duration panicked: %v", r)
		}
	}()
	return w.SessionWarning(ctx, t, longest)
}
