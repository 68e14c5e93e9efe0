package replstore

import (
	"testing"

	"pgregory.net/rapid"
)

func TestZZHuntApplied(t *testing.T) {
	withRapidChecks(t, simSchedules(t))
	rapid.Check(t, func(t *rapid.T) {
		s := simScheduleGen.Draw(t, "schedule")
		s.P.Ack = Applied
		res := runSimSchedule(s)
		if res.err != nil && knownBug(res.err) == nil {
			t.Fatal(simFailure(s, res))
		}
	})
}
