//go:build !race

package services_test

const liveRace = false
