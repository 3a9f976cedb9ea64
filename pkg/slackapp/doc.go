// Package slackapp is Latch's Slack adapter: the signature check every
// request from Slack passes before anything reads it, the payloads Slack
// sends (slash commands, interactions, events) as Go types, the answers to
// them, and the Notifier that posts and updates approval messages, thread
// replies and DMs.
//
// It is built on github.com/slack-go/slack: its Web API client (with
// slack.OptionAPIURL for GovSlack and tests) makes every call, and every
// view and message is slack-go's typed Block Kit. Three parts stay Latch's
// own, for reasons:
//
//   - The signature check (Verify). slack.SecretsVerifier compares the
//     request's timestamp with time.Now and cannot be given a clock, so the
//     5-minute window could not be tested with the injected latch.Clock, and
//     it does not bound the body it reads.
//   - Inbound payloads (Interaction, SlashCommand, Event).
//     slack.InteractionCallback decodes view.state.values as a map, and Slack
//     sends an empty list for a form without inputs: the submission would
//     fail to decode (TestSlackGoRefusesAnEmptyListOfValues watches for
//     slack-go learning that shape).
//   - The Socket Mode loop (RunSocketMode). slack-go's socketmode decodes
//     each interactive envelope into slack.InteractionCallback too, and drops
//     one it cannot decode without acknowledging it, so such a submission
//     would be lost. The connection itself is opened through slack-go
//     (apps.connections.open).
//
// Outside text is escaped where it is shown (escape; mention and link build
// Latch's own tokens), and every builder keeps to Slack's limits, which
// package blockkit knows. Commands and clicks are answered within Slack's 3
// seconds: views.open is the only Web API call made before an answer, and
// the rest runs after it: a Job (the verified body and its kind) that
// RunJob does, in process (App.After) or from a queue (App.Defer, with
// EncodeJob and DecodeJob), as a Lambda needs.
//
// Package slacktest holds what tests need to act as Slack: request signing,
// payloads as Slack sends them, and a recording fake of the Slack Web API
// that refuses what Slack refuses.
package slackapp
