// Package capture is the file format of a capture: what an agent exchanged
// with one PC's firmware (host-interface frames, WS-MAN over HTTP on 16992,
// byte counts of TLS on 16993), one JSON line per exchange after a header
// line. It blanks the secrets before anything is written, and parses a
// capture back for the simulator's replay.
//
// It never writes a secret it has seen: the local system account, digest
// nonces and responses, and the contents of password, nonce and signature
// elements are blanked in every record, whichever way they travelled. It
// does no I/O besides the reader and writer it is given.
package capture

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/amt"
)

// Format names this file format; the header line carries it.
const Format = "amtrcs-capture/1"

// Kind says what a record holds.
type Kind string

// The kinds of records.
const (
	KindPTHI Kind = "pthi" // PTHI frames: request and reply in hex
	KindMng  Kind = "mng"  // manageability-client frames, in hex
	KindHTTP Kind = "http" // one WS-MAN exchange on 16992, as text
	KindTLS  Kind = "tls"  // one connection to 16993: byte counts only
)

// Header is the first line of a capture.
type Header struct {
	Format  string    `json:"format"`
	Version string    `json:"amtrcs"`
	Time    time.Time `json:"time"`
	Backend string    `json:"backend"`
}

// Record is one exchange.
type Record struct {
	Kind Kind `json:"kind"`
	// Command names a host-interface request, for readers; replay matches
	// the request bytes.
	Command string `json:"command,omitempty"`
	Port    int    `json:"port,omitempty"`
	// Request and Reply are hex for frames, HTTP text for KindHTTP.
	Request string `json:"request,omitempty"`
	Reply   string `json:"reply,omitempty"`
	// Error is what the call returned instead of a reply.
	Error string `json:"error,omitempty"`
	// Sent and Received count a TLS connection's bytes, as the agent sent
	// them to the firmware and received them.
	Sent     int64 `json:"sent,omitempty"`
	Received int64 `json:"received,omitempty"`
	// Blanked names what was blanked in this record.
	Blanked []string `json:"blanked,omitempty"`
}

// Blank replaces every secret value in a record.
const Blank = "(blanked)"

// Writer writes a capture. It is safe for concurrent use: the agent's
// relays record from their own goroutines.
type Writer struct {
	mu      sync.Mutex
	enc     *json.Encoder
	err     error
	secrets []string // values seen in secret fields, blanked wherever they recur
}

// NewWriter writes the header line and returns a writer for the records.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Format = Format
	cw := &Writer{enc: json.NewEncoder(w)}
	cw.enc.SetEscapeHTML(false)
	if err := cw.enc.Encode(h); err != nil {
		return nil, fmt.Errorf("capture: write the header: %w", err)
	}
	return cw, nil
}

// Err is the first write error; records after it are dropped.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *Writer) write(r Record) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	if err := w.enc.Encode(r); err != nil {
		w.err = fmt.Errorf("capture: %w", err)
	}
}

// learn adds secret values to blank wherever they appear later.
func (w *Writer) learn(vals ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range vals {
		// Short values would blank unrelated text; the firmware's account
		// names and passwords are far longer.
		if len(v) >= 4 {
			w.secrets = append(w.secrets, v)
		}
	}
}

func (w *Writer) known() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.secrets...)
}

// Frame records one host-interface exchange of kind KindPTHI or KindMng.
// reply is not modified; the record holds a blanked copy.
func (w *Writer) Frame(kind Kind, request, reply []byte, callErr error) {
	r := Record{Kind: kind, Request: hex.EncodeToString(request)}
	if kind == KindPTHI && len(request) >= amt.HostHeaderLen {
		r.Command = amt.HostCommand(le32(request[4:])).Request().String()
	}
	if callErr != nil {
		r.Error = callErr.Error()
	}
	if reply != nil {
		out := reply
		if kind == KindPTHI {
			var user, pass string
			out, user, pass = BlankHostReply(reply)
			if user != "" || pass != "" {
				w.learn(user, pass)
				r.Blanked = []string{"username", "password"}
			}
		}
		r.Reply = hex.EncodeToString(out)
	}
	w.write(r)
}

// HTTP records one exchange on port (16992): both texts are blanked.
func (w *Writer) HTTP(port int, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	r := Record{Kind: KindHTTP, Port: port}
	secrets := w.known()
	var blanked []string
	if req != nil {
		text, b := RequestText(req, reqBody, secrets)
		r.Request, blanked = text, append(blanked, b...)
	}
	if resp != nil {
		text, b := ResponseText(resp, respBody, secrets)
		r.Reply, blanked = text, append(blanked, b...)
	}
	r.Blanked = dedupe(blanked)
	w.write(r)
}

// TLS records one connection to port (16993) by its byte counts.
func (w *Writer) TLS(port int, sent, received int64) {
	w.write(Record{Kind: KindTLS, Port: port, Sent: sent, Received: received})
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// File is a parsed capture.
type File struct {
	Header  Header
	Records []Record
}

// Limits of what Parse reads: a capture is outside input.
const (
	MaxLine    = 1 << 20
	MaxRecords = 100000
)

// Parse reads a capture. It refuses what it cannot replay faithfully,
// naming the line, what it saw and what it wants.
func Parse(r io.Reader) (*File, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	var f File
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if line == 1 {
			if err := json.Unmarshal(b, &f.Header); err != nil || f.Header.Format != Format {
				return nil, fmt.Errorf("capture line 1: want a header with format %q (written by `amtrcs agent --capture`), got %q", Format, truncate(string(b)))
			}
			continue
		}
		if len(b) == 0 {
			continue
		}
		if len(f.Records) == MaxRecords {
			return nil, fmt.Errorf("capture line %d: more than %d records; split the capture", line, MaxRecords)
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("capture line %d: %v; want one JSON record per line", line, err)
		}
		if err := rec.check(); err != nil {
			return nil, fmt.Errorf("capture line %d: %w", line, err)
		}
		f.Records = append(f.Records, rec)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("capture line %d: longer than %d bytes; want records as `amtrcs agent --capture` writes them", line+1, MaxLine)
		}
		return nil, fmt.Errorf("capture: %w", err)
	}
	if line == 0 {
		return nil, fmt.Errorf("capture: empty; want a header line with format %q, then records", Format)
	}
	return &f, nil
}

func (r Record) check() error {
	switch r.Kind {
	case KindPTHI, KindMng:
		for _, s := range []struct{ name, v string }{{"request", r.Request}, {"reply", r.Reply}} {
			if _, err := hex.DecodeString(s.v); err != nil {
				return fmt.Errorf("%s record %s %q is not hex; want the frame's bytes in hex", r.Kind, s.name, truncate(s.v))
			}
		}
		if r.Request == "" {
			return fmt.Errorf("%s record without a request; want the request frame in hex", r.Kind)
		}
	case KindHTTP:
		if r.Port != 16992 {
			return fmt.Errorf("http record on port %d; want 16992 (16993 is recorded as byte counts)", r.Port)
		}
		if _, _, err := ReadRequestText(r.Request); err != nil {
			return fmt.Errorf("http record request: %w", err)
		}
		if r.Reply != "" {
			if _, _, err := ReadResponseText(r.Reply); err != nil {
				return fmt.Errorf("http record reply: %w", err)
			}
		}
	case KindTLS:
		if r.Port != 16993 || r.Sent < 0 || r.Received < 0 {
			return fmt.Errorf("tls record on port %d with counts %d/%d; want port 16993 and counts of 0 or more", r.Port, r.Sent, r.Received)
		}
	default:
		return fmt.Errorf("record kind %q; want pthi, mng, http or tls", truncate(string(r.Kind)))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// ReadRequestText parses a recorded request.
func ReadRequestText(s string) (*http.Request, []byte, error) {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(s)))
	if err != nil {
		return nil, nil, fmt.Errorf("not an HTTP request (%v); want the text `amtrcs agent --capture` records", err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("HTTP request body: %v; want a body of its Content-Length", err)
	}
	return req, body, nil
}

// ReadResponseText parses a recorded response.
func ReadResponseText(s string) (*http.Response, []byte, error) {
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(s)), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("not an HTTP response (%v); want the text `amtrcs agent --capture` records", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("HTTP response body: %v; want a body of its Content-Length", err)
	}
	return resp, body, nil
}
