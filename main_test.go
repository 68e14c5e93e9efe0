package replstore

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind, and
// removes the files of REPLSTORE_TEST_STORAGE=wal runs.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if testCleanup != nil {
			testCleanup()
		}
		os.Exit(code)
	}))
}
