package store

// MessageState is where one message is in its life: pending, leased to a run
// that is sending it, or one of the final states. In Redis it is one field
// of the initiation's st hash: absent or "p" pending, "s|owner|leaseUntilMs|
// attempts" leased, and one letter for each final state. Those encodings are
// known only to this package and its Lua scripts.
type MessageState uint8

// Message states.
const (
	StatePending MessageState = iota
	StateLeased
	StateSent
	StateDelivered
	StateFailed
	StateSkipped
	StateCancelled
)

// Raw encodings in the st hash, as the Lua scripts write them.
const (
	rawPending   = "p"
	rawSent      = "S"
	rawDelivered = "D"
	rawFailed    = "F"
	rawSkipped   = "K"
	rawCancelled = "C"
)

// parseState reads a raw st-hash value; anything unknown reads as pending,
// as the scripts treat it.
func parseState(raw string) MessageState {
	switch raw {
	case rawSent:
		return StateSent
	case rawDelivered:
		return StateDelivered
	case rawFailed:
		return StateFailed
	case rawSkipped:
		return StateSkipped
	case rawCancelled:
		return StateCancelled
	}
	if len(raw) > 2 && raw[:2] == "s|" {
		return StateLeased
	}
	return StatePending
}

// Final reports whether the state can no longer change by sending (a
// delivery report may still move sent to delivered or failed).
func (s MessageState) Final() bool { return s >= StateSent }

// Status maps a state to its status of SPEC §4.6. A pending message of a
// cancelled initiation is cancelled: cancelScript counted it so, and
// claimScript marks it so when a batch comes by. A leased message is still
// being sent and ends sent or failed, so it stays pending.
func (s MessageState) Status(initiationCancelled bool) string {
	switch s {
	case StateSent:
		return MsgSent
	case StateDelivered:
		return MsgDelivered
	case StateFailed:
		return MsgFailed
	case StateSkipped:
		return MsgSkipped
	case StateCancelled:
		return MsgCancelled
	case StatePending:
		if initiationCancelled {
			return MsgCancelled
		}
	}
	return MsgPending
}
