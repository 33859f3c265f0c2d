package envoyfake

// The fake's stats, config schedulers and dynamic metadata. Stats are
// named as Envoy's /stats shows them: a labelled stat's name, then each
// label's name and value (kafka_upstream.requests.outcome.sent). Like
// Envoy, a stat of one name is one stat, whichever config defined it.

/*
#include <stdlib.h>
#include "envoy_abi.h"
*/
import "C"

import (
	"maps"
	"strings"
	"unsafe"
)

type metricDef struct {
	name   string
	labels []string
	gauge  bool
}

var stats = struct {
	defs       map[unsafe.Pointer][]metricDef // by config: id-1 indexes
	values     map[string]uint64
	schedulers map[unsafe.Pointer]*configScheduler
	pending    []*configScheduler // commits not yet run
}{defs: map[unsafe.Pointer][]metricDef{}, values: map[string]uint64{}, schedulers: map[unsafe.Pointer]*configScheduler{}}

type configScheduler struct {
	config  unsafe.Pointer
	deleted int
}

// Stats returns the value of every stat, by its full name.
func Stats() map[string]uint64 {
	state.Lock()
	defer state.Unlock()
	return maps.Clone(stats.values)
}

// RunConfigScheduled runs on_http_filter_config_scheduled for every
// commit so far, as Envoy's main thread does, and reports how many ran.
// A commit whose scheduler was deleted since is dropped, as in Envoy.
func RunConfigScheduled() int {
	state.Lock()
	pending := stats.pending
	stats.pending = nil
	state.Unlock()
	ran := 0
	for _, sc := range pending {
		state.Lock()
		deleted := sc.deleted > 0
		state.Unlock()
		if deleted {
			continue
		}
		C.envoy_dynamic_module_on_http_filter_config_scheduled(C.envoy_dynamic_module_type_http_filter_config_envoy_ptr(sc.config), 0, 0)
		ran++
	}
	return ran
}

func goStr(b C.envoy_dynamic_module_type_module_buffer) string {
	return C.GoStringN(b.ptr, C.int(b.length))
}

func goStrs(p *C.envoy_dynamic_module_type_module_buffer, n C.size_t) []string {
	if n == 0 {
		return nil
	}
	var out []string
	for _, b := range unsafe.Slice(p, int(n)) {
		out = append(out, goStr(b))
	}
	return out
}

func defineMetric(cfg C.envoy_dynamic_module_type_http_filter_config_envoy_ptr, name C.envoy_dynamic_module_type_module_buffer,
	labels *C.envoy_dynamic_module_type_module_buffer, n C.size_t, id *C.size_t, gauge bool) C.envoy_dynamic_module_type_metrics_result {
	state.Lock()
	defer state.Unlock()
	p := unsafe.Pointer(cfg)
	stats.defs[p] = append(stats.defs[p], metricDef{name: goStr(name), labels: goStrs(labels, n), gauge: gauge})
	*id = C.size_t(len(stats.defs[p]) - 1)
	return C.envoy_dynamic_module_type_metrics_result_Success
}

// statName is the stat id's full name for label values, or "" (a
// violation recorded) when the id or the values do not fit.
func statName(cfg C.envoy_dynamic_module_type_http_filter_config_envoy_ptr, id C.size_t, values []string, gauge bool) string {
	defs := stats.defs[unsafe.Pointer(cfg)]
	if int(id) >= len(defs) || defs[id].gauge != gauge || len(defs[id].labels) != len(values) {
		state.violations = append(state.violations, "a stat changed with a bad id, kind or label count")
		return ""
	}
	parts := []string{defs[id].name}
	for i, l := range defs[id].labels {
		parts = append(parts, l, values[i])
	}
	return strings.Join(parts, ".")
}

//export envoy_dynamic_module_callback_http_filter_config_define_counter
func envoy_dynamic_module_callback_http_filter_config_define_counter(cfg C.envoy_dynamic_module_type_http_filter_config_envoy_ptr,
	name C.envoy_dynamic_module_type_module_buffer, labels *C.envoy_dynamic_module_type_module_buffer, n C.size_t, id *C.size_t) C.envoy_dynamic_module_type_metrics_result {
	return defineMetric(cfg, name, labels, n, id, false)
}

//export envoy_dynamic_module_callback_http_filter_config_define_gauge
func envoy_dynamic_module_callback_http_filter_config_define_gauge(cfg C.envoy_dynamic_module_type_http_filter_config_envoy_ptr,
	name C.envoy_dynamic_module_type_module_buffer, labels *C.envoy_dynamic_module_type_module_buffer, n C.size_t, id *C.size_t) C.envoy_dynamic_module_type_metrics_result {
	return defineMetric(cfg, name, labels, n, id, true)
}

//export envoy_dynamic_module_callback_http_filter_config_increment_counter
func envoy_dynamic_module_callback_http_filter_config_increment_counter(cfg C.envoy_dynamic_module_type_http_filter_config_envoy_ptr, id C.size_t,
	values *C.envoy_dynamic_module_type_module_buffer, n C.size_t, v C.uint64_t) C.envoy_dynamic_module_type_metrics_result {
	state.Lock()
	defer state.Unlock()
	if name := statName(cfg, id, goStrs(values, n), false); name != "" {
		stats.values[name] += uint64(v)
	}
	return C.envoy_dynamic_module_type_metrics_result_Success
}

//export envoy_dynamic_module_callback_http_filter_config_set_gauge
func envoy_dynamic_module_callback_http_filter_config_set_gauge(cfg C.envoy_dynamic_module_type_http_filter_config_envoy_ptr, id C.size_t,
	values *C.envoy_dynamic_module_type_module_buffer, n C.size_t, v C.uint64_t) C.envoy_dynamic_module_type_metrics_result {
	state.Lock()
	defer state.Unlock()
	if name := statName(cfg, id, goStrs(values, n), true); name != "" {
		stats.values[name] = uint64(v)
	}
	return C.envoy_dynamic_module_type_metrics_result_Success
}

//export envoy_dynamic_module_callback_http_filter_config_scheduler_new
func envoy_dynamic_module_callback_http_filter_config_scheduler_new(cfg C.envoy_dynamic_module_type_http_filter_config_envoy_ptr) C.envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr {
	ptr := C.malloc(1) // never freed: a stale pointer must stay recognisable
	state.Lock()
	stats.schedulers[ptr] = &configScheduler{config: unsafe.Pointer(cfg)}
	state.Unlock()
	return C.envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr(ptr)
}

//export envoy_dynamic_module_callback_http_filter_config_scheduler_commit
func envoy_dynamic_module_callback_http_filter_config_scheduler_commit(p C.envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr, _ C.uint64_t) {
	state.Lock()
	defer state.Unlock()
	sc := stats.schedulers[unsafe.Pointer(p)]
	switch {
	case sc == nil:
		state.violations = append(state.violations, "commit on an unknown config scheduler")
	case sc.deleted > 0:
		state.violations = append(state.violations, "commit on a deleted config scheduler (use after free in Envoy)")
	default:
		stats.pending = append(stats.pending, sc)
	}
}

//export envoy_dynamic_module_callback_http_filter_config_scheduler_delete
func envoy_dynamic_module_callback_http_filter_config_scheduler_delete(p C.envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr) {
	state.Lock()
	defer state.Unlock()
	sc := stats.schedulers[unsafe.Pointer(p)]
	if sc == nil {
		state.violations = append(state.violations, "delete of an unknown config scheduler")
		return
	}
	if sc.deleted++; sc.deleted > 1 {
		state.violations = append(state.violations, "config scheduler deleted twice (double free in Envoy)")
	}
}

// Metadata returns the stream's dynamic metadata, "ns.key" → string or
// float64.
func (s *Stream) Metadata() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.metadata)
}

func (s *Stream) setMetadata(ns, key C.envoy_dynamic_module_type_module_buffer, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.metadata == nil {
		s.metadata = map[string]any{}
	}
	s.metadata[goStr(ns)+"."+goStr(key)] = v
}

//export envoy_dynamic_module_callback_http_set_dynamic_metadata_string
func envoy_dynamic_module_callback_http_set_dynamic_metadata_string(p C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	ns, key, value C.envoy_dynamic_module_type_module_buffer) {
	if s := streamOf(p, "set_dynamic_metadata_string"); s != nil {
		s.setMetadata(ns, key, goStr(value))
	}
}

//export envoy_dynamic_module_callback_http_set_dynamic_metadata_number
func envoy_dynamic_module_callback_http_set_dynamic_metadata_number(p C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	ns, key C.envoy_dynamic_module_type_module_buffer, v C.double) {
	if s := streamOf(p, "set_dynamic_metadata_number"); s != nil {
		s.setMetadata(ns, key, float64(v))
	}
}
