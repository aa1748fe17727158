//go:build !race

package stripeevent_test

const raceEnabled = false
