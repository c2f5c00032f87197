package worker

import "time"

// Metrics receives what the worker observes; the Prometheus implementation
// lives with the other metrics, tests use nopMetrics or a fake.
type Metrics interface {
	Message(outcome string)
	// MessageResent counts a message sent again after the run that held it
	// died or lost its lease.
	MessageResent()
	ProviderLatency(d time.Duration, err error)
	BatchDone(d time.Duration)
	// RunStalled counts a batch run the watchdog ended.
	RunStalled()
}

type nopMetrics struct{}

func (nopMetrics) Message(string)                       {}
func (nopMetrics) MessageResent()                       {}
func (nopMetrics) ProviderLatency(time.Duration, error) {}
func (nopMetrics) BatchDone(time.Duration)              {}
func (nopMetrics) RunStalled()                          {}
