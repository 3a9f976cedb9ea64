// Command mysql-lambda is an example of a customer's function for Latch's
// aws_lambda strategy: it gives a person a MySQL account of their own for
// the time of a grant. Escalate creates the user with the privileges the
// flow's target names and a random password, sent to the person in a Slack
// direct message by this function itself, so the password never reaches
// Latch, its logs or its audit trail. Deescalate drops the user and kills its
// sessions. See README.md.
//
// Settings (environment): MYSQL_ADMIN_DSN, the administrator's DSN
// (go-sql-driver form, user:password@tcp(host:3306)/); MYSQL_HOST, the
// address people connect to, as told in the DM; SLACK_BOT_TOKEN, the bot
// token that sends the DM. In production keep the DSN and the token in
// Secrets Manager and read them at start.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/go-sql-driver/mysql"

	"github.com/latchhq/latch/pkg/escalator/webhook"
)

// openDB opens the administrator's connection. Parameters are interpolated
// by the driver (CREATE USER and ALTER USER cannot be prepared with a
// password placeholder on every server).
func openDB(dsn string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("MYSQL_ADMIN_DSN is not a DSN") // the DSN holds a password: never echoed
	}
	cfg.InterpolateParams = true
	cfg.Timeout = 10 * time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	return db, nil
}

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	db, err := openDB(os.Getenv("MYSQL_ADMIN_DSN"))
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(1)
	}
	a := &Access{DB: db, Log: log, Host: os.Getenv("MYSQL_HOST"),
		Messenger: SlackDM{Token: os.Getenv("SLACK_BOT_TOKEN"), APIURL: os.Getenv("SLACK_API_URL")}}
	lambda.Start(func(ctx context.Context, p webhook.Payload) (Answer, error) { return a.Handle(ctx, p) })
}
