//go:build race

package main

// raceEnabled: the test binary is built with -race, so the app built by
// TestSynthCommand is too, and reuses the compiled packages of this build.
const raceEnabled = true
