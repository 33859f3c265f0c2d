// The part of Envoy's dynamic-module C ABI that package dynmod uses: the
// HTTP filter hooks it implements and the callbacks it calls, nothing else.
//
// Built for Envoy 1.40.0, ABI version "v0.2.0". Declared from abi/abi.h of
// github.com/envoyproxy/envoy/source/extensions/dynamic_modules
// @v0.0.0-20260423231439-f1dd21b16c24 (ABI "v0.1.0", the newest header the Go
// module proxy serves), whose declarations of everything below are those of
// 1.40.0. e2e/dynmod-check.sh compares these names with the ones the pinned
// Envoy binary resolves and exports, and fails on any difference.
//
// Deliberate differences from upstream's header, none of which changes the
// calling convention on the LP64 targets Envoy supports (x86_64, aarch64):
//   - The module's own pointers (configs, filters) are uintptr_t, not
//     const void*: dynmod hands Envoy runtime/cgo.Handle values there, never
//     addresses, so Go never turns an integer into a pointer.
//   - Hook parameters carry no const: cgo writes the prototypes of Go
//     exports without it, and the two declarations must agree.
//   - Enums list only the values used.
//
// Included by dynmod/abi.go (which implements the hooks) and by the fake
// Envoy of the tests (dynmod/envoyfake, which implements the callbacks), so
// the C compiler checks both against these declarations.

#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// What envoy_dynamic_module_on_program_init returns; Envoy 1.40.0 compares
// it with its own and only warns on a mismatch.
#define KAFKA_UPSTREAM_ENVOY_ABI_VERSION "v0.2.0"

// ---------------------------------------------------------------- types ---

typedef const char* envoy_dynamic_module_type_abi_version_module_ptr;
typedef const char* envoy_dynamic_module_type_buffer_module_ptr;
typedef const char* envoy_dynamic_module_type_buffer_envoy_ptr;

typedef struct envoy_dynamic_module_type_envoy_buffer {
  envoy_dynamic_module_type_buffer_envoy_ptr ptr;
  size_t length;
} envoy_dynamic_module_type_envoy_buffer;

typedef struct envoy_dynamic_module_type_module_buffer {
  envoy_dynamic_module_type_buffer_module_ptr ptr;
  size_t length;
} envoy_dynamic_module_type_module_buffer;

typedef struct envoy_dynamic_module_type_module_http_header {
  envoy_dynamic_module_type_buffer_module_ptr key_ptr;
  size_t key_length;
  envoy_dynamic_module_type_buffer_module_ptr value_ptr;
  size_t value_length;
} envoy_dynamic_module_type_module_http_header;

typedef struct envoy_dynamic_module_type_envoy_http_header {
  envoy_dynamic_module_type_buffer_envoy_ptr key_ptr;
  size_t key_length;
  envoy_dynamic_module_type_buffer_envoy_ptr value_ptr;
  size_t value_length;
} envoy_dynamic_module_type_envoy_http_header;

typedef enum envoy_dynamic_module_type_http_header_type {
  envoy_dynamic_module_type_http_header_type_RequestHeader = 0,
  envoy_dynamic_module_type_http_header_type_RequestTrailer = 1,
} envoy_dynamic_module_type_http_header_type;

typedef enum envoy_dynamic_module_type_log_level {
  envoy_dynamic_module_type_log_level_Trace = 0,
  envoy_dynamic_module_type_log_level_Debug = 1,
  envoy_dynamic_module_type_log_level_Info = 2,
  envoy_dynamic_module_type_log_level_Warn = 3,
  envoy_dynamic_module_type_log_level_Error = 4,
  envoy_dynamic_module_type_log_level_Critical = 5,
} envoy_dynamic_module_type_log_level;

typedef enum envoy_dynamic_module_type_http_callout_result {
  envoy_dynamic_module_type_http_callout_result_Success = 0,
} envoy_dynamic_module_type_http_callout_result;

typedef enum envoy_dynamic_module_type_http_stream_reset_reason {
  envoy_dynamic_module_type_http_stream_reset_reason_ConnectionFailure = 0,
} envoy_dynamic_module_type_http_stream_reset_reason;

typedef void* envoy_dynamic_module_type_http_filter_config_envoy_ptr;
typedef uintptr_t envoy_dynamic_module_type_http_filter_config_module_ptr;           // upstream: const void*
typedef uintptr_t envoy_dynamic_module_type_http_filter_per_route_config_module_ptr; // upstream: const void*
typedef void* envoy_dynamic_module_type_http_filter_envoy_ptr;
typedef uintptr_t envoy_dynamic_module_type_http_filter_module_ptr;                  // upstream: const void*
typedef void* envoy_dynamic_module_type_http_filter_scheduler_module_ptr;
typedef void* envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr;

typedef enum envoy_dynamic_module_type_metrics_result {
  envoy_dynamic_module_type_metrics_result_Success = 0,
} envoy_dynamic_module_type_metrics_result;

typedef enum envoy_dynamic_module_type_http_body_type {
  envoy_dynamic_module_type_http_body_type_ReceivedRequestBody = 0,
  envoy_dynamic_module_type_http_body_type_BufferedRequestBody = 1,
} envoy_dynamic_module_type_http_body_type;

typedef enum envoy_dynamic_module_type_on_http_filter_request_headers_status {
  envoy_dynamic_module_type_on_http_filter_request_headers_status_Continue = 0,
  envoy_dynamic_module_type_on_http_filter_request_headers_status_StopIteration = 1,
} envoy_dynamic_module_type_on_http_filter_request_headers_status;

typedef enum envoy_dynamic_module_type_on_http_filter_request_body_status {
  envoy_dynamic_module_type_on_http_filter_request_body_status_Continue = 0,
  envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationAndBuffer = 1,
  envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationNoBuffer = 3,
} envoy_dynamic_module_type_on_http_filter_request_body_status;

typedef enum envoy_dynamic_module_type_on_http_filter_request_trailers_status {
  envoy_dynamic_module_type_on_http_filter_request_trailers_status_Continue = 0,
  envoy_dynamic_module_type_on_http_filter_request_trailers_status_StopIteration = 1,
} envoy_dynamic_module_type_on_http_filter_request_trailers_status;

typedef enum envoy_dynamic_module_type_on_http_filter_response_headers_status {
  envoy_dynamic_module_type_on_http_filter_response_headers_status_Continue = 0,
} envoy_dynamic_module_type_on_http_filter_response_headers_status;

typedef enum envoy_dynamic_module_type_on_http_filter_response_body_status {
  envoy_dynamic_module_type_on_http_filter_response_body_status_Continue = 0,
} envoy_dynamic_module_type_on_http_filter_response_body_status;

typedef enum envoy_dynamic_module_type_on_http_filter_response_trailers_status {
  envoy_dynamic_module_type_on_http_filter_response_trailers_status_Continue = 0,
} envoy_dynamic_module_type_on_http_filter_response_trailers_status;

// ---------------------------------------- event hooks (the module's) ---
// Envoy 1.40.0 fails the config when one of these is missing, except the
// per-route pair (optional; without it per-route configs are refused).

envoy_dynamic_module_type_abi_version_module_ptr envoy_dynamic_module_on_program_init(void);

envoy_dynamic_module_type_http_filter_config_module_ptr envoy_dynamic_module_on_http_filter_config_new(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr filter_config_envoy_ptr,
    envoy_dynamic_module_type_envoy_buffer name, envoy_dynamic_module_type_envoy_buffer config);

void envoy_dynamic_module_on_http_filter_config_destroy(
    envoy_dynamic_module_type_http_filter_config_module_ptr filter_config_ptr);

envoy_dynamic_module_type_http_filter_per_route_config_module_ptr
envoy_dynamic_module_on_http_filter_per_route_config_new(envoy_dynamic_module_type_envoy_buffer name,
                                                         envoy_dynamic_module_type_envoy_buffer config);

void envoy_dynamic_module_on_http_filter_per_route_config_destroy(
    envoy_dynamic_module_type_http_filter_per_route_config_module_ptr filter_config_ptr);

envoy_dynamic_module_type_http_filter_module_ptr envoy_dynamic_module_on_http_filter_new(
    envoy_dynamic_module_type_http_filter_config_module_ptr filter_config_ptr,
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr);

envoy_dynamic_module_type_on_http_filter_request_headers_status envoy_dynamic_module_on_http_filter_request_headers(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, bool end_of_stream);

envoy_dynamic_module_type_on_http_filter_request_body_status envoy_dynamic_module_on_http_filter_request_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, bool end_of_stream);

envoy_dynamic_module_type_on_http_filter_request_trailers_status envoy_dynamic_module_on_http_filter_request_trailers(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr);

envoy_dynamic_module_type_on_http_filter_response_headers_status envoy_dynamic_module_on_http_filter_response_headers(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, bool end_of_stream);

envoy_dynamic_module_type_on_http_filter_response_body_status envoy_dynamic_module_on_http_filter_response_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, bool end_of_stream);

envoy_dynamic_module_type_on_http_filter_response_trailers_status
envoy_dynamic_module_on_http_filter_response_trailers(envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
                                                      envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr);

void envoy_dynamic_module_on_http_filter_stream_complete(envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
                                                         envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr);

void envoy_dynamic_module_on_http_filter_destroy(envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr);

void envoy_dynamic_module_on_http_filter_scheduled(envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
                                                   envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr,
                                                   uint64_t event_id);

// Optional in Envoy 1.40.0: on the main thread, after a config scheduler
// commit (the module's stats flush).
void envoy_dynamic_module_on_http_filter_config_scheduled(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr filter_config_envoy_ptr,
    envoy_dynamic_module_type_http_filter_config_module_ptr filter_config_ptr, uint64_t event_id);

// Required by Envoy 1.40.0, never called: the module starts no callouts
// and is not a terminal filter.
void envoy_dynamic_module_on_http_filter_http_callout_done(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, uint64_t callout_id,
    envoy_dynamic_module_type_http_callout_result result, envoy_dynamic_module_type_envoy_http_header* headers,
    size_t headers_size, envoy_dynamic_module_type_envoy_buffer* body_chunks, size_t body_chunks_size);

void envoy_dynamic_module_on_http_filter_http_stream_headers(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, uint64_t stream_id,
    envoy_dynamic_module_type_envoy_http_header* headers, size_t headers_size, bool end_stream);

void envoy_dynamic_module_on_http_filter_http_stream_data(envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
                                                          envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr,
                                                          uint64_t stream_id, envoy_dynamic_module_type_envoy_buffer* data,
                                                          size_t data_count, bool end_stream);

void envoy_dynamic_module_on_http_filter_http_stream_trailers(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, uint64_t stream_id,
    envoy_dynamic_module_type_envoy_http_header* trailers, size_t trailers_size);

void envoy_dynamic_module_on_http_filter_http_stream_complete(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr, uint64_t stream_id);

void envoy_dynamic_module_on_http_filter_http_stream_reset(envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
                                                           envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr,
                                                           uint64_t stream_id,
                                                           envoy_dynamic_module_type_http_stream_reset_reason reason);

void envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr);

void envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_http_filter_module_ptr filter_module_ptr);

// ----------------------------------------------- callbacks (Envoy's) ---

void envoy_dynamic_module_callback_log(envoy_dynamic_module_type_log_level level,
                                       envoy_dynamic_module_type_module_buffer message);

bool envoy_dynamic_module_callback_log_enabled(envoy_dynamic_module_type_log_level level);

size_t envoy_dynamic_module_callback_http_get_headers_size(envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
                                                           envoy_dynamic_module_type_http_header_type header_type);

bool envoy_dynamic_module_callback_http_get_headers(envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
                                                    envoy_dynamic_module_type_http_header_type header_type,
                                                    envoy_dynamic_module_type_envoy_http_header* result_headers);

void envoy_dynamic_module_callback_http_send_response(envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
                                                      uint32_t status_code,
                                                      envoy_dynamic_module_type_module_http_header* headers_vector,
                                                      size_t headers_vector_size,
                                                      envoy_dynamic_module_type_module_buffer body,
                                                      envoy_dynamic_module_type_module_buffer details);

size_t envoy_dynamic_module_callback_http_get_body_chunks_size(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr, envoy_dynamic_module_type_http_body_type body_type);

bool envoy_dynamic_module_callback_http_get_body_chunks(envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
                                                        envoy_dynamic_module_type_http_body_type body_type,
                                                        envoy_dynamic_module_type_envoy_buffer* result_buffer_vector);

bool envoy_dynamic_module_callback_http_received_buffered_request_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr);

uint64_t envoy_dynamic_module_callback_http_get_buffer_limit(envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr);

envoy_dynamic_module_type_http_filter_scheduler_module_ptr envoy_dynamic_module_callback_http_filter_scheduler_new(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr);

void envoy_dynamic_module_callback_http_filter_scheduler_commit(
    envoy_dynamic_module_type_http_filter_scheduler_module_ptr scheduler_module_ptr, uint64_t event_id);

void envoy_dynamic_module_callback_http_filter_scheduler_delete(
    envoy_dynamic_module_type_http_filter_scheduler_module_ptr scheduler_module_ptr);

envoy_dynamic_module_type_http_filter_per_route_config_module_ptr
envoy_dynamic_module_callback_get_most_specific_route_config(envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr);

// Stats: defined in config_new (later definitions are refused as Frozen),
// changed through the config (the _config_ variants need no stream) on
// the main thread. Label values must match the label names in number.

envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_define_counter(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr filter_config_envoy_ptr,
    envoy_dynamic_module_type_module_buffer name, envoy_dynamic_module_type_module_buffer* label_names,
    size_t label_names_length, size_t* counter_id_ptr);

envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_define_gauge(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr filter_config_envoy_ptr,
    envoy_dynamic_module_type_module_buffer name, envoy_dynamic_module_type_module_buffer* label_names,
    size_t label_names_length, size_t* gauge_id_ptr);

envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_increment_counter(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr filter_config_envoy_ptr, size_t id,
    envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length, uint64_t value);

envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_set_gauge(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr filter_config_envoy_ptr, size_t id,
    envoy_dynamic_module_type_module_buffer* label_values, size_t label_values_length, uint64_t value);

// The config scheduler: commit from any thread, and Envoy calls
// on_http_filter_config_scheduled on the main thread.

envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr
envoy_dynamic_module_callback_http_filter_config_scheduler_new(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr filter_config_envoy_ptr);

void envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
    envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr scheduler_module_ptr, uint64_t event_id);

void envoy_dynamic_module_callback_http_filter_config_scheduler_delete(
    envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr scheduler_module_ptr);

// Dynamic metadata of the stream (for access logs), on the worker thread.

void envoy_dynamic_module_callback_http_set_dynamic_metadata_string(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr, envoy_dynamic_module_type_module_buffer ns,
    envoy_dynamic_module_type_module_buffer key, envoy_dynamic_module_type_module_buffer value);

void envoy_dynamic_module_callback_http_set_dynamic_metadata_number(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr, envoy_dynamic_module_type_module_buffer ns,
    envoy_dynamic_module_type_module_buffer key, double value);
