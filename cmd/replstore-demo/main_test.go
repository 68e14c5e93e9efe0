package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemo runs the whole story and checks that it says what README
// promises: LSN 1 explained, sync vs async, the failover with nothing
// acknowledged lost, and the old leader's rollback. run itself fails if
// the cluster does anything else (a write lost, another node promoted,
// another entry rolled back).
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 3, false); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"LSN 1 is epoch 1's first entry",
		"n3 store: sat/CSS/elements not there yet",
		"errors.Is(err, ErrNotAcknowledged) = true",
		"event: failover-started on coordinator (epoch 2",
		"event: promoted on coordinator (epoch 2, LSN 0) peer n2",
		"is epoch 2's first entry",
		"every acknowledged write is on n2 at the Position its writer was told: 12 of 12 (lost: 0)",
		"event: rolled-back on n1 (epoch 2",
		"dropped [1:15]",
		"sat/ISS/debris-alert is gone",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out.String())
		}
	}
}
