package slackapp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// JobKind says which of Slack's payloads a Job carries.
type JobKind string

// The kinds of Job: the route the payload came to.
const (
	JobCommand     JobKind = "command"     // a slash command's form body (/slack/commands)
	JobInteraction JobKind = "interaction" // an interaction's form body, payload=… (/slack/interactions)
	JobEvent       JobKind = "event"       // an Events API JSON body (/slack/events)
)

// Job is the work that follows an answer to Slack, as data: the verified
// body of the request that was answered, and what the answer left for the
// work to finish (the loading modal it opened). RunJob does the work from
// it; the same code runs it whether the work stays in the process that
// answered (latch server, Socket Mode) or is handed to a queue by
// App.Defer (the Slack function on Lambda, which freezes once it has
// answered).
type Job struct {
	Kind JobKind
	// Body is the request's body as Slack sent it, after its signature was
	// checked (or as it arrived over Latch's own Socket Mode connection).
	Body []byte
	// View and Hash are the modal opened before the answer (the loading
	// modal that the request form replaces), if any.
	View, Hash string
}

// MaxJob bounds an encoded job: what a Lambda asynchronous invocation's
// payload, and an SQS message, holds (256 KB). A job that would be larger
// is not queued: its work runs through After instead.
const MaxJob = 256 << 10

// jobMaxAge is how long an encoded job is accepted after it was made:
// Slack accepts messages to a response_url for 30 minutes.
const jobMaxAge = 30 * time.Minute

// jobWire is a Job as EncodeJob writes it. MAC authenticates the rest with
// a key derived from the signing secret, so that only a holder of the
// secret (the Slack function itself) can make a job, and the body a job
// carries is the one whose signature was checked.
type jobWire struct {
	Version int       `json:"latch_slack_job"`
	Kind    JobKind   `json:"kind"`
	Body    string    `json:"body"`
	View    string    `json:"view,omitempty"`
	Hash    string    `json:"hash,omitempty"`
	At      time.Time `json:"at"`
	MAC     string    `json:"mac"`
}

// jobVersion is the version of the job encoding.
const jobVersion = 1

// IsJob reports whether b looks like an encoded job (its version field is
// set), for a Lambda handler that receives both jobs and other events.
func IsJob(b []byte) bool {
	var probe struct {
		Version int `json:"latch_slack_job"`
	}
	return json.Unmarshal(b, &probe) == nil && probe.Version != 0
}

// EncodeJob encodes job for a queue, stamped with the app's time and
// authenticated with its signing secret. It fails when the app has no
// signing secret, the kind is unknown, or the encoding exceeds MaxJob.
func (a *App) EncodeJob(job Job) ([]byte, error) {
	a.init()
	if len(a.SigningSecret) == 0 {
		return nil, errors.New("slack job: the app has no signing secret to authenticate it with")
	}
	if !job.Kind.valid() {
		return nil, fmt.Errorf("slack job: unknown kind %q", job.Kind)
	}
	w := jobWire{Version: jobVersion, Kind: job.Kind, Body: string(job.Body), View: job.View, Hash: job.Hash,
		At: a.Clock.Now().UTC().Truncate(time.Millisecond)}
	w.MAC = a.jobMAC(w)
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("slack job: %w", err)
	}
	if len(b) > MaxJob {
		return nil, fmt.Errorf("slack job: %d bytes encoded, more than %d", len(b), MaxJob)
	}
	return b, nil
}

// DecodeJob reads a job EncodeJob wrote. It fails for a job larger than
// MaxJob, not authenticated by this app's signing secret (made by someone
// else, or before the secret was rotated), older than 30 minutes, or of
// an unknown version or kind; such a job is not to be retried.
func (a *App) DecodeJob(b []byte) (Job, error) {
	a.init()
	if len(b) > MaxJob {
		return Job{}, fmt.Errorf("slack job: %d bytes, more than %d", len(b), MaxJob)
	}
	var w jobWire
	if err := json.Unmarshal(b, &w); err != nil {
		return Job{}, fmt.Errorf("slack job: %w", err)
	}
	if w.Version != jobVersion {
		return Job{}, fmt.Errorf("slack job: version %d, want %d", w.Version, jobVersion)
	}
	if len(a.SigningSecret) == 0 || !hmac.Equal([]byte(w.MAC), []byte(a.jobMAC(w))) {
		return Job{}, errors.New("slack job: not made by this app (its authentication does not match the signing secret)")
	}
	if !w.Kind.valid() {
		return Job{}, fmt.Errorf("slack job: unknown kind %q", w.Kind)
	}
	if age := a.Clock.Now().Sub(w.At); age > jobMaxAge {
		return Job{}, fmt.Errorf("slack job: made %s ago, after Slack stopped accepting its answers", age.Round(time.Second))
	}
	return Job{Kind: w.Kind, Body: []byte(w.Body), View: w.View, Hash: w.Hash}, nil
}

func (k JobKind) valid() bool { return k == JobCommand || k == JobInteraction || k == JobEvent }

// jobMAC is the authentication of a job's fields: HMAC-SHA256 with a key
// of its own derived from the signing secret, over the fields each
// prefixed with its length.
func (a *App) jobMAC(w jobWire) string {
	key := hmac.New(sha256.New, a.SigningSecret)
	key.Write([]byte("latch slack job"))
	m := hmac.New(sha256.New, key.Sum(nil))
	for _, f := range []string{strconv.Itoa(w.Version), string(w.Kind), w.Body, w.View, w.Hash, w.At.UTC().Format(time.RFC3339Nano)} {
		fmt.Fprintf(m, "%d:%s", len(f), f)
	}
	return hex.EncodeToString(m.Sum(nil))
}

// RunJob does the work that follows the answer to the request job carries:
// the rest of a command (whoami's answer, the request form replacing the
// loading modal), a click (a flow picked, Approve, Deny, Revoke), or an
// event (the Home tab published). It is the one path of that work, in
// process and from a queue. It returns an error only when the body cannot
// be read; what goes wrong in the work itself is told to the person or
// logged, as after any answer.
func (a *App) RunJob(ctx context.Context, job Job) error {
	a.init()
	switch job.Kind {
	case JobCommand:
		cmd, err := ParseSlashCommand(job.Body)
		if err != nil {
			return fmt.Errorf("slack job: %w", err)
		}
		verb, arg := splitCommand(cmd.Text)
		switch verb {
		case "whoami":
			a.respond(ctx, cmd.ResponseURL, a.whoami(ctx, cmd)["text"].(string))
		case "", "req", "request":
			a.showRequest(ctx, cmd, arg, job.View, job.Hash)
		}
	case JobInteraction:
		in, err := ParseInteraction(job.Body)
		if err != nil {
			return fmt.Errorf("slack job: %w", err)
		}
		switch in.Type {
		case InteractionBlockActions:
			a.act(ctx, in)
		case InteractionShortcut:
			a.showRequest(ctx, shortcutCommand(in), "", job.View, job.Hash)
		}
	case JobEvent:
		ev, err := ParseEvent(job.Body)
		if err != nil {
			return fmt.Errorf("slack job: %w", err)
		}
		if user, ok := homeOpened(ev); ok {
			a.publishHome(ctx, ev.TeamID, user)
		}
	default:
		return fmt.Errorf("slack job: unknown kind %q", job.Kind)
	}
	return nil
}
