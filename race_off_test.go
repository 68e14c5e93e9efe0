//go:build !race

package replstore

// raceEnabled: this test binary runs under the race detector.
const raceEnabled = false
