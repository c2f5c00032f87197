package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/store"
)

// campaignOf checks that the campaign exists in the caller's org.
func (s *Server) campaignOf(c echo.Context, id string) (*store.Campaign, error) {
	return s.st.Campaign(c.Request().Context(), orgOf(c), id)
}

func (s *Server) addCustomer(c echo.Context) error {
	o, err := readObject(c, MaxBody)
	if err != nil {
		return err
	}
	campaignID, _ := o.str("campaignId", true, 64)
	data, _ := o.record("data", true)
	o.only("campaignId", "data")
	if err := o.err(); err != nil {
		return err
	}
	rec, errs := customer.Normalize(data)
	if len(errs) > 0 {
		for i := range errs {
			errs[i].Field = strings.TrimSuffix("data."+errs[i].Field, ".")
		}
		return apperr.InvalidFields(errs)
	}
	if _, err := s.campaignOf(c, campaignID); err != nil {
		return err
	}
	res, _, err := s.st.AddCustomers(c.Request().Context(), orgOf(c), campaignID, []customer.Record{rec}, 0)
	if err != nil {
		return err
	}
	result := "created"
	if res.Created == 0 {
		result = "updated"
	}
	return c.JSON(http.StatusCreated, map[string]any{
		"success": true, "message": "Customer added successfully",
		"data": map[string]any{"id": rec.ID(), "campaignId": campaignID, "result": result},
	})
}

func (s *Server) addCustomersBulk(c echo.Context) error {
	o, err := readObject(c, MaxBulkBody)
	if err != nil {
		return err
	}
	campaignID, _ := o.str("campaignId", true, 64)
	raw, _ := o.array("records", true)
	o.only("campaignId", "records")
	if err := o.err(); err != nil {
		return err
	}
	if err := checkRecordCount("records", len(raw)); err != nil {
		return err
	}
	if _, err := s.campaignOf(c, campaignID); err != nil {
		// A request none of whose records is valid is a 400 before a 404.
		if apperr.KindOf(err) == apperr.NotFound {
			if chk := checkRecords("records", raw); chk.results.Valid == 0 {
				return noValidRecord(chk)
			}
		}
		return err
	}
	chk, batches, err := s.addStreamed(c.Request().Context(), orgOf(c), campaignID, raw)
	if err != nil {
		return err
	}
	if chk.results.Valid == 0 {
		return noValidRecord(chk)
	}
	res := chk.results
	res.Successful, res.Failed, res.BatchesProcessed = res.Valid, res.Invalid, batches
	status, out := http.StatusCreated, map[string]any{"success": true, "results": res}
	out["message"] = strconv.Itoa(res.Successful) + " customers added"
	if res.Failed > 0 {
		status = http.StatusMultiStatus
		out["success"] = false
		out["message"] = fmt.Sprintf("%d customers added, %d failed", res.Successful, res.Failed)
	}
	return c.JSON(status, out)
}

func (s *Server) updateCustomer(c echo.Context) error {
	o, err := readObject(c, MaxBody)
	if err != nil {
		return err
	}
	campaignID, _ := o.str("campaignId", true, 64)
	// The customer is named by loan_id or lead_id; loan_id wins when both are given.
	id, idField := "", ""
	for _, f := range []string{customer.FieldLoanID, customer.FieldLeadID} {
		v, ok := o.anyValue(f)
		if !ok || idField != "" {
			continue
		}
		if id, ok = idValue(v); !ok {
			o.fail(f, "must be a non-empty string or number")
			continue
		}
		idField = f
	}
	if !o.given(customer.FieldLoanID) && !o.given(customer.FieldLeadID) {
		o.fail(customer.FieldLoanID, "loan_id or lead_id is required")
	}
	data, _ := o.record("data", true)
	o.only("campaignId", customer.FieldLoanID, customer.FieldLeadID, "data")
	if err := o.err(); err != nil {
		return err
	}
	if _, err := s.campaignOf(c, campaignID); err != nil {
		return err
	}
	rec, err := s.st.UpdateCustomer(c.Request().Context(), orgOf(c), campaignID, id, func(old customer.Record) (customer.Record, error) {
		merged := make(map[string]any, len(old)+len(data))
		for k, v := range old {
			merged[k] = v
		}
		for k, v := range data {
			if v == nil {
				delete(merged, k) // null removes the field
			} else {
				merged[k] = v
			}
		}
		rec, errs := customer.Normalize(merged)
		if len(errs) > 0 {
			for i := range errs {
				errs[i].Field = strings.TrimSuffix("data."+errs[i].Field, ".")
			}
			return nil, apperr.InvalidFields(errs)
		}
		if rec.ID() != id {
			return nil, apperr.Invalid("data."+idField, "the customer id cannot be changed")
		}
		return rec, nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"success": true, "message": "Customer updated successfully",
		"data": map[string]any{"id": rec.ID(), "campaignId": campaignID, "result": "updated"},
	})
}

func (s *Server) listCustomers(c echo.Context) error {
	page, limit, err := pageParams(c, "limit")
	if err != nil {
		return err
	}
	id := c.Param("id")
	if _, err := s.campaignOf(c, id); err != nil {
		return err
	}
	recs, total, err := s.st.CustomersPage(c.Request().Context(), orgOf(c), id, int64((page-1)*limit), int64(limit))
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []customer.Record{}
	}
	return c.JSON(http.StatusOK, map[string]any{"success": true, "data": recs, "pagination": newPagination(page, limit, total)})
}

// idValue reads a customer id given as a string or a number, as Normalize
// reads loan_id and lead_id.
func idValue(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		s := strings.TrimSpace(x)
		return s, s != ""
	case json.Number:
		return customer.FormatNumber(x), true
	}
	return "", false
}
