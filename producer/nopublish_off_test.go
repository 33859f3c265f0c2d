//go:build !kafka_upstream_nopublish

package producer

import "testing"

// The bench-only no-publish switch (nopublish.go) is off in every other build.
func TestProductionBuildPublishes(t *testing.T) {
	if publishingDisabled {
		t.Fatal("publishingDisabled is true without -tags kafka_upstream_nopublish")
	}
}
