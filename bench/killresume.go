package main

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/campaignsms/campaignsms/internal/providertest"
)

// runKillResume measures how long a killed worker's batches wait before
// they go on elsewhere (SPEC 5: within 15 s). One worker holds every batch
// of a send (WORKER_CONCURRENCY ≥ batches), an idle worker waits beside it,
// the first is killed with SIGKILL, and the figure is the time from the
// kill to the next message the provider accepts. Repeated s.killReps times.
func (b *bench) runKillResume(ctx context.Context) error {
	n := b.s.kill
	camp := campaignID(n)
	batches := (n + b.cfg.BatchSize - 1) / b.cfg.BatchSize
	extra := map[string]string{"WORKER_CONCURRENCY": fmt.Sprint(batches), "SEND_CONCURRENCY": "2"}
	var gaps []time.Duration
	for i := range b.s.killReps {
		fake := providertest.Start(providertest.Options{Seed: 1, Faults: providertest.Faults{Latency: 50 * time.Millisecond}})
		gap, err := b.killOnce(ctx, fake, camp, n, extra)
		fake.Close()
		if err != nil {
			return err
		}
		progress("kill %d/%d: next send %v after the kill", i+1, b.s.killReps, gap.Round(10*time.Millisecond))
		gaps = append(gaps, gap)
	}
	b.rep.add("kill_resume_s_median", medianMS(gaps)/1000, 2, "s",
		fmt.Sprintf("SIGKILL of the worker holding all %d batches to the next send by an idle worker, median of %d (target ≤ 10)", batches, len(gaps)))
	b.rep.add("kill_resume_s_worst", slices.Max(gaps).Seconds(), 2, "s", fmt.Sprintf("the worst of the same %d kills (target ≤ 15)", len(gaps)))
	return nil
}

func (b *bench) killOnce(ctx context.Context, fake *providertest.Server, camp string, n int, extra map[string]string) (time.Duration, error) {
	victim, err := b.startWorkers(ctx, 1, fake, extra)
	if err != nil {
		return 0, err
	}
	defer stopAll(victim)
	id, _, err := b.initiate(ctx, camp, 0, n)
	if err != nil {
		return 0, err
	}
	defer func() { _ = b.cancel(ctx, id) }()
	if err := waitAccepted(ctx, fake, 200, time.Minute); err != nil {
		return 0, err
	}
	spare, err := b.startWorkers(ctx, 1, fake, extra)
	if err != nil {
		return 0, err
	}
	defer stopAll(spare)
	_ = victim[0].cmd.Process.Signal(syscall.SIGKILL)
	<-victim[0].done
	killed, before := time.Now(), fake.AcceptedDistinct()
	if before >= n {
		return 0, fmt.Errorf("the victim sent all %d messages before the kill", n)
	}
	if err := waitAccepted(ctx, fake, before+1, 2*time.Minute); err != nil {
		return 0, fmt.Errorf("after the kill: %w", err)
	}
	return time.Since(killed), nil
}
