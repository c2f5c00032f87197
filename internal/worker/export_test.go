package worker

// SetAfterSend makes h call f in the sender right after each provider call,
// before its outcome is recorded: tests use it to stop a sender there, as a
// killed process would.
func SetAfterSend(h *Handler, f func(messageID string)) { h.afterSend = f }
