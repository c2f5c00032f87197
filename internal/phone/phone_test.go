package phone

import (
	"errors"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"indian 10 digit", "9876543210", "+919876543210", false},
		{"with +91", "+919876543210", "+919876543210", false},
		{"with 91", "919876543210", "+919876543210", false},
		{"with leading 0", "09876543210", "+919876543210", false},
		{"spaces", "98765 43210", "+919876543210", false},
		{"+91 and spaces", "+91 98765 43210", "+919876543210", false},
		{"dashes", "987-654-3210", "+919876543210", false},
		{"+91-dash", "+91-9876543210", "+919876543210", false},
		{"surrounding blanks", "  9876543210 \t", "+919876543210", false},
		{"parentheses", "(0)98765-43210", "+919876543210", false},
		{"uk mobile", "+44 7911 123456", "+447911123456", false},
		{"us number", "+1 202-456-1111", "+12024561111", false},
		{"empty", "", "", true},
		{"blank", "   ", "", true},
		{"too short", "12345", "", true},
		{"too long", "98765432101234", "", true},
		{"invalid indian prefix", "5555555555", "", true},
		{"all zeros", "0000000000", "", true},
		{"9 digits", "987654321", "", true},
		{"11 digits", "98765432101", "", true},
		{"idd prefix 0091", "0091 9876543210", "+919876543210", false},
		{"extension", "9876543210 ext 12", "", true},
		{"letters", "98765abcde", "", true},
		{"vanity letters", "1-800-FLOWERS", "", true},
		{"plus in middle", "98765+43210", "", true},
		{"only punctuation", "---", "", true},
		{"unknown country code", "+999 123456789", "", true},
		{"invalid uk", "+44 123", "", true},
		{"huge input", "9876543210987654321098765432109876543210987654321", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Normalize(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Normalize(%q) = %q, want error", tc.in, got)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v does not wrap ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+919876543210", "+91******3210"},
		{"+447911123456", "+44******3456"},
		{"+12024561111", "+1******1111"},
		{"", ""},
		{"+", "*"},
		{"+91", "***"},
		{"+9132", "*****"},
		{"9876543210", "**********"},
		{"+91987654x210", "*************"},
		{"+0123456789", "***********"},
		{"+99912345678", "************"},
		{"+9198765432109876543210", "****************"},
	}
	for _, tc := range tests {
		if got := Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzMask(f *testing.F) {
	for _, s := range []string{"+919876543210", "", "+", "+1", "abc", "+44\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = Mask(s)
		if e, err := Normalize(s); err == nil {
			if m := Mask(e); len(m) != len(e) {
				t.Fatalf("Mask(%q) = %q changes the length", e, m)
			}
		}
	})
}
