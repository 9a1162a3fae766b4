package docker

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/moby/moby/client"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The engine multiplexes a container's streams (without a TTY) into frames:
// a header of the stream's number, three zero bytes and the payload's
// length (big-endian uint32), then the payload. See the stdcopy package of
// github.com/moby/moby/api.
const (
	streamStdout    = 1
	streamStderr    = 2
	streamSystemErr = 3 // an error of the engine, which ends the stream

	frameHeaderLen = 8
	// maxFrame bounds the payload read into memory; the engine's log
	// frames hold one message of at most 16 KiB, and the rest of a larger
	// frame is dropped.
	maxFrame = 1 << 20
)

// readFrame reads one frame into *buf. At the end of the stream it
// returns io.EOF.
func readFrame(r *bufio.Reader, buf *[]byte) (stream byte, payload []byte, err error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	size := int(binary.BigEndian.Uint32(hdr[4:]))
	keep := min(size, maxFrame)
	if cap(*buf) < keep {
		*buf = make([]byte, keep)
	}
	payload = (*buf)[:keep]
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, unexpected(err)
	}
	if _, err := r.Discard(size - keep); err != nil {
		return 0, nil, unexpected(err)
	}
	return hdr[0], payload, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// attachConn is an attach to a STDIO server's stdin and stdout: the MCP
// connection. Closing it, from the MCP side or from Stop, closes the
// hijacked connection; the server's stdin stays open (StdinOnce is off).
type attachConn struct {
	conn   net.Conn
	stdout *demuxReader
	once   sync.Once
	err    error
}

func newAttachConn(h client.HijackedResponse) *attachConn {
	return &attachConn{conn: h.Conn, stdout: &demuxReader{r: h.Reader}}
}

// Close closes the hijacked connection once.
func (a *attachConn) Close() error {
	a.once.Do(func() { a.err = a.conn.Close() })
	return a.err
}

// transport wraps the attach as newline-delimited JSON-RPC.
func (a *attachConn) transport() mcp.Transport {
	return &mcp.IOTransport{Reader: stdoutReader{a}, Writer: stdinWriter{a}}
}

type stdoutReader struct{ a *attachConn }

func (s stdoutReader) Read(p []byte) (int, error) { return s.a.stdout.Read(p) }
func (s stdoutReader) Close() error               { return s.a.Close() }

type stdinWriter struct{ a *attachConn }

func (s stdinWriter) Write(p []byte) (int, error) { return s.a.conn.Write(p) }
func (s stdinWriter) Close() error                { return s.a.Close() }

// demuxReader reads the stdout frames of an attach stream as one plain
// stream; other frames are skipped.
type demuxReader struct {
	r    *bufio.Reader
	left int // bytes left of the current stdout frame
}

func (d *demuxReader) Read(p []byte) (int, error) {
	for d.left == 0 {
		var hdr [frameHeaderLen]byte
		if _, err := io.ReadFull(d.r, hdr[:]); err != nil {
			return 0, err
		}
		size := int(binary.BigEndian.Uint32(hdr[4:]))
		switch hdr[0] {
		case streamStdout:
			d.left = size
		case streamSystemErr:
			msg := make([]byte, min(size, 4096))
			_, _ = io.ReadFull(d.r, msg)
			return 0, fmt.Errorf("docker engine: %s", msg)
		default:
			if _, err := d.r.Discard(size); err != nil {
				return 0, unexpected(err)
			}
		}
	}
	if len(p) > d.left {
		p = p[:d.left]
	}
	n, err := d.r.Read(p)
	d.left -= n
	if err == io.EOF && d.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
