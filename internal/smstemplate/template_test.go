package smstemplate

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/campaignsms/campaignsms/internal/apperr"
)

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, body, wantSub string }{
		{"empty", "", "empty"},
		{"blank", "  \n", "empty"},
		{"unclosed", "Hi {{first_name", "unclosed"},
		{"unclosed after good", "Hi {{a}} and {{b", "unclosed"},
		{"single brace close", "Hi {{name}", "unclosed"},
		{"empty name", "Hi {{}}", "empty placeholder"},
		{"blank name", "Hi {{   }}", "empty placeholder"},
		{"space inside name", "Hi {{first name}}", "invalid placeholder"},
		{"bad char", "Hi {{name!}}", "invalid placeholder"},
		{"nested", "Hi {{a {{b}}", "invalid placeholder"},
		{"triple brace", "Hi {{{a}}}", "invalid placeholder"},
		{"newline in name", "Hi {{a\nb}}", "invalid placeholder"},
		{"too long", "{{" + strings.Repeat("a", 65) + "}}", "longer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := Parse(tc.body)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error", tc.body, tpl.Fields())
			}
			if !strings.Contains(err.Error(), tc.wantSub) {
				t.Fatalf("error %q does not contain %q", err, tc.wantSub)
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	tests := []struct {
		body   string
		fields []string
	}{
		{"no placeholders", nil},
		{"Hi {{first_name}}", []string{"first_name"}},
		{"Hi {{ first_name }} {{\tlast_name\t}}", []string{"first_name", "last_name"}},
		{"{{a}}{{b}}{{a}}{{ b }}", []string{"a", "b"}},
		{"{{emi-amount}} {{x.y}} {{Loan_ID2}} {{नाम}}", []string{"emi-amount", "x.y", "Loan_ID2", "नाम"}},
		{"only closing }} and { single {", nil},
		{"{{" + strings.Repeat("a", 64) + "}}", []string{strings.Repeat("a", 64)}},
	}
	for _, tc := range tests {
		tpl, err := Parse(tc.body)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.body, err)
		}
		if got := tpl.Fields(); !reflect.DeepEqual(got, tc.fields) && !(len(got) == 0 && len(tc.fields) == 0) {
			t.Errorf("Fields(%q) = %q, want %q", tc.body, got, tc.fields)
		}
		if tpl.Body() != tc.body || tpl.String() != tc.body {
			t.Errorf("Body() = %q", tpl.Body())
		}
	}
	tpl := MustParse("{{a}}")
	tpl.Fields()[0] = "changed"
	if tpl.Fields()[0] != "a" {
		t.Errorf("Fields exposes internal state")
	}
}

func getter(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestRender(t *testing.T) {
	vals := map[string]string{"first_name": "Asha", "emi": "5000", "due": "05-Jun", "empty": ""}
	tests := []struct {
		name, body, want string
		missing          []string
	}{
		{"plain", "Pay today", "Pay today", nil},
		{"fields", "Dear {{first_name}}, EMI Rs.{{ emi }} due {{due}}.", "Dear Asha, EMI Rs.5000 due 05-Jun.", nil},
		{"repeat", "{{emi}}/{{emi}}", "5000/5000", nil},
		{"adjacent", "{{first_name}}{{emi}}", "Asha5000", nil},
		{"lone braces kept", "a }} b { c {{emi}}", "a }} b { c 5000", nil},
		{"missing", "Dear {{first_name}} {{last_name}}", "", []string{"last_name"}},
		{"empty counts as missing", "X {{empty}} {{emi}}", "", []string{"empty"}},
		{"several missing unique", "{{x}} {{first_name}} {{y}} {{x}}", "", []string{"x", "y"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, missing := MustParse(tc.body).Render(getter(vals))
			if got != tc.want || !reflect.DeepEqual(missing, tc.missing) {
				t.Fatalf("Render = %q, %q; want %q, %q", got, missing, tc.want, tc.missing)
			}
		})
	}
}

func TestRenderManyFields(t *testing.T) {
	var b strings.Builder
	m := map[string]string{}
	want := ""
	for i := 0; i < 40; i++ {
		k := "f" + strings.Repeat("x", i)
		m[k] = k
		b.WriteString("{{" + k + "}},")
		want += k + ","
	}
	got, missing := MustParse(b.String()).Render(getter(m))
	if got != want || missing != nil {
		t.Fatalf("got %q %v", got, missing)
	}
}

func TestRenderCallsGetOncePerField(t *testing.T) {
	calls := map[string]int{}
	MustParse("{{a}} {{a}} {{b}}").Render(func(k string) (string, bool) {
		calls[k]++
		return "v", true
	})
	if calls["a"] != 1 || calls["b"] != 1 {
		t.Fatalf("calls = %v", calls)
	}
}

func TestRenderAllocs(t *testing.T) {
	tpl := MustParse("Dear {{first_name}}, your EMI of Rs.{{emi}} is due on {{due}}. Pay now.")
	get := getter(map[string]string{"first_name": "Asha", "emi": "5000", "due": "05-Jun"})
	allocs := testing.AllocsPerRun(100, func() { tpl.Render(get) })
	if allocs > 1 {
		t.Fatalf("Render allocates %v times, want 1", allocs)
	}
}

func TestNewSet(t *testing.T) {
	s, err := NewSet("Hi {{first_name}}", map[string]string{"Hindi": "नमस्ते {{first_name}} {{emi}}", " tamil ": "Vanakkam {{ta_name}}"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ lang, want string }{
		{"hindi", "नमस्ते {{first_name}} {{emi}}"},
		{"HINDI", "नमस्ते {{first_name}} {{emi}}"},
		{" Hindi ", "नमस्ते {{first_name}} {{emi}}"},
		{"tamil", "Vanakkam {{ta_name}}"},
		{"english", "Hi {{first_name}}"},
		{"", "Hi {{first_name}}"},
	}
	for _, tc := range tests {
		if got := s.For(tc.lang).Body(); got != tc.want {
			t.Errorf("For(%q) = %q, want %q", tc.lang, got, tc.want)
		}
	}
	if got, want := s.AllFields(), []string{"first_name", "emi", "ta_name"}; !reflect.DeepEqual(got, want) {
		t.Errorf("AllFields = %q, want %q", got, want)
	}
	s2, err := NewSet("plain", nil)
	if err != nil || s2.For("hindi").Body() != "plain" || len(s2.AllFields()) != 0 {
		t.Errorf("NewSet without bodies: %v %v", s2, err)
	}
}

func TestNewSetErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		bodies map[string]string
		fields []string
	}{
		{"bad body", "Hi {{", nil, []string{"body"}},
		{"empty body", "", nil, []string{"body"}},
		{"bad language body", "ok", map[string]string{"hindi": "{{}}"}, []string{"bodies.hindi"}},
		{"empty language body", "ok", map[string]string{"hindi": ""}, []string{"bodies.hindi"}},
		{"empty language", "ok", map[string]string{" ": "x"}, []string{"bodies. "}},
		{"duplicate language", "ok", map[string]string{"Hindi": "a", "hindi": "b"}, []string{"bodies.hindi"}},
		{"all", "{{", map[string]string{"a": "{{", "b": "fine"}, []string{"body", "bodies.a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSet(tc.body, tc.bodies)
			if err == nil {
				t.Fatalf("NewSet accepted: %v", s)
			}
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Kind != apperr.Validation {
				t.Fatalf("error %T %v is not a validation error", err, err)
			}
			var got []string
			for _, d := range ae.Details {
				got = append(got, d.Field)
			}
			if !reflect.DeepEqual(got, tc.fields) {
				t.Fatalf("fields = %q, want %q", got, tc.fields)
			}
		})
	}
}

func FuzzParseRender(f *testing.F) {
	for _, s := range []string{"Hi {{a}}", "{{", "{{ b }}{{c}}", "}}{{d}}{", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		tpl, err := Parse(body)
		if err != nil {
			return
		}
		out, missing := tpl.Render(func(k string) (string, bool) { return "<" + k + ">", true })
		if missing != nil {
			t.Fatalf("missing %v", missing)
		}
		if len(tpl.Fields()) == 0 && out != body {
			t.Fatalf("Render changed a body without placeholders: %q -> %q", body, out)
		}
		if out2, missing := tpl.Render(func(string) (string, bool) { return "", false }); len(tpl.Fields()) > 0 && (out2 != "" || len(missing) != len(tpl.Fields())) {
			t.Fatalf("partial render %q %v", out2, missing)
		}
	})
}
