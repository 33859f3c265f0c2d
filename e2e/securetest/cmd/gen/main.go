// Command gen writes the TLS, mTLS and OAuth test material for the secured
// listeners of e2e/kafka.sh into DIR, or leaves DIR as it is when it already
// holds a complete set valid for more than a day:
//
//	go run ./e2e/securetest/cmd/gen DIR
//
// See package e2e/securetest/gen for the files.
package main

import (
	"fmt"
	"os"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/securetest/gen"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] == "" || os.Args[1][0] == '-' {
		fmt.Fprintln(os.Stderr, "usage: go run ./e2e/securetest/cmd/gen DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	generated, err := gen.Ensure(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "securetest gen: %s: %v\n", dir, err)
		os.Exit(1)
	}
	if generated {
		fmt.Fprintf(os.Stderr, "securetest gen: wrote new test CA, certificates and JWKS to %s\n", dir)
	}
}
