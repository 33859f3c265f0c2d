// chost: a minimal stand-in for Envoy's contrib golang HTTP filter host.
//
// It loads a Go plugin built with -buildmode=c-shared the way Envoy does
// (but with RTLD_NOW, so that every unresolved import is reported at load
// time), looks up the 10 functions Envoy dlsym()s from an HTTP filter plugin,
// and feeds one serialized google.protobuf.Any to
// envoyGoFilterNewHttpPluginConfig, like Envoy does for `plugin_config`.
//
// Usage:   chost LIB.so PLUGIN_NAME CONFIG.bin
// Build:   gcc -rdynamic -o build/chost e2e/chost/host.c -ldl
//          (-rdynamic exports the envoyGo* stubs below to the plugin)
// Exit:    0 config accepted (id != 0), 2 config rejected (id == 0),
//          1 usage / I/O error, 3 dlopen failed (e.g. undefined symbol),
//          4 an export Envoy needs is missing. Anything else (134 = SIGABRT)
//          means the plugin crashed or called an unexpected stub.
// Env:     CHOST_LOG_LEVEL (0 trace .. 5 critical, default 2 = info),
//          CHOST_CONCURRENCY (httpConfig.concurrency, default 1).
//
// Stubs mirror contrib/golang/common/go/api/api.h of the pinned SDK
// (v1.39.1, 54 functions). The ones Envoy/Go call while loading and parsing
// a config (log, log level, metric definition, config finalize) behave
// sensibly; every other one is request-scoped and aborts loudly, because it
// must never be reached in this host. All stubs are thread-safe: the Go
// runtime calls them from its own threads (e.g. the log-level ticker).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// ---- types from api.h (layout must match) --------------------------------

typedef struct {
  uint64_t plugin_name_ptr;
  uint64_t plugin_name_len;
  uint64_t config_ptr;
  uint64_t config_len;
  int is_route_config;
  uint32_t concurrency;
} httpConfig;

typedef int CAPIStatus; // enum in api.h
enum { CAPIOK = 0, CAPIValueNotFound = -5 };
typedef int bufferAction;
typedef int headerAction;

// ---- helpers -------------------------------------------------------------

static atomic_uint g_log_calls, g_log_level_calls, g_define_metric_calls, g_config_finalize_calls,
    g_other_metric_calls;
static atomic_uint g_next_metric_id = 1;
static uint32_t g_log_level = 2; // info

__attribute__((noreturn)) static void die_unexpected(const char* fn) {
  // write(2) is async-signal-safe and does not take stdio locks.
  char buf[256];
  int n = snprintf(buf, sizeof(buf),
                   "chost: unexpected call to %s (request-scoped API, not available in this "
                   "host)\n",
                   fn);
  if (n > 0) {
    ssize_t ignored = write(2, buf, (size_t)n);
    (void)ignored;
  }
  abort();
}

#define UNEXPECTED() die_unexpected(__func__)

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char* level_name(uint32_t level) {
  static const char* names[] = {"trace", "debug", "info", "warn", "error", "critical"};
  return level < 6 ? names[level] : "?";
}

// ---- stubs: called during load / config parse ----------------------------

void envoyGoFilterLog(uint32_t level, void* message_data, int message_len) {
  atomic_fetch_add(&g_log_calls, 1);
  fprintf(stderr, "[plugin][%s] %.*s\n", level_name(level), message_len, (const char*)message_data);
}

uint32_t envoyGoFilterLogLevel(void) {
  atomic_fetch_add(&g_log_level_calls, 1);
  return g_log_level;
}

void envoyGoConfigHttpFinalize(void* c) {
  // Envoy deletes its httpConfigInternal here (Go calls this from the
  // finalizer of its config wrapper); we malloc()ed ours, so free it.
  atomic_fetch_add(&g_config_finalize_calls, 1);
  free(c);
}

CAPIStatus envoyGoFilterHttpDefineMetric(void* c, uint32_t metric_type, void* name_data,
                                         int name_len, uint32_t* metric_id) {
  (void)c;
  atomic_fetch_add(&g_define_metric_calls, 1);
  if (metric_type > 2) { // Counter=0, Gauge=1, Histogram=2
    return CAPIValueNotFound;
  }
  *metric_id = atomic_fetch_add(&g_next_metric_id, 1);
  fprintf(stderr, "chost: define metric type=%u name=%.*s -> id %u\n", metric_type, name_len,
          (const char*)name_data, *metric_id);
  return CAPIOK;
}

CAPIStatus envoyGoFilterHttpIncrementMetric(void* c, uint32_t metric_id, int64_t offset) {
  (void)c, (void)metric_id, (void)offset;
  atomic_fetch_add(&g_other_metric_calls, 1);
  return CAPIOK;
}

CAPIStatus envoyGoFilterHttpGetMetric(void* c, uint32_t metric_id, uint64_t* value) {
  (void)c, (void)metric_id;
  atomic_fetch_add(&g_other_metric_calls, 1);
  *value = 0;
  return CAPIOK;
}

CAPIStatus envoyGoFilterHttpRecordMetric(void* c, uint32_t metric_id, uint64_t value) {
  (void)c, (void)metric_id, (void)value;
  atomic_fetch_add(&g_other_metric_calls, 1);
  return CAPIOK;
}

// ---- stubs: request/connection scoped, must not be reached ---------------

/* decode/encode phase (processState*) */
CAPIStatus envoyGoFilterHttpContinue(void* s, int status) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpSendLocalReply(void* s, int response_code, void* body_text_data,
                                           int body_text_len, void* headers, int headers_num,
                                           long long int grpc_status, void* details_data,
                                           int details_len) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpSendPanicReply(void* s, void* details_data, int details_len) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpAddData(void* s, void* data, int data_len, bool is_streaming) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpInjectData(void* s, void* data, int data_len) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpGetHeader(void* s, void* key_data, int key_len, uint64_t* value_data,
                                      int* value_len) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpCopyHeaders(void* s, void* strs, void* buf) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpSetHeaderHelper(void* s, void* key_data, int key_len, void* value_data,
                                            int value_len, headerAction action) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpRemoveHeader(void* s, void* key_data, int key_len) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpGetBuffer(void* s, uint64_t buffer, void* value) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpDrainBuffer(void* s, uint64_t buffer, uint64_t length) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpSetBufferHelper(void* s, uint64_t buffer, void* data, int length,
                                            bufferAction action) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpCopyTrailers(void* s, void* strs, void* buf) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpSetTrailer(void* s, void* key_data, int key_len, void* value,
                                       int value_len, headerAction action) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpRemoveTrailer(void* s, void* key_data, int key_len) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpSetUpstreamOverrideHost(void* s, void* host_data, int host_len,
                                                    bool strict) { UNEXPECTED(); }

/* request scoped (httpRequest*) */
CAPIStatus envoyGoFilterHttpClearRouteCache(void* r, bool refresh) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpGetStringValue(void* r, int id, uint64_t* value_data, int* value_len) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpGetIntegerValue(void* r, int id, uint64_t* value) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpGetDynamicMetadata(void* r, void* name_data, int name_len,
                                               uint64_t* value_data, int* value_len) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpSetDynamicMetadata(void* r, void* name_data, int name_len,
                                               void* key_data, int key_len, void* buf_data,
                                               int buf_len) { UNEXPECTED(); }
void envoyGoFilterHttpFinalize(void* r, int reason) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpSetStringFilterState(void* r, void* key_data, int key_len,
                                                 void* value_data, int value_len, int state_type,
                                                 int life_span, int stream_sharing) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpGetStringFilterState(void* r, void* key_data, int key_len,
                                                 uint64_t* value_data, int* value_len) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpGetStringProperty(void* r, void* key_data, int key_len,
                                              uint64_t* value_data, int* value_len, int* rc) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpGetStringSecret(void* r, void* key_data, int key_len,
                                            uint64_t* value_data, int* value_len) { UNEXPECTED(); }
CAPIStatus envoyGoFilterHttpSetDrainConnectionUponCompletion(void* r) { UNEXPECTED(); }

/* network filter: downstream / upstream */
CAPIStatus envoyGoFilterDownstreamClose(void* wrapper, int close_type) { UNEXPECTED(); }
CAPIStatus envoyGoFilterDownstreamWrite(void* f, void* buffer_ptr, int buffer_len, int end_stream) { UNEXPECTED(); }
void envoyGoFilterDownstreamFinalize(void* wrapper, int reason) { UNEXPECTED(); }
CAPIStatus envoyGoFilterDownstreamInfo(void* wrapper, int t, void* ret) { UNEXPECTED(); }
void* envoyGoFilterUpstreamConnect(void* library_id, void* addr, uint64_t conn_id) { UNEXPECTED(); }
CAPIStatus envoyGoFilterUpstreamConnEnableHalfClose(void* u, int enable_half_close) { UNEXPECTED(); }
CAPIStatus envoyGoFilterUpstreamWrite(void* u, void* buffer_ptr, int buffer_len, int end_stream) { UNEXPECTED(); }
CAPIStatus envoyGoFilterUpstreamClose(void* wrapper, int close_type) { UNEXPECTED(); }
void envoyGoFilterUpstreamFinalize(void* wrapper, int reason) { UNEXPECTED(); }
CAPIStatus envoyGoFilterUpstreamInfo(void* wrapper, int t, void* ret) { UNEXPECTED(); }

/* filter state */
CAPIStatus envoyGoFilterSetFilterState(void* wrapper, void* key, void* value, int state_type,
                                       int life_span, int stream_sharing) { UNEXPECTED(); }
CAPIStatus envoyGoFilterGetFilterState(void* wrapper, void* key, void* value) { UNEXPECTED(); }

/* tcp upstream bridge */
CAPIStatus envoyGoHttpTcpBridgeCopyHeaders(void* s, void* strs, void* buf) { UNEXPECTED(); }
CAPIStatus envoyGoHttpTcpBridgeSetRespHeader(void* s, void* key_data, int key_len, void* value_data,
                                             int value_len, headerAction action) { UNEXPECTED(); }
CAPIStatus envoyGoHttpTcpBridgeRemoveRespHeader(void* s, void* key_data, int key_len) { UNEXPECTED(); }
CAPIStatus envoyGoHttpTcpBridgeGetBuffer(void* s, uint64_t buffer, void* value) { UNEXPECTED(); }
CAPIStatus envoyGoHttpTcpBridgeDrainBuffer(void* s, uint64_t buffer, uint64_t length) { UNEXPECTED(); }
CAPIStatus envoyGoHttpTcpBridgeSetBufferHelper(void* s, uint64_t buffer, void* data, int length,
                                               bufferAction action) { UNEXPECTED(); }
CAPIStatus envoyGoHttpTcpBridgeGetStringValue(void* r, int id, uint64_t* value_data,
                                              int* value_len) { UNEXPECTED(); }
CAPIStatus envoyGoHttpTcpBridgeSetSelfHalfCloseForUpstreamConn(void* r, int enabled) { UNEXPECTED(); }

// ---- host ----------------------------------------------------------------

// The exports Envoy's HttpFilterDsoImpl dlsym()s (contrib/golang/common/dso/dso.cc).
static const char* const kExports[] = {
    "envoyGoFilterNewHttpPluginConfig",  "envoyGoFilterMergeHttpPluginConfig",
    "envoyGoFilterDestroyHttpPluginConfig", "envoyGoFilterOnHttpHeader",
    "envoyGoFilterOnHttpData",           "envoyGoFilterOnHttpLog",
    "envoyGoFilterOnHttpStreamComplete", "envoyGoFilterOnHttpDestroy",
    "envoyGoRequestSemaDec",             "envoyGoFilterCleanUp",
};
#define N_EXPORTS (sizeof(kExports) / sizeof(kExports[0]))

typedef uint64_t (*new_config_fn)(httpConfig*);
typedef void (*destroy_config_fn)(uint64_t id, long long need_delay); // GoInt

static int read_file(const char* path, char** out, size_t* out_len) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) {
    return -1;
  }
  size_t cap = 4096, len = 0;
  char* buf = malloc(cap);
  for (;;) {
    if (buf == NULL) {
      fclose(f);
      return -1;
    }
    len += fread(buf + len, 1, cap - len, f);
    if (len < cap) {
      break;
    }
    cap *= 2;
    buf = realloc(buf, cap);
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    return -1;
  }
  *out = buf;
  *out_len = len;
  return 0;
}

static void finish(int code) {
  fflush(stdout);
  fflush(stderr);
  // _exit: do not run atexit/destructors while Go threads are still alive.
  _exit(code);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s LIB.so PLUGIN_NAME CONFIG.bin\n", argv[0]);
    return 1;
  }
  const char* lib = argv[1];
  const char* plugin_name = argv[2];
  const char* config_path = argv[3];

  // Line-buffered so stdout and the stubs' stderr interleave in order.
  setvbuf(stdout, NULL, _IOLBF, 0);

  const char* lv = getenv("CHOST_LOG_LEVEL");
  if (lv != NULL && *lv != '\0') {
    g_log_level = (uint32_t)strtoul(lv, NULL, 10);
  }
  uint32_t concurrency = 1;
  const char* cc = getenv("CHOST_CONCURRENCY");
  if (cc != NULL && *cc != '\0') {
    concurrency = (uint32_t)strtoul(cc, NULL, 10);
  }

  char* cfg = NULL;
  size_t cfg_len = 0;
  if (read_file(config_path, &cfg, &cfg_len) != 0) {
    perror(config_path);
    return 1;
  }

  double t0 = now_ms();
  // Envoy itself uses RTLD_LAZY; RTLD_NOW makes every unresolved function
  // import fail here, naming the symbol, instead of at its first call.
  void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    fprintf(stderr, "chost: dlopen failed: %s\n", dlerror());
    finish(3);
  }
  double t1 = now_ms();
  printf("chost: dlopen ok (%.1f ms)\n", t1 - t0);

  void* syms[N_EXPORTS];
  int missing = 0;
  for (size_t i = 0; i < N_EXPORTS; i++) {
    dlerror();
    syms[i] = dlsym(h, kExports[i]);
    if (syms[i] == NULL) {
      fprintf(stderr, "chost: missing export %s: %s\n", kExports[i], dlerror());
      missing++;
    }
  }
  if (missing) {
    finish(4);
  }
  printf("chost: all %zu exports found\n", N_EXPORTS);

  // Envoy heap-allocates this (httpConfigInternal) and frees it in
  // envoyGoConfigHttpFinalize, called from a Go finalizer; do the same.
  httpConfig* c = calloc(1, sizeof(*c));
  if (c == NULL) {
    finish(1);
  }
  c->plugin_name_ptr = (uint64_t)(uintptr_t)plugin_name;
  c->plugin_name_len = strlen(plugin_name);
  c->config_ptr = (uint64_t)(uintptr_t)cfg;
  c->config_len = cfg_len;
  c->is_route_config = 0;
  c->concurrency = concurrency;

  new_config_fn new_config = (new_config_fn)syms[0];
  double t2 = now_ms();
  // The first call into the library also waits for the Go runtime and all
  // package init()s, which c-shared runs on a separate thread after dlopen.
  uint64_t id = new_config(c);
  double t3 = now_ms();
  printf("chost: envoyGoFilterNewHttpPluginConfig(plugin=%s, %zu config bytes) = %llu "
         "(%.1f ms, incl. Go runtime init)\n",
         plugin_name, cfg_len, (unsigned long long)id, t3 - t2);

  if (id != 0) {
    // Envoy calls this when the filter config is torn down.
    destroy_config_fn destroy = (destroy_config_fn)syms[2];
    destroy(id, 0);
    printf("chost: envoyGoFilterDestroyHttpPluginConfig(%llu, 0) ok\n", (unsigned long long)id);
  }
  printf("chost: callbacks: log=%u log_level=%u define_metric=%u other_metric=%u "
         "config_finalize=%u\n",
         atomic_load(&g_log_calls), atomic_load(&g_log_level_calls),
         atomic_load(&g_define_metric_calls), atomic_load(&g_other_metric_calls),
         atomic_load(&g_config_finalize_calls));
  if (id == 0) {
    printf("chost: config REJECTED\n");
    finish(2);
  }
  printf("chost: config ACCEPTED (id %llu)\n", (unsigned long long)id);
  finish(0);
  return 0;
}
