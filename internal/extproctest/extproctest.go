// Package extproctest helps the ext_proc server's tests state what it
// answers.
package extproctest

import (
	"encoding/json"

	"google.golang.org/protobuf/types/known/structpb"
)

// Metadata is the dynamic metadata the server sends with a reply whose
// JSON body is body: where the first record of "records" without an
// "error" went, and how many such records there are; nil when none.
// It reads the reply as a client would, to check the server's own
// derivation.
func Metadata(body string) *structpb.Struct {
	var reply struct {
		Records []struct {
			Topic     string `json:"topic"`
			Partition *int   `json:"partition"`
			Offset    *int64 `json:"offset"`
			Error     string `json:"error"`
		} `json:"records"`
	}
	if json.Unmarshal([]byte(body), &reply) != nil {
		return nil
	}
	var fields map[string]any
	n := 0
	for _, r := range reply.Records {
		if r.Error != "" {
			continue
		}
		n++
		if fields == nil {
			fields = map[string]any{"topic": r.Topic}
			if r.Partition != nil {
				fields["partition"] = *r.Partition
			}
			if r.Offset != nil {
				fields["offset"] = *r.Offset
			}
		}
	}
	if fields == nil {
		return nil
	}
	fields["records"] = n
	s, err := structpb.NewStruct(map[string]any{"kafka_upstream": fields})
	if err != nil {
		panic(err)
	}
	return s
}
