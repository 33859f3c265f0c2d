package config

import (
	"reflect"
	"testing"
	"time"
)

func TestAsyncSection(t *testing.T) {
	s := resolveJSON(t, `{"bootstrap_servers":["k:1"],"topic":"t","async":{"enabled":true}}`)
	want := &AsyncDelivery{Enabled: true, BufferRecords: 10000, BufferBytes: 64 << 20, AcceptedStatus: 202,
		DeliveryTimeout: 30 * time.Second, FlushTimeout: 5 * time.Second, HealthGating: true}
	if !reflect.DeepEqual(s.Producer.Async, want) {
		t.Errorf("defaults %+v, want %+v", s.Producer.Async, want)
	}
	s = resolveJSON(t, `{"bootstrap_servers":["k:1"],"topic":"t","async":{"allow_prefer_async":true,"buffer_records":5,
		"buffer_bytes":2097152,"accepted_status":200,"delivery_timeout":"2s","flush_timeout":"1s","health_gating":false}}`)
	want = &AsyncDelivery{AllowPrefer: true, BufferRecords: 5, BufferBytes: 2 << 20, AcceptedStatus: 200,
		DeliveryTimeout: 2 * time.Second, FlushTimeout: time.Second}
	if !reflect.DeepEqual(s.Producer.Async, want) {
		t.Errorf("set %+v, want %+v", s.Producer.Async, want)
	}
	if s := resolveJSON(t, `{"bootstrap_servers":["k:1"],"topic":"t"}`); s.Producer.Async != nil {
		t.Errorf("no section: %+v, want nil (synchronous)", s.Producer.Async)
	}
	for cfg, wantErr := range map[string]string{
		`{"async":{}}`: "async: enabled and allow_prefer_async are both false, so no request is handled asynchronously; set one, or remove the section",
		`{"async":{"enabled":true,"accepted_status":201}}`:   "async.accepted_status: must be 202 or 200, got 201",
		`{"async":{"enabled":true,"buffer_bytes":1000}}`:     "async.buffer_bytes: must be at least batching.bytes (1048576), the largest record, got 1000",
		`{"async":{"enabled":true,"delivery_timeout":"0s"}}`: "async.delivery_timeout: must be a positive duration, got 0s",
	} {
		js := `{"bootstrap_servers":["k:1"],"topic":"t",` + cfg[1:]
		if _, err := Resolve(mustJSON(t, js)); err == nil || err.Error() != wantErr {
			t.Errorf("%s: error %v, want %q", cfg, err, wantErr)
		}
	}
}
