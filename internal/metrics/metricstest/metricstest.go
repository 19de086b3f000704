// Package metricstest reads what a run pushed to a Pushgateway, for tests
// of the pushing packages and commands.
package metricstest

import (
	"errors"
	"io"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Text turns a pushed body (Prometheus' delimited protobuf) into the text
// exposition format, one sample per line.
func Text(body string) (string, error) {
	dec := expfmt.NewDecoder(strings.NewReader(body), expfmt.NewFormat(expfmt.TypeProtoDelim))
	var b strings.Builder
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); errors.Is(err, io.EOF) {
			return b.String(), nil
		} else if err != nil {
			return "", err
		}
		if _, err := expfmt.MetricFamilyToText(&b, &mf); err != nil {
			return "", err
		}
	}
}

// SameGroup reports whether two Pushgateway paths name the same job and
// grouping labels, in any order (the push library orders them as it
// likes).
func SameGroup(a, b string) bool {
	pa, pb := pairs(a), pairs(b)
	if pa == nil || len(pa) != len(pb) {
		return false
	}
	for k, v := range pb {
		if pa[k] != v {
			return false
		}
	}
	return true
}

func pairs(path string) map[string]string {
	seg := strings.Split(strings.TrimPrefix(path, "/metrics/"), "/")
	if len(seg)%2 != 0 {
		return nil
	}
	m := map[string]string{}
	for i := 0; i < len(seg); i += 2 {
		m[seg[i]] = seg[i+1]
	}
	return m
}
