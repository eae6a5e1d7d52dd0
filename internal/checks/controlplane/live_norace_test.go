//go:build !race

package controlplane_test

const liveRace = false
