package httpapi

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/customer"
)

// bulkChunk is how many records one store write (one pipeline) takes;
// batchesProcessed counts these.
const bulkChunk = 1000

// maxDetails caps the details of a 400 listing rejected records.
const maxDetails = 100

type bulkError struct {
	Index   int    `json:"index"`
	ID      string `json:"id"`
	Message string `json:"message"`
}

type bulkResults struct {
	Total            int         `json:"total"`
	Valid            int         `json:"valid"`
	Invalid          int         `json:"invalid"`
	Successful       int         `json:"successful"`
	Failed           int         `json:"failed"`
	BatchesProcessed int         `json:"batchesProcessed"`
	Errors           []bulkError `json:"errors"`
}

// checkedRecords is the outcome of validating the records of a request.
type checkedRecords struct {
	recs    []customer.Record // when collected (checkRecords)
	results bulkResults
	details []apperr.FieldError // for a 400 when no record is valid
}

// checkRecords validates raw records (field names the array in details) and
// collects the valid ones.
func checkRecords(field string, raw []any) checkedRecords {
	var recs []customer.Record
	chk := streamRecords(field, raw, bulkChunk, func(part []customer.Record) bool {
		recs = append(recs, part...)
		return true
	})
	chk.recs = recs
	return chk
}

// streamRecords validates raw in chunks of size and hands each chunk's valid
// records to emit, in order, as soon as the chunk is done; emit returning
// false stops it. Normalising parses every phone number, the costly part of
// a bulk add, so each chunk runs on all cores, and a caller that writes in
// emit's consumer overlaps that with the Redis writes.
func streamRecords(field string, raw []any, size int, emit func([]customer.Record) bool) checkedRecords {
	res := checkedRecords{results: bulkResults{Total: len(raw), Errors: []bulkError{}}}
	type outcome struct {
		rec  customer.Record
		errs []apperr.FieldError
	}
	outs := make([]outcome, size)
	for start := 0; start < len(raw); start += size {
		part := raw[start:min(start+size, len(raw))]
		workers := min(runtime.GOMAXPROCS(0), max(1, len(part)/250))
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(part); i += workers {
					outs[i] = outcome{}
					m, ok := part[i].(map[string]any)
					if !ok {
						outs[i].errs = []apperr.FieldError{{Field: "", Message: "must be a JSON object"}}
						continue
					}
					outs[i].rec, outs[i].errs = customer.Normalize(m)
				}
			}()
		}
		wg.Wait()
		valid := make([]customer.Record, 0, len(part))
		for j, o := range outs[:len(part)] {
			if len(o.errs) == 0 {
				valid = append(valid, o.rec)
				continue
			}
			res.reject(field, start+j, part[j], o.errs)
		}
		res.results.Valid += len(valid)
		if !emit(valid) {
			break
		}
	}
	res.results.Invalid = len(raw) - res.results.Valid
	return res
}

// reject records why record i was rejected.
func (res *checkedRecords) reject(field string, i int, raw any, errs []apperr.FieldError) {
	msgs := make([]string, len(errs))
	for j, e := range errs {
		msgs[j] = e.Message
		if e.Field != "" {
			msgs[j] = e.Field + ": " + e.Message
		}
		if len(res.details) < maxDetails {
			f := fmt.Sprintf("%s[%d]", field, i)
			if e.Field != "" {
				f += "." + e.Field
			}
			res.details = append(res.details, apperr.FieldError{Field: f, Message: e.Message})
		}
	}
	res.results.Errors = append(res.results.Errors, bulkError{Index: i, ID: rawID(raw), Message: strings.Join(msgs, "; ")})
}

// rawID is the id a rejected record gave, as well as it can be read.
func rawID(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	for _, f := range []string{customer.FieldLoanID, customer.FieldLeadID} {
		if s, ok := customer.ValueString(m[f]); ok && strings.TrimSpace(s) != "" {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

// checkRecordCount applies SPEC §4.4's limits to a records array.
func checkRecordCount(field string, n int) error {
	switch {
	case n > customer.MaxRecords:
		return apperr.Invalid(field, fmt.Sprintf("at most %d records per request, got %d", customer.MaxRecords, n))
	case n == 0:
		return apperr.Invalid(field, "must contain at least one record")
	}
	return nil
}

// noValidRecord is the 400 of a request none of whose records is valid.
func noValidRecord(chk checkedRecords) error {
	e := apperr.InvalidFields(chk.details)
	e.Message = fmt.Sprintf("No valid customer record: all %d records were rejected.", chk.results.Total)
	return e
}

// addStreamed validates raw and writes the valid records chunk by chunk, the
// next chunk validated while the last one is written. Only valid records
// are written, so writing before every record is checked changes no answer:
// a request with no valid record writes nothing and is still a 400.
func (s *Server) addStreamed(ctx context.Context, org, campaign string, raw []any) (checkedRecords, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan []customer.Record, 1)
	type written struct {
		batches int
		err     error
	}
	done := make(chan written, 1)
	go func() {
		_, n, err := s.st.AddCustomerStream(ctx, org, campaign, chunks)
		if err != nil {
			cancel() // stop the validation that feeds a failed writer
		}
		done <- written{n, err}
	}()
	chk := streamRecords("records", raw, bulkChunk, func(part []customer.Record) bool {
		select {
		case chunks <- part:
			return true
		case <-ctx.Done():
			return false
		}
	})
	close(chunks)
	w := <-done
	return chk, w.batches, w.err
}
