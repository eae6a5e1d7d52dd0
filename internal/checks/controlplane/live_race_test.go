//go:build race

package controlplane_test

// liveRace is set when the race detector slows everything down: timing
// assertions are skipped then.
const liveRace = true
