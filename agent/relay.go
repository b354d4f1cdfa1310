package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
)

// channelLineTimeout bounds how long an opened stream may stay silent before
// naming its channel.
const channelLineTimeout = 30 * time.Second

// relayStream serves one stream the RCS opened: it reads the channel line,
// connects the backend and moves bytes until either side ends.
func relayStream(ctx context.Context, b Backend, s net.Conn, log *slog.Logger) {
	defer s.Close()
	_ = s.SetReadDeadline(time.Now().Add(channelLineTimeout))
	ch, err := wire.ReadChannel(s)
	if err != nil {
		_ = wire.WriteAnswer(s, err)
		log.Warn("relay: bad channel line", "err", err)
		return
	}
	_ = s.SetReadDeadline(time.Time{})
	switch ch {
	case wire.ChannelPTHI:
		relayFramed(ctx, b.OpenPTHI, ch, s, log)
	case wire.ChannelManageability:
		relayFramed(ctx, b.OpenManageability, ch, s, log)
	default:
		relayLMS(ctx, b, ch, s, log)
	}
}

// relayFramed carries the frames of one MEI client: one request, one reply.
func relayFramed(ctx context.Context, open func(context.Context) (PTHI, error), ch wire.Channel, s net.Conn, log *slog.Logger) {
	p, err := open(ctx)
	if err != nil {
		_ = wire.WriteAnswer(s, err)
		log.Warn("relay: firmware client unavailable", "channel", ch, "err", err)
		return
	}
	defer p.Close()
	if wire.WriteAnswer(s, nil) != nil {
		return
	}
	for {
		req, err := wire.ReadFrame(s)
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				log.Debug("relay: stream ended", "channel", ch, "err", err)
			}
			return
		}
		resp, err := p.Call(ctx, req)
		if err != nil {
			// Closing the stream is how the RCS learns the call failed:
			// the frame format has no room for an error.
			log.Warn("relay: firmware client call failed", "channel", ch, "err", err)
			return
		}
		if wire.WriteFrame(s, resp) != nil {
			return
		}
	}
}

func relayLMS(ctx context.Context, b Backend, ch wire.Channel, s net.Conn, log *slog.Logger) {
	c, err := b.DialLMS(ctx, ch.Port())
	if err != nil {
		_ = wire.WriteAnswer(s, err)
		log.Warn("relay: firmware port unavailable", "channel", ch, "err", err)
		return
	}
	defer c.Close()
	if wire.WriteAnswer(s, nil) != nil {
		return
	}
	pipe(s, c)
}

// pipe copies both ways and closes both ends when either direction ends, so
// that a firmware port that closed is seen closed by the RCS, and the reverse.
func pipe(a, b net.Conn) {
	var once sync.Once
	closeBoth := func() { once.Do(func() { a.Close(); b.Close() }) }
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, _ = io.Copy(a, b); closeBoth() }()
	go func() { defer wg.Done(); _, _ = io.Copy(b, a); closeBoth() }()
	wg.Wait()
}
