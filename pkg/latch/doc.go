// Package latch is the domain of Latch: the nouns (Flow, Request, Grant, User,
// AuditEvent), the pure request lifecycle (Request.Apply and the Grant lease
// functions), the effects a change asks for, and the ports (Store, Queue,
// GrantRunner, Escalator, Notifier, Clock) that adapters implement.
//
// It depends on nothing else in the project and does no I/O. Adapters live in
// sibling packages and import this one, never each other; wiring happens only
// in functions/* and cmd/latch.
package latch
