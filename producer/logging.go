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
// kafkaLogEvery, and at the end of a window in which more came, one line
// with their count.
func kafkaLogger(log *slog.Logger) kafka.Logger {
	limit := lograte.New(kafkaLogEvery)
	limit.Summary = func(_ string, held int) {
		log.Warn("kafka: more lines like the last", "similar_lines", held, "within", kafkaLogEvery.String())
	}
	return kafka.LoggerFunc(func(msg string, args ...any) {
		if ok, _ := limit.Allow("kafka-go"); ok {
			log.Warn("kafka: " + fmt.Sprintf(msg, args...))
		}
	})
}
