package replstore

// SetTestStorage makes every Config that leaves NewLogStore and
// NewHardState unset use these (walsuite_test.go sets them to package
// wal's files); cleanup runs when the tests end. Test builds only.
func SetTestStorage(log func(NodeID) (LogStore, error), hard func(NodeID) (HardStateStore, error), cleanup func()) {
	testLogStore, testHardState, testCleanup = log, hard, cleanup
}

var testCleanup func()
