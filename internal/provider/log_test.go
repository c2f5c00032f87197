package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/campaignsms/campaignsms/internal/provider"
)

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func TestMaskPhone(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"+919876543210", "+91******3210"},
		{"+14155552671", "+14*****2671"},
		{"+447911123456", "+44******3456"},
		{"9876543210", "******3210"},
		{"+91 98765 43210", "+91********3210"},
		{"12345", "***45"},
		{"+9112", "+**12"},
		{"12", "**"},
		{"7", "*"},
		{"", ""},
		{"+९१९८७६५४३२१०", "+९१******३२१०"},
	} {
		if got := provider.MaskPhone(c.in); got != c.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLogProviderInfo(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	p := provider.NewLog(zap.New(core))
	m := testMsg("msg-7")
	res, err := p.Send(context.Background(), m)
	if err != nil || res.ProviderMessageID != "log-msg-7" {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d log entries, want 1", len(entries))
	}
	e := entries[0]
	f := e.ContextMap()
	if e.Level != zapcore.InfoLevel || f["message_id"] != "msg-7" || f["to"] != "+91******3210" {
		t.Errorf("entry = %v %v", e.Level, f)
	}
	if _, ok := f["body"]; ok {
		t.Errorf("body logged at info level: %v", f)
	}
	if f["body_len"] != int64(len([]rune(m.Body))) {
		t.Errorf("body_len = %v", f["body_len"])
	}
	assertNoPII(t, logs, m)
}

func TestLogProviderDebug(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	m := testMsg("msg-8")
	if _, err := provider.NewLog(zap.New(core)).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	entries := logs.All()
	if len(entries) != 1 || entries[0].Level != zapcore.DebugLevel {
		t.Fatalf("entries = %v, want one at debug", entries)
	}
	if f := entries[0].ContextMap(); f["body"] != m.Body || f["to"] != "+91******3210" {
		t.Errorf("fields = %v", f)
	}
}

func TestLogProviderNilLoggerAndCancel(t *testing.T) {
	p := provider.NewLog(nil)
	if _, err := p.Send(context.Background(), testMsg("a")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Send(ctx, testMsg("a")); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestIsTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&provider.Error{Transient: true}, true},
		{&provider.Error{Transient: false, Status: 400}, false},
		{fmt.Errorf("wrapped: %w", &provider.Error{Transient: false}), false},
		{fmt.Errorf("wrapped: %w", &provider.Error{Transient: true}), true},
		{errors.New("boom"), true},
		{context.DeadlineExceeded, true},
		{context.Canceled, false},
		{fmt.Errorf("send: %w", context.Canceled), false},
	} {
		if got := provider.IsTransient(c.err); got != c.want {
			t.Errorf("IsTransient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	e := &provider.Error{Reason: "timeout", Err: context.DeadlineExceeded}
	if !errors.Is(e, context.DeadlineExceeded) || e.Error() != "sms provider: timeout: context deadline exceeded" {
		t.Errorf("Error() = %q, Unwrap broken?", e.Error())
	}
}
