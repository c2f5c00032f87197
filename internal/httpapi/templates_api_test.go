package httpapi_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/campaignsms/campaignsms/internal/httpapi"
	"github.com/campaignsms/campaignsms/internal/store"
)

func TestTemplateCRUD(t *testing.T) {
	t.Parallel()
	e := newAPI(t, envOpts{})
	full := map[string]any{
		"name": "EMI due", "body": "Dear {{first_name}}, pay {{ emi_amount }}.",
		"bodies":   map[string]any{"hindi": "प्रिय {{first_name}}, {{emi_amount}} देय है।"},
		"senderId": "TMPPAY", "dltTemplateId": "1107", "dltEntityId": "1101", "category": "Transactional",
	}
	r := e.call("POST", "/api/v1/templates", tokA, full).must(t, 201)
	id, _ := r.data()["id"].(string)
	if !regexp.MustCompile(`^[A-Za-z0-9]{15}$`).MatchString(id) || r.body["success"] != true {
		t.Fatalf("generated id %q: %s", id, r.raw)
	}
	got := e.call("GET", "/api/v1/templates/"+id, tokA, nil).must(t, 200).data()
	for k, v := range map[string]any{"id": id, "name": "EMI due", "body": full["body"], "senderId": "TMPPAY",
		"dltTemplateId": "1107", "dltEntityId": "1101", "category": "transactional"} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if b, _ := got["bodies"].(map[string]any); b["hindi"] == nil {
		t.Errorf("bodies = %v", got["bodies"])
	}

	// Ids of several templates are distinct; a given id is kept; a taken one is a 409.
	seen := map[string]bool{id: true}
	for range 5 {
		nid := e.call("POST", "/api/v1/templates", tokA, map[string]any{"name": "x", "body": "Hi"}).must(t, 201).data()["id"].(string)
		if seen[nid] || len(nid) != httpapi.TemplateIDLength {
			t.Fatalf("id %q repeated or malformed", nid)
		}
		seen[nid] = true
	}
	e.call("POST", "/api/v1/templates", tokA, map[string]any{"id": "mine", "name": "x", "body": "Hi"}).must(t, 201)
	e.call("POST", "/api/v1/templates", tokA, map[string]any{"id": "mine", "name": "y", "body": "Hi"}).fails(t, 409, "Conflict")

	// PUT changes the fields given and keeps the rest.
	r = e.call("PUT", "/api/v1/templates/"+id, tokA, map[string]any{"body": "Hello {{first_name}}", "bodies": nil}).must(t, 200)
	if f, _ := r.body["updatedFields"].([]any); !slices.Equal(f, []any{"body", "bodies"}) {
		t.Fatalf("updatedFields: %s", r.raw)
	}
	got = e.call("GET", "/api/v1/templates/"+id, tokA, nil).must(t, 200).data()
	if got["body"] != "Hello {{first_name}}" || got["bodies"] != nil || got["senderId"] != "TMPPAY" || got["createdAt"] == got["updatedAt"] {
		t.Fatalf("after PUT: %v", got)
	}

	l := e.call("GET", "/api/v1/templates?limit=4&page=2", tokA, nil).must(t, 200)
	if p := l.object("pagination"); num(p, "total") != 7 || num(p, "totalPages") != 2 || len(l.list()) != 3 {
		t.Fatalf("list page 2: %s", l.raw)
	}
	if first := e.call("GET", "/api/v1/templates?limit=1", tokA, nil).list(); first[0]["id"] != "mine" {
		t.Fatalf("newest first: %v", first)
	}

	d := e.call("DELETE", "/api/v1/templates/"+id, tokA, nil).must(t, 200)
	if d.data()["id"] != id {
		t.Fatalf("delete: %s", d.raw)
	}
	e.call("GET", "/api/v1/templates/"+id, tokA, nil).fails(t, 404, "NotFound")
	e.call("DELETE", "/api/v1/templates/"+id, tokA, nil).fails(t, 404, "NotFound")
	e.call("PUT", "/api/v1/templates/"+id, tokA, map[string]any{"name": "z"}).fails(t, 404, "NotFound")
	if n := num(e.call("GET", "/api/v1/templates", tokA, nil).object("pagination"), "total"); n != 6 {
		t.Fatalf("total after delete: %d", n)
	}
}

func TestTemplateValidation(t *testing.T) {
	t.Parallel()
	e := newAPI(t, envOpts{})
	e.call("POST", "/api/v1/templates", tokA, map[string]any{"id": "t", "name": "T", "body": "Hi"}).must(t, 201)
	cases := []struct {
		name   string
		body   any
		fields []string
	}{
		{"no body field", map[string]any{"name": "x"}, []string{"body"}},
		{"no name", map[string]any{"body": "x"}, []string{"name"}},
		{"unclosed placeholder", map[string]any{"name": "x", "body": "Hi {{first_name"}, []string{"body"}},
		{"empty placeholder", map[string]any{"name": "x", "body": "Hi {{ }}"}, []string{"body"}},
		{"unclosed in a language", map[string]any{"name": "x", "body": "Hi", "bodies": map[string]any{"hindi": "{{x"}}, []string{"bodies.hindi"}},
		{"bodies not strings", map[string]any{"name": "x", "body": "Hi", "bodies": map[string]any{"hindi": 1}}, []string{"bodies"}},
		{"category", map[string]any{"name": "x", "body": "Hi", "category": "marketing"}, []string{"category"}},
		{"bad id", map[string]any{"id": "no spaces", "name": "x", "body": "Hi"}, []string{"id"}},
		{"unknown field", map[string]any{"name": "x", "body": "Hi", "sender": "X"}, []string{"sender"}},
		{"sender not a string", map[string]any{"name": "x", "body": "Hi", "senderId": 5}, []string{"senderId"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.call("POST", "/api/v1/templates", tokA, tc.body).fails(t, 400, "ValidationError", tc.fields...)
		})
	}
	for _, tc := range []struct {
		name   string
		body   any
		fields []string
	}{
		{"unclosed", map[string]any{"body": "{{a"}, []string{"body"}},
		{"other id", map[string]any{"id": "u"}, []string{"id"}},
		{"nothing", map[string]any{}, []string{"body"}},
		{"null body", map[string]any{"body": nil}, []string{"body"}},
	} {
		t.Run("put "+tc.name, func(t *testing.T) {
			e.call("PUT", "/api/v1/templates/t", tokA, tc.body).fails(t, 400, "ValidationError", tc.fields...)
		})
	}
	// A bad body is a 400 before the 404 of a missing template.
	e.call("PUT", "/api/v1/templates/missing", tokA, map[string]any{"body": "{{a"}).fails(t, 400, "ValidationError", "body")
	big := map[string]any{"name": "x", "body": strings.Repeat("a", httpapi.MaxBody)}
	e.call("POST", "/api/v1/templates", tokA, big).fails(t, 413, "PayloadTooLarge")
}

// A running initiation keeps the template it was started with.
func TestInitiationKeepsItsTemplateCopy(t *testing.T) {
	t.Parallel()
	e := newAPI(t, envOpts{})
	e.seed(tokA, "c", 2)
	ini := e.initiate(tokA, "c", nil)
	e.call("PUT", "/api/v1/templates/t", tokA, map[string]any{"body": "Changed {{first_name}}"}).must(t, 200)
	e.call("DELETE", "/api/v1/templates/t", tokA, nil).must(t, 200)
	e.sendAll()
	m := e.call("GET", "/api/v1/communication/sms/"+store.MessageID(ini, 1), tokA, nil).must(t, 200).data()
	if m["body"] != "Hi N1, pay 1001" || m["status"] != "sent" {
		t.Fatalf("message: %v", m)
	}
}
