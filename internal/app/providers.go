package app

import (
	"errors"
	"net/url"

	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/config"
	"github.com/campaignsms/campaignsms/internal/provider"
)

// BreakerObserver is told of every change of the primary provider's circuit
// breaker (metrics.Metrics.ProviderBreaker).
type BreakerObserver func(provider string, from, to provider.BreakerState)

// NewProvider builds the configured SMS provider (SPEC §2, §8).
func NewProvider(cfg config.Config, log *zap.Logger) (provider.Provider, error) {
	return NewObservedProvider(cfg, log, nil)
}

// NewObservedProvider builds SMS_PROVIDER; with SMS_FALLBACK_PROVIDER it is
// wrapped in a provider.Failover whose breaker changes go to observe (nil:
// none). Without a fallback there is no breaker: an open breaker with nowhere
// to send would only spend the messages' attempts.
func NewObservedProvider(cfg config.Config, log *zap.Logger, observe BreakerObserver) (provider.Provider, error) {
	if log == nil {
		log = zap.NewNop()
	}
	primary, err := buildProvider(cfg.SMSProvider, cfg, log)
	if err != nil || cfg.SMSFallbackProvider == "" {
		return primary, err
	}
	fallback, err := buildProvider(cfg.SMSFallbackProvider, cfg, log)
	if err != nil {
		return nil, err
	}
	if observe != nil {
		// The gauge starts at closed rather than absent.
		observe(provider.NameOf(primary), provider.BreakerClosed, provider.BreakerClosed)
	}
	return provider.NewFailover(provider.FailoverParams{
		Primary: primary, Fallback: fallback, OnStateChange: observe, Log: log.Named("sms.failover"),
	}), nil
}

// RequestRate is the provider request rate to enforce over all workers, in
// requests per second: SMS_REQUEST_RATE when set, else the provider's
// published limit (0: none).
func RequestRate(cfg config.Config, p provider.Provider) float64 {
	if cfg.SMSRequestRateSet {
		return cfg.SMSRequestRate
	}
	return provider.RequestRateOf(p)
}

// StatusCallbackURL is the delivery-report URL given to providers that take
// one per message: {SMS_CALLBACK_URL}/api/v1/webhooks/dlr/{name}, with
// DLR_TOKEN as its token parameter; "" without SMS_CALLBACK_URL or DLR_TOKEN.
// It holds the token: never log it.
func StatusCallbackURL(cfg config.Config, name string) string {
	if cfg.SMSCallbackURL == "" || cfg.DLRToken == "" {
		return ""
	}
	q := url.Values{"token": {cfg.DLRToken}}
	return cfg.SMSCallbackURL + "/api/v1/webhooks/dlr/" + name + "?" + q.Encode()
}

func buildProvider(name string, cfg config.Config, log *zap.Logger) (provider.Provider, error) {
	hp := provider.HTTPParams{Log: log}
	g := cfg.Gateways
	cb := StatusCallbackURL(cfg, name)
	switch name {
	case config.ProviderLog:
		return provider.NewLog(log), nil
	case config.ProviderWebhook:
		return provider.NewWebhook(provider.WebhookParams{URL: cfg.SMSWebhookURL, Token: cfg.SMSWebhookToken,
			Batch: cfg.SMSWebhookBatch, Log: log.Named("webhook")}), nil
	case config.ProviderMSG91:
		return provider.NewMSG91(provider.MSG91Params{BaseURL: g.MSG91.BaseURL, AuthKey: g.MSG91.AuthKey, HTTPParams: hp}), nil
	case config.ProviderExotel:
		return provider.NewExotel(provider.ExotelParams{BaseURL: g.Exotel.BaseURL, SID: g.Exotel.SID, APIKey: g.Exotel.APIKey,
			APIToken: g.Exotel.APIToken, SmsType: g.Exotel.SmsType, StatusCallback: cb, HTTPParams: hp}), nil
	case config.ProviderKaleyra:
		return provider.NewKaleyra(provider.KaleyraParams{BaseURL: g.Kaleyra.BaseURL, SID: g.Kaleyra.SID, APIKey: g.Kaleyra.APIKey,
			Type: g.Kaleyra.Type, StatusCallback: cb, HTTPParams: hp}), nil
	case config.ProviderGupshup:
		return provider.NewGupshup(provider.GupshupParams{BaseURL: g.Gupshup.BaseURL, UserID: g.Gupshup.UserID,
			Password: g.Gupshup.Password, HTTPParams: hp}), nil
	case config.ProviderTwilio:
		return provider.NewTwilio(provider.TwilioParams{BaseURL: g.Twilio.BaseURL, AccountSID: g.Twilio.AccountSID,
			AuthToken: g.Twilio.AuthToken, From: g.Twilio.From, MessagingServiceSID: g.Twilio.MessagingServiceSID,
			StatusCallback: cb, HTTPParams: hp}), nil
	}
	return nil, errors.New("config: SMS_PROVIDER: unknown provider " + name)
}
