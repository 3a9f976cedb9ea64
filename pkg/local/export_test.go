package local

import "time"

// SetHandoffFresh sets how long a revoke handed over may wait and still act
// on the grant it was handed, until the test ends.
func SetHandoffFresh(d time.Duration) (restore func()) {
	old := handoffFresh
	handoffFresh = d
	return func() { handoffFresh = old }
}
