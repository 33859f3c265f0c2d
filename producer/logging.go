package producer

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafka-upstream/envoy-kafka-upstream/internal/lograte"
)

// kafkaLogEvery bounds kafka-go's own error lines: one per write attempt
// or metadata refresh would flood the log while a cluster is down.
const kafkaLogEvery = 10 * time.Second

// kafkaLogger writes kafka-go's error lines as warnings, at most one per
// kafkaLogEvery, with the count of those held back.
func kafkaLogger(log *slog.Logger) kafka.Logger {
	limit := lograte.New(kafkaLogEvery)
	return kafka.LoggerFunc(func(msg string, args ...any) {
		ok, held := limit.Allow("kafka-go")
		if !ok {
			return
		}
		if held > 0 {
			log.Warn("kafka: "+fmt.Sprintf(msg, args...), "similar_lines_held_back", held)
			return
		}
		log.Warn("kafka: " + fmt.Sprintf(msg, args...))
	})
}
