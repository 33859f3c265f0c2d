// At the process's exit, wait for the async buffers' flush (filter.AtExit):
// Envoy's shutdown starts the configs' closes in goroutines, which exit
// would cut short, and no SDK hook runs at exit.
#include <stdlib.h>

void kafkaUpstreamGolangAtExit(void); // exit.go

static void kafka_upstream_at_exit(void) { kafkaUpstreamGolangAtExit(); }

int kafka_upstream_register_at_exit(void) { return atexit(kafka_upstream_at_exit) == 0; }
