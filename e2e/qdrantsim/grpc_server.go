package qdrantsim

import (
	"context"
	"net"
)

// serveGRPC serves Qdrant's gRPC API for p on lis until ctx is cancelled
// (peer stopped or cluster closed), then stops the server, closing every
// connection, and returns. Peer.Start runs it in its own goroutine.
//
// Placeholder until the gRPC server lands: it accepts and immediately
// closes connections, so the port behaves like a listening socket.
func (p *Peer) serveGRPC(ctx context.Context, lis net.Listener) error {
	go func() {
		<-ctx.Done()
		lis.Close()
	}()
	for {
		conn, err := lis.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		conn.Close()
	}
}
