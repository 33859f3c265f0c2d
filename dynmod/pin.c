// kafka_upstream_pin keeps this library loaded until the process exits.
//
// Envoy dlcloses a module once no config uses it (a listener removed by
// xDS, or Envoy's own shutdown), unless dynamic_module_config.do_not_close
// is set; a Go runtime cannot be unloaded: its threads would run unmapped
// code. `-Wl,-z,nodelete` would mark the library so, but cgo does not allow
// that flag, so the module marks itself at on_program_init: glibc applies
// RTLD_NODELETE to a library already loaded (RTLD_NOLOAD).

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

#include "envoy_abi.h"

int kafka_upstream_pin(void) {
  Dl_info info;
  if (dladdr((void*)&envoy_dynamic_module_on_program_init, &info) == 0 || info.dli_fname == NULL) {
    return 0;
  }
  return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
}

// kafka_upstream_on_exit has the process's exit flush the async buffers
// (exit.go): Envoy exits without destroying the module's configs, so no
// other hook would. atexit handlers run when Envoy's main returns.
void kafkaUpstreamAtExit(void); // exported by abi.go
static void kafka_upstream_at_exit(void) { kafkaUpstreamAtExit(); }
int kafka_upstream_on_exit(void) { return atexit(kafka_upstream_at_exit) == 0; }
