package wire

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
)

// Report is what an agent says about its host when it connects: what the
// host interface reads, the names the OS knows itself by, and the profile
// the agent was asked to apply (empty: the RCS picks by domain).
type Report struct {
	Info     hostif.Info `json:"info"`
	Hostname string      `json:"hostname"`
	FQDN     string      `json:"fqdn,omitempty"`
	Profile  string      `json:"profile,omitempty"`
	Agent    string      `json:"agent_version,omitempty"`
}

// Event kinds the RCS sends to an agent.
const (
	EventProgress = "progress" // a step started or finished
	EventDone     = "done"     // the job ended well; Message says how
	EventFailed   = "failed"   // the job ended badly; Error says why and the fix
	EventIdle     = "idle"     // nothing to do for this device now
)

// Event is one line of progress the agent prints. It never carries a
// secret: the RCS builds it from step names and refusal reasons.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Job     string    `json:"job,omitempty"`
	Step    string    `json:"step,omitempty"`
	Message string    `json:"message,omitempty"`
	Error   string    `json:"error,omitempty"`
	Fix     string    `json:"fix,omitempty"`
	// Status is set on a refusal of the session itself, as HTTP would
	// say it (403: this credential may not speak for the device it
	// reported): reconnecting cannot cure it, and the agent stops.
	Status int `json:"status,omitempty"`
}

// Final reports whether the event ends a job.
func (e Event) Final() bool {
	return e.Kind == EventDone || e.Kind == EventFailed || e.Kind == EventIdle
}

// MaxControlLine bounds one JSON line on the control stream: a report holds
// at most 33 hashes and a few names.
const MaxControlLine = 64 << 10

// LineWriter writes JSON values one per line.
type LineWriter struct{ enc *json.Encoder }

// NewLineWriter returns a writer of JSON lines to w.
func NewLineWriter(w io.Writer) *LineWriter { return &LineWriter{enc: json.NewEncoder(w)} }

// Write writes v as one line.
func (l *LineWriter) Write(v any) error { return l.enc.Encode(v) }

// LineReader reads JSON values one per line, each at most MaxControlLine.
type LineReader struct{ sc *bufio.Scanner }

// NewLineReader returns a reader of JSON lines from r.
func NewLineReader(r io.Reader) *LineReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxControlLine)
	return &LineReader{sc: sc}
}

// Read decodes the next line into v; io.EOF at a clean end.
func (l *LineReader) Read(v any) error {
	if !l.sc.Scan() {
		if err := l.sc.Err(); err != nil {
			return fmt.Errorf("control stream: %w", err)
		}
		return io.EOF
	}
	if err := json.Unmarshal(l.sc.Bytes(), v); err != nil {
		return fmt.Errorf("control stream: line of %d bytes is not the JSON expected: %v", len(l.sc.Bytes()), err)
	}
	return nil
}

// ReadReport reads and checks the report that opens the control stream.
func ReadReport(l *LineReader) (Report, error) {
	var r Report
	if err := l.Read(&r); err != nil {
		return r, err
	}
	if r.Info.UUID == (amt.UUID{}) {
		return r, fmt.Errorf("agent report without a device UUID: the agent must read it from the host interface first")
	}
	if len(r.Hostname) > 253 || len(r.FQDN) > 253 || len(r.Profile) > 128 {
		return r, fmt.Errorf("agent report: host name %d, FQDN %d, profile %d characters; want at most 253, 253 and 128", len(r.Hostname), len(r.FQDN), len(r.Profile))
	}
	return r, nil
}
