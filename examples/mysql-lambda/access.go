package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/latchhq/latch/pkg/escalator/webhook"
)

// Answer is the function's answer, as docs/strategies/aws_lambda.md has it:
// errors refuse for good; body is kept in Latch's audit trail, so it never
// holds the password.
type Answer struct {
	Errors []string `json:"errors,omitempty"`
	Body   *Body    `json:"body,omitempty"`
}

// Body is what the audit trail keeps of a grant.
type Body struct {
	User       string   `json:"mysql_user"`
	Host       string   `json:"mysql_host"`
	Database   string   `json:"database,omitempty"`
	Privileges []string `json:"privileges,omitempty"`
	Password   string   `json:"password_delivered_by"` // where the password went, never the password
	Killed     int      `json:"sessions_killed,omitempty"`
}

// Messenger hands the password to the person, out of band.
type Messenger interface {
	// SendPassword sends a direct message to the person with this email.
	// It must not log the text.
	SendPassword(ctx context.Context, email, text string) error
}

// Access grants and revokes temporary MySQL users.
type Access struct {
	DB        *sql.DB // as an administrator: CREATE USER, GRANT, DROP USER, PROCESS, CONNECTION ADMIN
	Messenger Messenger
	Log       *slog.Logger
	// Host is the address people connect to, as told in the DM.
	Host string
}

// Target settings, from the flow's target.
type settings struct {
	Database   string
	Privileges []string
	From       string // the MySQL host part of the account: where people connect from
}

// allowed privileges: a flow asks for table-level access, never for
// administration.
var allowed = []string{"SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE", "SHOW VIEW", "CREATE TEMPORARY TABLES", "LOCK TABLES"}

var (
	identifier = regexp.MustCompile(`^[A-Za-z0-9_$]{1,64}$`)
	hostPart   = regexp.MustCompile(`^[A-Za-z0-9.%_:-]{1,255}$`)
)

// errRefused marks a request this function will never grant: answered as
// {"errors": [...]}, which fails the step without retries.
type errRefused struct{ msg string }

func (e errRefused) Error() string { return e.msg }

func parseSettings(m map[string]any) (settings, error) {
	s := settings{From: "%"}
	db, _ := m["database"].(string)
	if !identifier.MatchString(db) {
		return s, errRefused{"target setting database must be a database name (letters, digits, _ and $)"}
	}
	s.Database = db
	raw, _ := m["privileges"].([]any)
	if len(raw) == 0 {
		return s, errRefused{"target setting privileges must list at least one of " + strings.Join(allowed, ", ")}
	}
	for _, p := range raw {
		ps, _ := p.(string)
		ps = strings.ToUpper(strings.TrimSpace(ps))
		if !slices.Contains(allowed, ps) {
			return s, errRefused{fmt.Sprintf("privilege %q is not one this function grants (%s)", p, strings.Join(allowed, ", "))}
		}
		if !slices.Contains(s.Privileges, ps) {
			s.Privileges = append(s.Privileges, ps)
		}
	}
	if h, ok := m["from"].(string); ok {
		if !hostPart.MatchString(h) {
			return s, errRefused{"target setting from must be a MySQL host pattern such as 10.0.% or %"}
		}
		s.From = h
	}
	return s, nil
}

// UserName is the MySQL user of a grant: the same for every attempt, so a
// repeat finds what the first made, and at most 32 characters (MySQL 8's
// limit).
func UserName(grantID string) string {
	sum := sha256.Sum256([]byte(grantID))
	return "latch_" + hex.EncodeToString(sum[:])[:20]
}

// Handle answers one call from Latch.
func (a *Access) Handle(ctx context.Context, p webhook.Payload) (Answer, error) {
	log := a.Log.With("grant", p.Grant.ID, "action", string(p.Action))
	s, err := parseSettings(p.Grant.Target.Settings)
	if err == nil && p.Grant.ID == "" {
		err = errRefused{"the payload has no grant id"}
	}
	var refused errRefused
	if errors.As(err, &refused) {
		log.Warn("refused", "reason", refused.msg)
		return Answer{Errors: []string{refused.msg}}, nil
	}
	switch p.Action {
	case webhook.ActionEscalate:
		return a.escalate(ctx, log, p, s)
	case webhook.ActionDeescalate:
		return a.deescalate(ctx, log, p, s)
	}
	return Answer{Errors: []string{fmt.Sprintf("unknown action %q", p.Action)}}, nil
}

// escalate creates the user (or, on a repeat, gives it a new password),
// grants the privileges and sends the password to the person. An error is
// returned (a function error, which Latch retries) when the DM fails: the
// retry sets and sends a new password.
func (a *Access) escalate(ctx context.Context, log *slog.Logger, p webhook.Payload, s settings) (Answer, error) {
	user := UserName(p.Grant.ID)
	password, err := a.password()
	if err != nil {
		return Answer{}, err
	}
	account := fmt.Sprintf("'%s'@'%s'", user, s.From) // both checked against strict patterns
	conn, err := a.DB.Conn(ctx)
	if err != nil {
		return Answer{}, fmt.Errorf("connect to MySQL: %w", err)
	}
	defer conn.Close()
	// The password is a parameter: the driver escapes it (interpolateParams)
	// and it never appears in an error message of ours.
	if _, err := conn.ExecContext(ctx, "CREATE USER IF NOT EXISTS "+account+" IDENTIFIED BY ?", password); err != nil {
		return Answer{}, fmt.Errorf("create user %s: %w", user, scrub(err, password))
	}
	if _, err := conn.ExecContext(ctx, "ALTER USER "+account+" IDENTIFIED BY ?", password); err != nil {
		return Answer{}, fmt.Errorf("set the password of %s: %w", user, scrub(err, password))
	}
	grant := fmt.Sprintf("GRANT %s ON `%s`.* TO %s", strings.Join(s.Privileges, ", "), s.Database, account)
	if _, err := conn.ExecContext(ctx, grant); err != nil {
		return Answer{}, fmt.Errorf("grant %s: %w", user, err)
	}
	text := fmt.Sprintf("Your MySQL access to %s is ready (%s).\nHost: %s\nUser: %s\nPassword: %s\nIt ends %s; the account is then dropped and its sessions closed.",
		s.Database, strings.Join(s.Privileges, ", "), a.Host, user, password, ends(p))
	if err := a.Messenger.SendPassword(ctx, p.Grant.User.Email, text); err != nil {
		// Retried by Latch with a new password; this one is never used.
		return Answer{}, fmt.Errorf("send the password of %s by Slack DM: %w", user, scrub(err, password))
	}
	log.Info("granted", "mysql_user", user, "database", s.Database, "privileges", s.Privileges)
	return Answer{Body: &Body{User: user, Host: s.From, Database: s.Database, Privileges: s.Privileges, Password: "slack_dm"}}, nil
}

// deescalate drops the user, so no new session can start, then kills the
// sessions it still has. A user already gone is success.
func (a *Access) deescalate(ctx context.Context, log *slog.Logger, p webhook.Payload, s settings) (Answer, error) {
	user := UserName(p.Grant.ID)
	account := fmt.Sprintf("'%s'@'%s'", user, s.From)
	if _, err := a.DB.ExecContext(ctx, "DROP USER IF EXISTS "+account); err != nil {
		return Answer{}, fmt.Errorf("drop user %s: %w", user, err)
	}
	killed, err := a.killSessions(ctx, user)
	if err != nil {
		return Answer{}, err
	}
	log.Info("revoked", "mysql_user", user, "sessions_killed", killed)
	return Answer{Body: &Body{User: user, Host: s.From, Password: "slack_dm", Killed: killed}}, nil
}

// killSessions ends every connection of user and returns once none is
// left. KILL only marks a session: the server ends it a moment later, and a
// login that passed its password check just before the DROP USER may show up
// after the first listing. So it lists and kills until the list is empty;
// one that ended by itself meanwhile is fine. It gives up after
// sessionsGoneWithin, and the error makes Latch try the revoke again.
func (a *Access) killSessions(ctx context.Context, user string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, sessionsGoneWithin)
	defer cancel()
	killed := 0
	asked := map[uint64]bool{}
	for {
		ids, err := a.sessions(ctx, user)
		if err != nil {
			return killed, err
		}
		if len(ids) == 0 {
			return killed, nil
		}
		for _, id := range ids {
			if asked[id] {
				continue // marked, still ending
			}
			_, err := a.DB.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id))
			var me *mysql.MySQLError
			if errors.As(err, &me) && me.Number == 1094 { // ER_NO_SUCH_THREAD: it ended meanwhile
				continue
			}
			if err != nil {
				return killed, fmt.Errorf("kill session %d of %s: %w", id, user, err)
			}
			asked[id] = true
			killed++
		}
		select {
		case <-ctx.Done():
			return killed, fmt.Errorf("%d sessions of %s still open after KILL: %w", len(ids), user, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sessionsGoneWithin bounds how long a revoke waits for killed sessions to end.
const sessionsGoneWithin = 10 * time.Second

// sessions lists the connection ids of user.
func (a *Access) sessions(ctx context.Context, user string) ([]uint64, error) {
	rows, err := a.DB.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", user)
	if err != nil {
		return nil, fmt.Errorf("list the sessions of %s: %w", user, err)
	}
	defer rows.Close()
	var ids []uint64
	for rows.Next() {
		var id uint64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list the sessions of %s: %w", user, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the sessions of %s: %w", user, err)
	}
	return ids, nil
}

// password is 26 random base32 characters (128 bits).
func (a *Access) password() (string, error) {
	return rand.Text(), nil
}

func ends(p webhook.Payload) string {
	if p.Grant.EndsAt == nil {
		return "when the access is revoked"
	}
	return "at " + p.Grant.EndsAt.UTC().Format("2006-01-02 15:04 UTC")
}

// scrub removes the password from an error's text, should a driver or
// server ever echo the statement.
func scrub(err error, password string) error {
	if err == nil || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "[password]"))
}
