package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/smstemplate"
	"github.com/campaignsms/campaignsms/internal/store"
)

const (
	templateID   = "benchTemplate01"
	templateBody = "Dear {{first_name}}, your EMI of Rs {{emi_amount}} is {{payment_status}}. Please pay today to avoid late charges."
	senderID     = "TMPPAY"
	dltTemplate  = "1107161234567890123"
	dltEntity    = "1101161234567890123"
	seedChunk    = 5000
	seedWorkers  = 4
)

var (
	firstNames = []string{"Aarav", "Priya", "Rahul", "Sneha", "Vikram", "Ananya", "Rohan", "Kavya"}
	statuses   = []string{"bounced", "pending", "partial", "received"}
)

func campaignID(n int) string { return "bench-" + strconv.Itoa(n) }

// record is customer i of a campaign, built directly (already normalised,
// E.164 phone) so seeding skips the phone parser.
func record(i int) customer.Record {
	return customer.Record{
		customer.FieldLoanID:        fmt.Sprintf("LN%08d", i),
		customer.FieldPhoneNumber:   fmt.Sprintf("+9198%08d", i%100_000_000),
		customer.FieldFirstName:     firstNames[i%len(firstNames)],
		customer.FieldEMIAmount:     json.Number(strconv.Itoa(1500 + i%40*125)),
		customer.FieldPaymentStatus: statuses[i%len(statuses)],
		customer.FieldLanguage:      "english",
	}
}

// seedTemplate stores the bench template (3 placeholders).
func seedTemplate(ctx context.Context, st *store.Store) error {
	return st.PutTemplate(ctx, &store.Template{
		ID: templateID, Org: org, Name: "bench reminder", Body: templateBody,
		SenderID: senderID, DLTTemplateID: dltTemplate, DLTEntityID: dltEntity, Category: "transactional",
	}, true)
}

// seedCampaign creates campaign bench-<n> with n customers, written in
// chunks by a few goroutines.
func seedCampaign(ctx context.Context, st *store.Store, n int) error {
	id := campaignID(n)
	if err := st.CreateCampaign(ctx, &store.Campaign{ID: id, Org: org, Name: "bench " + strconv.Itoa(n), CampaignType: "emi", Timezone: "Asia/Kolkata"}); err != nil {
		return err
	}
	chunks := make(chan int)
	errs := make(chan error, seedWorkers)
	var wg sync.WaitGroup
	for range seedWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs := make([]customer.Record, 0, seedChunk)
			for start := range chunks {
				recs = recs[:0]
				for i := start; i < min(start+seedChunk, n); i++ {
					recs = append(recs, record(i))
				}
				if _, err := st.UpsertCustomers(ctx, org, id, recs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
loop:
	for start := 0; start < n; start += seedChunk {
		select {
		case chunks <- start:
		case err = <-errs:
			break loop
		case <-ctx.Done():
			err = ctx.Err()
			break loop
		}
	}
	close(chunks)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return fmt.Errorf("seed %s: %w", id, err)
	}
	if got, err := st.CustomerCount(ctx, org, id); err != nil || got != int64(n) {
		return fmt.Errorf("seed %s: %d customers (%v), want %d", id, got, err, n)
	}
	return nil
}

// directMessages builds n messages as a worker would send them for the
// customers 0..n-1, rendered in advance: the direct client only sends.
func directMessages(n int) ([]provider.Message, error) {
	tpl, err := smstemplate.Parse(templateBody)
	if err != nil {
		return nil, err
	}
	const ini = "ini_0123456789abcdef01234567" // the length of a real initiation id
	msgs := make([]provider.Message, n)
	for i := range msgs {
		r := record(i)
		text, missing := tpl.Render(r.Get)
		if missing != nil {
			return nil, fmt.Errorf("render: missing %v", missing)
		}
		msgs[i] = provider.Message{
			ID: store.MessageID(ini, i), To: r.Phone(), From: senderID, Body: text,
			TemplateID: templateID, DLTTemplateID: dltTemplate, DLTEntityID: dltEntity,
			CampaignID: campaignID(n), CustomerID: r.ID(), InitiationID: ini,
		}
	}
	return msgs, nil
}
