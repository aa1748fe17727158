//go:build race

package stripeevent_test

const raceEnabled = true
