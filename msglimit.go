package replstore

import "fmt"

// Message size limits. A transport that drops a message over a size
// (BoundedTransport) must never be handed a write it cannot carry: the
// leader would append it, resend it forever, and commit nothing after
// it. NewNode refuses such a configuration. A single entry is not the
// only risk: MaxBatch and MaxInflight cap an append by count alone, so a
// follower catching up could be sent a batch of small entries over the
// limit, dropped every time; the leader fills each append with no more
// entries than fit (fitAppend).

// maxCommandBytes is the largest entry a write makes: a raw command's
// limit (checkCommand), which is above any Put's or sample's.
func maxCommandBytes(cfg *Config) int { return cfg.MaxValueBytes + cfg.MaxKeyBytes + 32 }

// messageLimit returns tr's MaxMessageBytes (0: tr has no limit), or an
// error wrapping ErrInvalidConfig if cfg's largest write or snapshot
// chunk would not fit in one message.
func messageLimit(cfg *Config, tr Transport) (int, error) {
	bt, ok := tr.(BoundedTransport)
	if !ok {
		return 0, nil
	}
	limit := bt.MaxMessageBytes()
	if max := maxCommandBytes(cfg); max > limit {
		return 0, fmt.Errorf("%w: MaxKeyBytes (%d) + MaxValueBytes (%d) + 32 bytes of command = %d bytes, more than the transport carries in one message (MaxMessageBytes %d, from its frame limit): such a write would never replicate; raise the transport's frame limit (tcpnet: Config.MaxFrameBytes) or lower MaxValueBytes or MaxKeyBytes",
			ErrInvalidConfig, cfg.MaxKeyBytes, cfg.MaxValueBytes, max, limit)
	}
	if cfg.SnapshotChunkBytes > limit {
		return 0, fmt.Errorf("%w: SnapshotChunkBytes (%d) is more than the transport carries in one message (MaxMessageBytes %d, from its frame limit): no snapshot would reach a follower; raise the transport's frame limit (tcpnet: Config.MaxFrameBytes) or lower SnapshotChunkBytes",
			ErrInvalidConfig, cfg.SnapshotChunkBytes, limit)
	}
	return limit, nil
}

// fitAppend returns the longest prefix of ents (at least one entry) that
// one message carries within c.cfg.maxMessageBytes (0: no limit). A
// single entry always fits: NewNode checked the largest one.
func (c *core) fitAppend(ents []Entry) []Entry {
	limit := c.cfg.maxMessageBytes
	if limit <= 0 || len(ents) <= 1 {
		return ents
	}
	size := len(ents[0].Data)
	for i := 1; i < len(ents); i++ {
		if size += AppendEntryOverhead + len(ents[i].Data); size > limit {
			return ents[:i]
		}
	}
	return ents
}
