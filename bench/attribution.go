package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
)

// Labels of the two sides of the process.
const (
	labelSide  = "side"
	sideServer = "server"
	sideSim    = "sim"
)

// asSim runs f with the simulator's label; goroutines f starts inherit it.
func asSim(ctx context.Context, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels(labelSide, sideSim), f)
}

// asServer runs f with the server's label.
func asServer(ctx context.Context, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels(labelSide, sideServer), f)
}

// CPUSplit is the CPU time of each side in a profile, in nanoseconds.
type CPUSplit struct {
	Server, Sim, Unlabelled int64
}

// ServerShare is the server's part of the process CPU, with unlabelled
// samples (GC, runtime, timers) split in proportion to the labelled ones.
func (s CPUSplit) ServerShare() float64 {
	if s.Server+s.Sim == 0 {
		return 0
	}
	return float64(s.Server) / float64(s.Server+s.Sim)
}

// splitProfile reads a gzipped pprof CPU profile and sums the CPU
// nanoseconds by the side label. It decodes only the fields it needs
// (samples with their values and labels, and the string table) so that the
// binary carries no profile library.
func splitProfile(gz []byte) (CPUSplit, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return CPUSplit{}, fmt.Errorf("cpu profile: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return CPUSplit{}, fmt.Errorf("cpu profile: %w", err)
	}
	type sample struct {
		value      []int64
		key, label []int64
	}
	var samples []sample
	var stringsTab []string
	nTypes := 0
	err = fields(raw, func(num int, wire int, v uint64, b []byte) error {
		switch {
		case num == 1 && wire == 2: // sample_type
			nTypes++
		case num == 2 && wire == 2: // sample
			var s sample
			if err := fields(b, func(n, w int, v uint64, bb []byte) error {
				switch {
				case n == 2 && w == 0:
					s.value = append(s.value, int64(v))
				case n == 2 && w == 2:
					return varints(bb, func(x uint64) { s.value = append(s.value, int64(x)) })
				case n == 3 && w == 2: // Label{key=1, str=2}
					var k, st int64
					if err := fields(bb, func(n, w int, v uint64, _ []byte) error {
						if w == 0 && n == 1 {
							k = int64(v)
						}
						if w == 0 && n == 2 {
							st = int64(v)
						}
						return nil
					}); err != nil {
						return err
					}
					s.key = append(s.key, k)
					s.label = append(s.label, st)
				}
				return nil
			}); err != nil {
				return err
			}
			samples = append(samples, s)
		case num == 6 && wire == 2:
			stringsTab = append(stringsTab, string(b))
		}
		return nil
	})
	if err != nil {
		return CPUSplit{}, err
	}
	// A CPU profile has two sample types, samples/count and cpu/nanoseconds:
	// the last is the time.
	valueIndex := nTypes - 1
	var out CPUSplit
	str := func(i int64) string {
		if i >= 0 && int(i) < len(stringsTab) {
			return stringsTab[i]
		}
		return ""
	}
	for _, s := range samples {
		if valueIndex < 0 || valueIndex >= len(s.value) {
			continue
		}
		v := s.value[valueIndex]
		side := ""
		for i, k := range s.key {
			if str(k) == labelSide {
				side = str(s.label[i])
			}
		}
		switch side {
		case sideServer:
			out.Server += v
		case sideSim:
			out.Sim += v
		default:
			out.Unlabelled += v
		}
	}
	return out, nil
}

var errProto = errors.New("cpu profile: malformed protobuf")

// fields walks the top-level fields of a protobuf message.
func fields(b []byte, f func(num, wire int, v uint64, body []byte) error) error {
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return errProto
		}
		b = b[n:]
		num, wire := int(tag>>3), int(tag&7)
		switch wire {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return errProto
			}
			b = b[n:]
			if err := f(num, wire, v, nil); err != nil {
				return err
			}
		case 1:
			if len(b) < 8 {
				return errProto
			}
			b = b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return errProto
			}
			body := b[n : n+int(l)]
			b = b[n+int(l):]
			if err := f(num, wire, 0, body); err != nil {
				return err
			}
		case 5:
			if len(b) < 4 {
				return errProto
			}
			b = b[4:]
		default:
			return errProto
		}
	}
	return nil
}

func varints(b []byte, f func(uint64)) error {
	for len(b) > 0 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return errProto
		}
		f(v)
		b = b[n:]
	}
	return nil
}
