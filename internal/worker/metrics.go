package worker

import "time"

// Metrics receives what the worker observes; the Prometheus implementation
// lives with the other metrics, tests use nopMetrics or a fake.
type Metrics interface {
	Message(outcome string)
	ProviderLatency(d time.Duration, err error)
	BatchDone(d time.Duration)
}

type nopMetrics struct{}

func (nopMetrics) Message(string)                       {}
func (nopMetrics) ProviderLatency(time.Duration, error) {}
func (nopMetrics) BatchDone(time.Duration)              {}
