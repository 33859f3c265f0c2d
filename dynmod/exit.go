package dynmod

import "github.com/kafka-upstream/envoy-kafka-upstream/producer"

// atExit runs as the process exits (pin.c's atexit handler), after Envoy's
// main returned. Envoy destroys the filter configs as it shuts down, but
// the module closes a config's producer in a goroutine (config destroy
// runs on Envoy's main thread, which must not wait on Kafka), and exit
// would cut those flushes short: checked on Envoy 1.40.0, the buffered
// records went without a word. atExit waits for them and flushes any
// producer still open, each within its flush_timeout; the closes log
// through Envoy's logger, which still works then, and what atExit itself
// finds lost goes to stderr.
func atExit() { producer.FlushAtExit() }
