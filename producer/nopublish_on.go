//go:build kafka_upstream_nopublish

package producer

// See nopublish.go: this build never publishes.
const publishingDisabled = true
