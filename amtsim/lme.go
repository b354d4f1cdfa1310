package amtsim

import (
	"context"
	"net"

	"github.com/amtrcs/amtrcs/agent/lme"
)

// LME connects to the device's LME client, the MEI client that LMS speaks
// APF to: the returned stream carries length-prefixed APF messages (as the
// host port's "lme" channel does), and the device connects the channels a
// host opens to its own WS-MAN ports, as DialLMS does. A host without LMS
// reaches the firmware ports only this way.
func (d *Device) LME() net.Conn {
	host, fw := net.Pipe()
	go func() { _ = d.serveLME(context.Background(), fw) }()
	return host
}

// serveLME plays the LME client on c until c or ctx ends.
func (d *Device) serveLME(ctx context.Context, c net.Conn) error {
	return lme.ServeFirmware(ctx, lme.FramedLink(c), lme.Firmware{
		UUID:        d.uuid,
		Ports:       d.lmePorts,
		Dial:        d.DialLMS,
		KeepSession: d.lmeKeeps,
	})
}

// lmePorts are the ports the firmware registers when the host accepts port
// forwarding: the management port and its redirection partner, 16993 and
// 664 when TLS is enforced on the local ports, else 16992 and 623 (what
// rpc-go's LME engine waits for).
func (d *Device) lmePorts() []uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.st.AMTDisabled:
		return nil
	case d.tlsEnforcedLocked():
		return []uint32{PortTLS, 664}
	}
	return []uint32{PortHTTP, 623}
}
