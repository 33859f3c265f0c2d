//go:build !kafka_upstream_nopublish

package producer

const publishingDisabled = false
