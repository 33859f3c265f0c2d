package dynmod

// The cgo binding's second part: Envoy stats (defined in config_new,
// flushed on the main thread through a config scheduler) and the stream's
// dynamic metadata. As in abi.go, what Envoy reads is copied into C memory
// for the call.

/*
#include <stdlib.h>
#include "envoy_abi.h"

// One crossing for a reply's dynamic metadata instead of four: names are C
// constants; the topic is the caller's (Envoy copies it before returning).
static void kafka_upstream_set_placement(envoy_dynamic_module_type_http_filter_envoy_ptr f,
    const char* topic, size_t topic_len, int64_t partition, int64_t offset, int64_t records) {
  envoy_dynamic_module_type_module_buffer ns = {"kafka_upstream", 14};
  envoy_dynamic_module_type_module_buffer key = {"topic", 5};
  envoy_dynamic_module_type_module_buffer value = {topic, topic_len};
  envoy_dynamic_module_callback_http_set_dynamic_metadata_string(f, ns, key, value);
  if (partition >= 0) {
    key = (envoy_dynamic_module_type_module_buffer){"partition", 9};
    envoy_dynamic_module_callback_http_set_dynamic_metadata_number(f, ns, key, (double)partition);
  }
  if (offset >= 0) {
    key = (envoy_dynamic_module_type_module_buffer){"offset", 6};
    envoy_dynamic_module_callback_http_set_dynamic_metadata_number(f, ns, key, (double)offset);
  }
  key = (envoy_dynamic_module_type_module_buffer){"records", 7};
  envoy_dynamic_module_callback_http_set_dynamic_metadata_number(f, ns, key, (double)records);
}
*/
import "C"

import (
	"unsafe"

	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
)

// kafka_upstream_set_placement spells ingest.MetadataNamespace, 14 bytes:
// this fails to compile if the two part.
const _ = uint(len(ingest.MetadataNamespace)-14) + uint(14-len(ingest.MetadataNamespace))

// envoySetPlacement writes where a reply's records went to the stream's
// dynamic metadata (namespace kafka_upstream: topic, partition and offset
// when known, records), for access logs; on the worker thread, before the
// reply. The topic is passed in Go memory: it holds no Go pointer, and
// Envoy copies it before the call returns.
func envoySetPlacement(e unsafe.Pointer, p *ingest.Placement) {
	C.kafka_upstream_set_placement(C.envoy_dynamic_module_type_http_filter_envoy_ptr(e),
		(*C.char)(unsafe.Pointer(unsafe.StringData(p.Topic))), C.size_t(len(p.Topic)),
		C.int64_t(p.Partition), C.int64_t(p.Offset), C.int64_t(p.Records))
}

//export envoy_dynamic_module_on_http_filter_config_scheduled
func envoy_dynamic_module_on_http_filter_config_scheduled(e C.envoy_dynamic_module_type_http_filter_config_envoy_ptr,
	_ C.envoy_dynamic_module_type_http_filter_config_module_ptr, _eventID C.uint64_t) {
	defer recoverConfig("http_filter_config_scheduled")
	// By Envoy's pointer, not the module's handle: an event that outlived
	// its config finds nothing and does nothing.
	flushVia(unsafe.Pointer(e))
}

// cBuffers copies strs into one C block: an array of module buffers, then
// their bytes. free releases it.
func cBuffers(strs ...string) (bufs *C.envoy_dynamic_module_type_module_buffer, free func()) {
	head := len(strs) * C.sizeof_envoy_dynamic_module_type_module_buffer
	size := head
	for _, s := range strs {
		size += len(s)
	}
	block := C.malloc(C.size_t(max(size, 1)))
	arr := unsafe.Slice((*C.envoy_dynamic_module_type_module_buffer)(block), len(strs))
	data := unsafe.Slice((*byte)(block), size)[head:]
	off := 0
	for i, s := range strs {
		arr[i].length = C.size_t(len(s))
		if len(s) > 0 {
			arr[i].ptr = (*C.char)(unsafe.Pointer(&data[off]))
			off += copy(data[off:], s)
		}
	}
	return (*C.envoy_dynamic_module_type_module_buffer)(block), func() { C.free(block) }
}

func nth(bufs *C.envoy_dynamic_module_type_module_buffer, i int) *C.envoy_dynamic_module_type_module_buffer {
	return (*C.envoy_dynamic_module_type_module_buffer)(unsafe.Add(unsafe.Pointer(bufs), i*C.sizeof_envoy_dynamic_module_type_module_buffer))
}

// envoyDefineCounter defines a counter with one label ("" for none) in
// the config cfg; ok is false when Envoy refused.
func envoyDefineCounter(cfg unsafe.Pointer, name, label string) (id uint64, ok bool) {
	return define(cfg, name, label, true)
}

// envoyDefineGauge defines a gauge without labels.
func envoyDefineGauge(cfg unsafe.Pointer, name string) (id uint64, ok bool) {
	return define(cfg, name, "", false)
}

func define(cfg unsafe.Pointer, name, label string, counter bool) (uint64, bool) {
	bufs, free := cBuffers(name, label)
	defer free()
	labels, n := nth(bufs, 1), C.size_t(1)
	if label == "" {
		labels, n = nil, 0
	}
	var id C.size_t
	ep := C.envoy_dynamic_module_type_http_filter_config_envoy_ptr(cfg)
	var r C.envoy_dynamic_module_type_metrics_result
	if counter {
		r = C.envoy_dynamic_module_callback_http_filter_config_define_counter(ep, *bufs, labels, n, &id)
	} else {
		r = C.envoy_dynamic_module_callback_http_filter_config_define_gauge(ep, *bufs, labels, n, &id)
	}
	return uint64(id), r == C.envoy_dynamic_module_type_metrics_result_Success
}

// envoyIncrementCounter adds v to counter id's series for label value.
func envoyIncrementCounter(cfg unsafe.Pointer, id uint64, label string, v uint64) bool {
	bufs, free := cBuffers(label)
	defer free()
	return C.envoy_dynamic_module_callback_http_filter_config_increment_counter(C.envoy_dynamic_module_type_http_filter_config_envoy_ptr(cfg),
		C.size_t(id), bufs, 1, C.uint64_t(v)) == C.envoy_dynamic_module_type_metrics_result_Success
}

// envoySetGauge sets gauge id (no labels) to v.
func envoySetGauge(cfg unsafe.Pointer, id uint64, v uint64) bool {
	return C.envoy_dynamic_module_callback_http_filter_config_set_gauge(C.envoy_dynamic_module_type_http_filter_config_envoy_ptr(cfg),
		C.size_t(id), nil, 0, C.uint64_t(v)) == C.envoy_dynamic_module_type_metrics_result_Success
}

// The config scheduler: new and delete on the main thread, commit from
// the flush ticker's goroutine (under the lock that delete takes).

func envoyConfigSchedulerNew(cfg unsafe.Pointer) unsafe.Pointer {
	return unsafe.Pointer(C.envoy_dynamic_module_callback_http_filter_config_scheduler_new(C.envoy_dynamic_module_type_http_filter_config_envoy_ptr(cfg)))
}

func envoyConfigSchedulerCommit(s unsafe.Pointer) {
	C.envoy_dynamic_module_callback_http_filter_config_scheduler_commit(C.envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr(s), 0)
}

func envoyConfigSchedulerDelete(s unsafe.Pointer) {
	C.envoy_dynamic_module_callback_http_filter_config_scheduler_delete(C.envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr(s))
}
