package docker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpctl/mcpctl/internal/workload"
)

// frame encodes one frame of the engine's multiplexed stream.
func frame(stream byte, payload string) []byte {
	hdr := make([]byte, frameHeaderLen, frameHeaderLen+len(payload))
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(payload)))
	return append(hdr, payload...)
}

func frames(fs ...[]byte) io.Reader { return bytes.NewReader(bytes.Join(fs, nil)) }

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus n milliseconds in the engine's timestamp format.
func at(n int) string {
	return t0.Add(time.Duration(n)*time.Millisecond).Format(time.RFC3339Nano) + " "
}

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

func TestReadLog(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	tests := []struct {
		name    string
		in      io.Reader
		cur     cursor
		want    []workload.Line
		wantErr bool
	}{
		{
			name: "lines of both streams, in order",
			in:   frames(frame(streamStderr, at(1)+"one\n"), frame(streamStdout, at(2)+"two\n"), frame(streamStderr, at(3)+"three\n")),
			want: []workload.Line{
				{Time: ms(1), Stream: workload.Stderr, Text: "one"},
				{Time: ms(2), Stream: workload.Stdout, Text: "two"},
				{Time: ms(3), Stream: workload.Stderr, Text: "three"},
			},
		},
		{
			name: "pieces of a long line are joined, at the time of the first",
			in:   frames(frame(streamStderr, at(1)+"abc"), frame(streamStdout, at(2)+"out\n"), frame(streamStderr, at(3)+"def\n")),
			want: []workload.Line{
				{Time: ms(2), Stream: workload.Stdout, Text: "out"},
				{Time: ms(1), Stream: workload.Stderr, Text: "abcdef"},
			},
		},
		{
			name: "a line longer than maxLine is split",
			in:   frames(frame(streamStderr, at(1)+long[:maxLine/2]), frame(streamStderr, at(2)+long[maxLine/2:]+"\n")),
			want: []workload.Line{
				{Time: ms(1), Stream: workload.Stderr, Text: long[:maxLine]},
				{Time: ms(2), Stream: workload.Stderr, Text: long[maxLine:]},
			},
		},
		{
			name: "the last line without its line break is delivered",
			in:   frames(frame(streamStderr, at(1)+"bye")),
			want: []workload.Line{{Time: ms(1), Stream: workload.Stderr, Text: "bye"}},
		},
		{
			name: "empty lines are lines",
			in:   frames(frame(streamStderr, at(1)+"\n")),
			want: []workload.Line{{Time: ms(1), Stream: workload.Stderr, Text: ""}},
		},
		{
			name: "since is inclusive",
			in:   frames(frame(streamStderr, at(1)+"old\n"), frame(streamStderr, at(2)+"since\n"), frame(streamStderr, at(3)+"new\n")),
			cur:  cursor{at: ms(2)},
			want: []workload.Line{
				{Time: ms(2), Stream: workload.Stderr, Text: "since"},
				{Time: ms(3), Stream: workload.Stderr, Text: "new"},
			},
		},
		{
			name: "following again skips what was delivered",
			in:   frames(frame(streamStderr, at(2)+"delivered\n"), frame(streamStderr, at(3)+"new\n")),
			cur:  cursor{at: ms(2), n: 1},
			want: []workload.Line{{Time: ms(3), Stream: workload.Stderr, Text: "new"}},
		},
		{
			name: "following again keeps undelivered frames of the same timestamp",
			in: frames(frame(streamStderr, at(2)+"one\n"), frame(streamStderr, at(2)+"two\n"),
				frame(streamStderr, at(2)+"three\n")),
			cur:  cursor{at: ms(2), n: 1},
			want: []workload.Line{{Time: ms(2), Stream: workload.Stderr, Text: "two"}, {Time: ms(2), Stream: workload.Stderr, Text: "three"}},
		},
		{
			name: "pieces of a long line share a timestamp and all arrive",
			in: frames(frame(streamStderr, at(1)+long[:maxLine/2]), frame(streamStderr, at(1)+long[maxLine/2:maxLine]),
				frame(streamStderr, at(1)+"end\n")),
			want: []workload.Line{{Time: ms(1), Stream: workload.Stderr, Text: long[:maxLine]},
				{Time: ms(1), Stream: workload.Stderr, Text: "end"}},
		},
		{
			name: "a stream stamped earlier than the other's last frame is not dropped",
			in:   frames(frame(streamStdout, at(3)+"out\n"), frame(streamStderr, at(2)+"err\n")),
			want: []workload.Line{{Time: ms(3), Stream: workload.Stdout, Text: "out"}, {Time: ms(2), Stream: workload.Stderr, Text: "err"}},
		},
		{
			name:    "an engine error ends the stream",
			in:      frames(frame(streamStderr, at(1)+"one\n"), frame(streamSystemErr, "boom"), frame(streamStderr, at(2)+"two\n")),
			want:    []workload.Line{{Time: ms(1), Stream: workload.Stderr, Text: "one"}},
			wantErr: true,
		},
		{
			name:    "a truncated frame is an error",
			in:      bytes.NewReader(frame(streamStderr, at(1)+"one\n")[:12]),
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []workload.Line
			w := &lineWriter{log: func(l workload.Line) { got = append(got, l) }}
			cur := tt.cur
			cur.start()
			err := readLog(tt.in, w, &cur)
			w.flush()
			if (err != nil) != tt.wantErr {
				t.Errorf("readLog error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDemuxReader(t *testing.T) {
	in := frames(frame(streamStdout, `{"a":`), frame(streamStderr, "noise"), frame(streamStdout, ""), frame(streamStdout, "1}\n"))
	got, err := io.ReadAll(&demuxReader{r: bufio.NewReader(in)})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != "{\"a\":1}\n" {
		t.Errorf("stdout = %q", got)
	}

	_, err = io.ReadAll(&demuxReader{r: bufio.NewReader(frames(frame(streamSystemErr, "engine trouble")))})
	if err == nil || !strings.Contains(err.Error(), "engine trouble") {
		t.Errorf("system error frame: %v", err)
	}
	_, err = io.ReadAll(&demuxReader{r: bufio.NewReader(bytes.NewReader(frame(streamStdout, "cut short")[:12]))})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated frame: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestContainerName(t *testing.T) {
	tests := []struct{ server, id, want string }{
		{"github", "0123456789abcdef", "mcpctl-github-01234567"},
		{"team/git hub", "ab", "mcpctl-team-git-hub-ab"},
		{"", "0123456789", "mcpctl-server-01234567"},
		{strings.Repeat("s", 60), "01234567", "mcpctl-" + strings.Repeat("s", 40) + "-01234567"},
	}
	for _, tt := range tests {
		if got := containerName(tt.server, tt.id); got != tt.want {
			t.Errorf("containerName(%q, %q) = %q, want %q", tt.server, tt.id, got, tt.want)
		}
	}
}

func TestCheckSpec(t *testing.T) {
	base := workload.Spec{InstanceID: "i", Image: "img"}
	tests := []struct {
		name          string
		edit          func(*workload.Spec)
		transport     string
		path, wantErr string
	}{
		{name: "stdio by default", edit: func(*workload.Spec) {}, transport: "stdio"},
		{name: "streamable http", edit: func(s *workload.Spec) { s.Transport, s.Port = "streamable-http", 80 },
			transport: "streamable-http", path: "/mcp"},
		{name: "sse", edit: func(s *workload.Spec) { s.Transport, s.Port = "sse", 80 }, transport: "sse", path: "/sse"},
		{name: "own path", edit: func(s *workload.Spec) { s.Transport, s.Port, s.Path = "sse", 80, "events" },
			transport: "sse", path: "/events"},
		{name: "no image", edit: func(s *workload.Spec) { s.Image = "" }, wantErr: "no image"},
		{name: "http without port", edit: func(s *workload.Spec) { s.Transport = "streamable-http" }, wantErr: "container port"},
		{name: "unknown transport", edit: func(s *workload.Spec) { s.Transport = "websocket" }, wantErr: "unknown transport"},
		{name: "negative limits", edit: func(s *workload.Spec) { s.Limits.MemoryBytes = -1 }, wantErr: "negative"},
		{name: "bad env name", edit: func(s *workload.Spec) { s.Env = map[string]string{"A=B": "c"} }, wantErr: "environment variable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := base
			tt.edit(&spec)
			transport, path, err := checkSpec(spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || transport != tt.transport || path != tt.path {
				t.Errorf("checkSpec = %q, %q, %v; want %q, %q", transport, path, err, tt.transport, tt.path)
			}
		})
	}
}
