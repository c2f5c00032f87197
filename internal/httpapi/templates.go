package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/smstemplate"
	"github.com/campaignsms/campaignsms/internal/store"
)

// TemplateIDLength is the length of generated template ids (SPEC §4.5).
const TemplateIDLength = 15

var (
	templateFields     = []string{"name", "body", "bodies", "senderId", "dltTemplateId", "dltEntityId", "category"}
	templateCategories = []string{"transactional", "promotional", "service"}
)

// applyTemplate validates the fields o gives and sets them on t; on an
// update null clears an optional field. The bodies are parsed together, so a
// syntax error (an unclosed "{{") is a 400 naming "body" or "bodies.<lang>".
// It returns the fields given.
func applyTemplate(o *object, t *store.Template, create bool) []string {
	var given []string
	for _, f := range templateFields {
		if o.has(f) {
			given = append(given, f)
		}
	}
	if v, ok := o.str("name", create || o.has("name"), 200); ok {
		t.Name = strings.TrimSpace(v)
	}
	bodyOK := true
	if v, ok := o.str("body", create || o.has("body"), 5000); ok {
		t.Body = v
	} else if create || o.has("body") {
		bodyOK = false
	}
	if v, ok := o.strMap("bodies"); ok || o.null("bodies") {
		t.Bodies = v
	} else if o.has("bodies") {
		bodyOK = false
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"senderId", &t.SenderID}, {"dltTemplateId", &t.DLTTemplateID}, {"dltEntityId", &t.DLTEntityID}} {
		if v, ok := o.str(f.name, false, 64); ok || o.null(f.name) {
			*f.dst = strings.TrimSpace(v)
		}
	}
	if v, ok := o.str("category", false, 32); ok || o.null("category") {
		v = strings.ToLower(strings.TrimSpace(v))
		if v != "" && !contains(templateCategories, v) {
			o.fail("category", "must be one of "+strings.Join(templateCategories, ", "))
		}
		t.Category = v
	}
	if bodyOK {
		if _, err := smstemplate.NewSet(t.Body, t.Bodies); err != nil {
			var ae *apperr.Error
			if errors.As(err, &ae) {
				o.details = append(o.details, ae.Details...)
			} else {
				o.fail("body", err.Error())
			}
		}
	}
	return given
}

func (s *Server) createTemplate(c echo.Context) error {
	o, err := readObject(c, MaxBody)
	if err != nil {
		return err
	}
	t := &store.Template{Org: orgOf(c)}
	if v, ok := o.str("id", false, 64); ok {
		if !store.ValidID(v) {
			o.fail("id", "must be 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit")
		}
		t.ID = v
	}
	applyTemplate(o, t, true)
	o.only(append([]string{"id"}, templateFields...)...)
	if err := o.err(); err != nil {
		return err
	}
	generated := t.ID == ""
	for attempt := 0; ; attempt++ {
		if generated {
			t.ID = randomID(TemplateIDLength)
		}
		err = s.st.PutTemplate(c.Request().Context(), t, true)
		// A generated id that collides (62^15 ids) is drawn again.
		if !generated || apperr.KindOf(err) != apperr.Conflict || attempt == 2 {
			break
		}
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{
		"success": true, "message": "Template created successfully", "data": map[string]any{"id": t.ID},
	})
}

func (s *Server) listTemplates(c echo.Context) error {
	page, limit, err := pageParams(c, "limit")
	if err != nil {
		return err
	}
	list, total, err := s.st.TemplatesPage(c.Request().Context(), orgOf(c), int64((page-1)*limit), int64(limit))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"success": true, "data": list, "pagination": newPagination(page, limit, total)})
}

func (s *Server) getTemplate(c echo.Context) error {
	t, err := s.st.Template(c.Request().Context(), orgOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"success": true, "data": t})
}

func (s *Server) updateTemplate(c echo.Context) error {
	o, err := readObject(c, MaxBody)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if v, ok := o.str("id", false, 64); ok && v != id {
		o.fail("id", "the id of a template cannot be changed")
	}
	// Validate on a scratch template first, so a bad body is a 400 before
	// the 404 of a missing template; with the stored fields it stays valid.
	given := applyTemplate(o, &store.Template{Body: "-"}, false)
	o.only(append([]string{"id"}, templateFields...)...)
	if err := o.err(); err != nil {
		return err
	}
	if len(given) == 0 {
		return apperr.Invalid("body", "no field to update; give any of "+strings.Join(templateFields, ", "))
	}
	t, err := s.st.Template(c.Request().Context(), orgOf(c), id)
	if err != nil {
		return err
	}
	applyTemplate(o, t, false)
	if err := o.err(); err != nil {
		return err
	}
	// Initiations already made keep their own copy of the template.
	if err := s.st.UpdateTemplate(c.Request().Context(), t); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"success": true, "message": "Template updated successfully", "updatedFields": given, "data": t,
	})
}

func (s *Server) deleteTemplate(c echo.Context) error {
	id := c.Param("id")
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "Template %q was not found.", id)
	}
	if err := s.st.DeleteTemplate(c.Request().Context(), orgOf(c), id); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"success": true, "message": "Template deleted successfully", "data": map[string]any{"id": id},
	})
}
