package provider

import (
	"context"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"
)

// MaskPhone hides the middle of a phone number for logs: the leading "+" and
// the next two characters (the country code, or its start) stay, then stars,
// then the last 4 characters: "+919876543210" -> "+91******3210". A number
// without "+" keeps only its last 4 characters. Strings shorter than 10
// characters keep only a leading "+" and their last 2, so that little of a
// short value leaks.
func MaskPhone(s string) string {
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return ""
	}
	head, tail := 0, 4
	if strings.HasPrefix(s, "+") {
		head = 3
	}
	if n < 10 {
		head, tail = min(head, 1), 2
		if n <= tail {
			tail = 0
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	i := 0
	for _, r := range s {
		if i < head || i >= n-tail {
			b.WriteRune(r)
		} else {
			b.WriteByte('*')
		}
		i++
	}
	return b.String()
}

type logProvider struct {
	log *zap.Logger
}

// NewLog returns a Provider that sends nothing and writes each SMS as one log
// line: message id, masked phone number, sender, template, campaign, customer
// and initiation ids and the body length. The body itself is written only
// when the logger has debug enabled, and then the line is at debug level, so
// no body ever appears at info level. The result's ProviderMessageID is
// "log-" + m.ID. A nil logger discards everything.
func NewLog(log *zap.Logger) Provider {
	if log == nil {
		log = zap.NewNop()
	}
	return &logProvider{log: log.Named("sms")}
}

const logMsg = "sms (log provider, not sent)"

func (p *logProvider) Send(ctx context.Context, m Message) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	fields := make([]zap.Field, 0, 10)
	fields = append(fields,
		zap.String("message_id", m.ID),
		zap.String("to", MaskPhone(m.To)),
		zap.String("from", m.From),
		zap.String("template_id", m.TemplateID),
		zap.String("dlt_template_id", m.DLTTemplateID),
		zap.String("campaign_id", m.CampaignID),
		zap.String("customer_id", m.CustomerID),
		zap.String("initiation_id", m.InitiationID),
		zap.Int("body_len", utf8.RuneCountInString(m.Body)),
	)
	if ce := p.log.Check(zap.DebugLevel, logMsg); ce != nil {
		ce.Write(append(fields, zap.String("body", m.Body))...)
	} else {
		p.log.Info(logMsg, fields...)
	}
	return Result{ProviderMessageID: "log-" + m.ID, Provider: NameLog}, nil
}

// Name implements Named.
func (p *logProvider) Name() string { return NameLog }
