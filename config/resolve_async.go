package config

import (
	"net/http"
	"time"
)

// AsyncDelivery is asynchronous delivery (the config's async section).
type AsyncDelivery struct {
	// Enabled answers every request once its records are buffered;
	// AllowPrefer only those with "Prefer: respond-async".
	Enabled, AllowPrefer bool
	// BufferRecords and BufferBytes bound what is accepted and not yet
	// acknowledged, per producer.
	BufferRecords int
	BufferBytes   int64
	// AcceptedStatus is 202 (default) or 200.
	AcceptedStatus int
	// DeliveryTimeout bounds one request's retries; FlushTimeout the
	// drain when the producer closes.
	DeliveryTimeout, FlushTimeout time.Duration
	// HealthGating refuses new asynchronous requests while the cluster
	// fails. Default true.
	HealthGating bool
}

// Defaults of the async section.
const (
	DefaultAsyncBufferRecords   = 10000
	DefaultAsyncBufferBytes     = 64 << 20
	DefaultAsyncDeliveryTimeout = 30 * time.Second
	DefaultAsyncFlushTimeout    = 5 * time.Second
)

// resolveAsync reads the async section; nil without one. batchBytes is
// the largest record, which the buffer must be able to hold.
func resolveAsync(a *Async, batchBytes int64, p *problems) *AsyncDelivery {
	if a == nil {
		return nil
	}
	out := &AsyncDelivery{
		Enabled: a.GetEnabled(), AllowPrefer: a.GetAllowPreferAsync(),
		BufferRecords: DefaultAsyncBufferRecords, BufferBytes: DefaultAsyncBufferBytes,
		AcceptedStatus: http.StatusAccepted, DeliveryTimeout: DefaultAsyncDeliveryTimeout, FlushTimeout: DefaultAsyncFlushTimeout,
		HealthGating: a.HealthGating == nil || a.GetHealthGating(),
	}
	if !out.Enabled && !out.AllowPrefer {
		p.add("async", "enabled and allow_prefer_async are both false, so no request is handled asynchronously; set one, or remove the section")
	}
	if n := a.GetBufferRecords(); n != 0 {
		out.BufferRecords = int(n)
	}
	if n := a.GetBufferBytes(); n != 0 {
		if n > 1<<40 {
			p.add("async.buffer_bytes", "must be at most 1 TiB, got %d", n)
		} else {
			out.BufferBytes = int64(n)
		}
	}
	if out.BufferBytes < batchBytes {
		p.add("async.buffer_bytes", "must be at least batching.bytes (%d), the largest record, got %d", batchBytes, out.BufferBytes)
	}
	switch s := a.GetAcceptedStatus(); s {
	case 0:
	case http.StatusOK, http.StatusAccepted:
		out.AcceptedStatus = int(s)
	default:
		p.add("async.accepted_status", "must be 202 or 200, got %d", s)
	}
	positiveDuration(a.GetDeliveryTimeout(), "async.delivery_timeout", &out.DeliveryTimeout, p)
	positiveDuration(a.GetFlushTimeout(), "async.flush_timeout", &out.FlushTimeout, p)
	return out
}
