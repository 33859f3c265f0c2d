package producer

import (
	"sync"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/compress/snappy"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
)

// codec returns the kafka-go compression of a config, applying its level.
//
// kafka-go looks a codec up in a table global to the process
// (compress.Codecs) and its encoders are pooled with the level they were
// made with: a level can be set once per process, before the first write.
// config.Resolve refuses a level that differs from one already in use, so
// each level is written here once.
func codec(s config.Producer) kafka.Compression {
	var c kafka.Compression
	if s.Compression == "none" || s.Compression == "" {
		return compress.None
	}
	if err := c.UnmarshalText([]byte(s.Compression)); err != nil {
		panic("producer: compression not validated: " + s.Compression)
	}
	if s.CompressionLevel != nil {
		level := *s.CompressionLevel
		levelOnce[c].Do(func() {
			switch c {
			case compress.Gzip:
				compress.GzipCodec.Level = level
			case compress.Zstd:
				compress.ZstdCodec.Level = level
			case compress.Snappy:
				compress.SnappyCodec.Compression = snappy.Compression(level)
			}
		})
	}
	return c
}

var levelOnce [compress.Zstd + 1]sync.Once
