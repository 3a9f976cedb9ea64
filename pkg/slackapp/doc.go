// Package slackapp is Latch's Slack adapter: the signature check every
// request from Slack passes before anything reads it, and the payloads
// Slack sends (slash commands, interactions, events) as Go types.
//
// Package slacktest holds what tests need to act as Slack: request signing
// and a recording fake of the Slack Web API.
package slackapp
