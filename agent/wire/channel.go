package wire

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Channel names what a relayed stream carries.
type Channel string

// The channels of the activation contract.
const (
	ChannelPTHI     Channel = "pthi"      // host interface frames (MEI on a real host)
	ChannelLMS16992 Channel = "lms:16992" // WS-MAN over HTTP, through LMS
	ChannelLMS16993 Channel = "lms:16993" // WS-MAN over TLS, through LMS
	// ChannelManageability carries frames of the manageability MEI client
	// (operational state, TLS enforcement), framed as PTHI is.
	ChannelManageability Channel = "mng"
	// ChannelLME carries frames of APF messages to and from the LME
	// client, in both directions unasked. Only the simulator's host port
	// offers it: an agent reaches the firmware ports through it when the
	// simulated host has no LMS. It is not a relay channel.
	ChannelLME Channel = "lme"
)

// maxLine bounds a channel or answer line: the longest legitimate one is a
// simulator line with a UUID, far below this.
const maxLine = 256

// LMSChannel returns the channel of a firmware port, or an error naming the
// ports that exist.
func LMSChannel(port int) (Channel, error) {
	switch port {
	case 16992:
		return ChannelLMS16992, nil
	case 16993:
		return ChannelLMS16993, nil
	}
	return "", fmt.Errorf("firmware port %d: want 16992 (WS-MAN over HTTP) or 16993 (WS-MAN over TLS)", port)
}

// Framed reports whether the channel carries length-prefixed MEI frames
// (PTHI and the manageability client) rather than a firmware port's bytes.
func (c Channel) Framed() bool { return c == ChannelPTHI || c == ChannelManageability }

// Port returns the firmware port of an LMS channel, 0 for PTHI.
func (c Channel) Port() int {
	switch c {
	case ChannelLMS16992:
		return 16992
	case ChannelLMS16993:
		return 16993
	}
	return 0
}

// ParseChannel checks a channel name.
func ParseChannel(s string) (Channel, error) {
	switch c := Channel(s); c {
	case ChannelPTHI, ChannelManageability, ChannelLMS16992, ChannelLMS16993:
		return c, nil
	}
	return "", fmt.Errorf("channel %q: want %q, %q, %q or %q", truncate(s), ChannelPTHI, ChannelManageability, ChannelLMS16992, ChannelLMS16993)
}

// WriteChannel writes the line that opens a relayed stream.
func WriteChannel(w io.Writer, c Channel) error {
	_, err := io.WriteString(w, string(c)+"\n")
	return err
}

// ReadChannel reads and checks the line that opens a relayed stream. It
// reads byte by byte so that nothing after the line is consumed: the rest of
// the stream belongs to the relay.
func ReadChannel(r io.Reader) (Channel, error) {
	line, err := ReadLine(r)
	if err != nil {
		return "", err
	}
	return ParseChannel(line)
}

// WriteSimChannel writes the line that opens a channel on the simulator's
// host port: the simulator serves a whole fleet, so it names the device.
func WriteSimChannel(w io.Writer, device string, c Channel) error {
	if device == "" || strings.ContainsAny(device, " \n\r") {
		return fmt.Errorf("simulator device %q: want a UUID without spaces", truncate(device))
	}
	_, err := fmt.Fprintf(w, "AMTSIM/1 %s %s\n", device, c)
	return err
}

// ErrRefused wraps the reason the other end gave in an "ERR" answer.
var ErrRefused = errors.New("channel refused")

// WriteAnswer answers a channel line: "OK" when refusal is nil, else "ERR"
// and the reason on one line.
func WriteAnswer(w io.Writer, refusal error) error {
	if refusal == nil {
		_, err := io.WriteString(w, "OK\n")
		return err
	}
	reason := strings.NewReplacer("\n", " ", "\r", " ").Replace(refusal.Error())
	if len(reason) > maxLine-8 {
		reason = reason[:maxLine-8]
	}
	_, err := io.WriteString(w, "ERR "+reason+"\n")
	return err
}

// ReadAnswer reads the answer to a channel line: nil for "OK", an error
// wrapping ErrRefused with the reason for "ERR".
func ReadAnswer(r io.Reader) error {
	line, err := ReadLine(r)
	if err != nil {
		return err
	}
	switch {
	case line == "OK":
		return nil
	case strings.HasPrefix(line, "ERR "):
		return fmt.Errorf("%w: %s", ErrRefused, line[4:])
	case line == "ERR":
		return fmt.Errorf("%w: no reason given", ErrRefused)
	}
	return fmt.Errorf("channel answer %q: want \"OK\" or \"ERR <reason>\"", truncate(line))
}

// ReadLine reads one line of at most maxLine bytes, without the newline,
// without reading past it.
func ReadLine(r io.Reader) (string, error) {
	var b [1]byte
	var line []byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", fmt.Errorf("read line: %w", err)
		}
		if b[0] == '\n' {
			return strings.TrimSuffix(string(line), "\r"), nil
		}
		if len(line) >= maxLine {
			return "", fmt.Errorf("read line: longer than %d bytes without a newline", maxLine)
		}
		line = append(line, b[0])
	}
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
