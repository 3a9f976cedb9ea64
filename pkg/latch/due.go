package latch

import "time"

// DueGrant is an open grant as a store's index of due work has it: what
// re-arming its runner needs, without the grant.
type DueGrant struct {
	ID     string
	Status GrantStatus
	At     time.Time // the next lease end of an active grant; zero for the others (due at once)
}
