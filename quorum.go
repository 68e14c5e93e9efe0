package replstore

// quorumLSN returns the highest LSN that at least need of acks have
// reached: the need-th largest value. It returns 0 when need is 0 or
// exceeds len(acks). It reorders acks.
//
// FIRST n passes the acks of the n active members with need n (their
// minimum); ANY n passes every member's ack with need n.
func quorumLSN(acks []LSN, need int) LSN {
	if need <= 0 || need > len(acks) {
		return 0
	}
	// Insertion sort, descending: sync sets are small and this must not
	// allocate.
	for i := 1; i < len(acks); i++ {
		for j := i; j > 0 && acks[j] > acks[j-1]; j-- {
			acks[j], acks[j-1] = acks[j-1], acks[j]
		}
	}
	return acks[need-1]
}
