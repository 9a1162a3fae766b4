//lint:file-ignore SA1019 the test server logs and samples (deprecated in 2026-07-28, alive in the session era)

// Command mcpserver is the project's own small MCP server for tests: it
// speaks MCP over STDIO (default) or Streamable HTTP (-http), and has
// switches that make it misbehave the ways real servers do (exit at once,
// ignore SIGTERM, fork a grandchild, flood its log). It is built static
// so that a FROM scratch image can run it.
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	var (
		httpAddr   = flag.String("http", "", "serve Streamable HTTP at `ADDR` (path /mcp) instead of STDIO")
		exitCode   = flag.Int("exit", -1, "exit with this code right after start (a crashing server)")
		ignoreTerm = flag.Bool("ignore-sigterm", false, "ignore SIGTERM and the end of stdin (only SIGKILL stops it)")
		spawnChild = flag.Bool("spawn-child", false, "start a grandchild that ignores SIGTERM, as npx and uvx leave one")
		setsidKid  = flag.Bool("setsid-child", false, "start a grandchild in a session of its own (out of the group's reach) that keeps stderr open")
		logLines   = flag.Int("log-lines", 0, "write `N` numbered lines to stderr at start")
		lineBytes  = flag.Int("line-bytes", 80, "length of each -log-lines line")
		sleep      = flag.Bool("sleep", false, "do nothing until killed (the grandchild)")
		logEvery   = flag.Duration("log-every", 0, "write a numbered line to stderr every `D` (\"tick 000000001\")")
	)
	flag.Parse()
	if *sleep {
		signal.Ignore(syscall.SIGTERM)
		for {
			time.Sleep(time.Hour)
		}
	}
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	fmt.Fprintf(os.Stderr, "mcpserver: started (pid %d)\n", os.Getpid())
	if b64 := os.Getenv("MCPSERVER_LOG_B64"); b64 != "" {
		// Raw bytes for the log (NUL cannot travel in the environment).
		text, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			fatal(err)
		}
		os.Stderr.Write(text)
	}
	if *logLines > 0 {
		writeLines(*logLines, *lineBytes)
		// A marker after a pause: whoever reads the log has caught up.
		time.Sleep(500 * time.Millisecond)
		fmt.Fprintf(os.Stderr, "mcpserver: wrote %d lines\n", *logLines)
	}
	if *exitCode >= 0 {
		fmt.Fprintf(os.Stderr, "mcpserver: exiting with code %d as asked\n", *exitCode)
		os.Exit(*exitCode)
	}
	if *logEvery > 0 {
		go func() {
			for i := 1; ; i++ {
				time.Sleep(*logEvery)
				fmt.Fprintf(os.Stderr, "tick %09d\n", i)
			}
		}()
	}
	if *setsidKid {
		self, err := os.Executable()
		if err != nil {
			fatal(err)
		}
		child := exec.Command(self, "-sleep")
		child.Stderr = os.Stderr
		child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := child.Start(); err != nil {
			fatal(err)
		}
		fmt.Fprintf(os.Stderr, "mcpserver: escaped grandchild pid %d\n", child.Process.Pid)
	}
	if *spawnChild {
		self, err := os.Executable()
		if err != nil {
			fatal(err)
		}
		child := exec.Command(self, "-sleep")
		if err := child.Start(); err != nil {
			fatal(err)
		}
		fmt.Fprintf(os.Stderr, "mcpserver: grandchild pid %d\n", child.Process.Pid)
	}

	srv := newServer()
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
		fmt.Fprintf(os.Stderr, "mcpserver: listening on %s\n", ln.Addr())
		fatal(http.Serve(ln, mux))
	}
	err := srv.Run(context.Background(), &mcp.StdioTransport{})
	if *ignoreTerm {
		// A stubborn server: it outlives the end of its input too.
		fmt.Fprintln(os.Stderr, "mcpserver: stdin closed; staying up")
		for {
			time.Sleep(time.Hour)
		}
	}
	if err != nil {
		fatal(err)
	}
	fmt.Fprintln(os.Stderr, "mcpserver: stdin closed; bye")
}

func writeLines(n, size int) {
	if n <= 0 {
		return
	}
	pad := strings.Repeat("x", max(size-20, 0))
	w := os.Stderr
	for i := range n {
		fmt.Fprintf(w, "line %09d %s\n", i, pad)
	}
}

type echoIn struct {
	Text string `json:"text"`
}

type envIn struct {
	Name string `json:"name"`
}

type dialIn struct {
	Addr string `json:"addr"`
}

type sleepIn struct {
	Millis int `json:"millis"`
}

type textOut struct {
	Text string `json:"text"`
}

func newServer() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "mcpctl-test-server", Version: "1.0.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "Returns its text."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, textOut, error) {
			return nil, textOut(in), nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "env", Description: "Returns the value of one environment variable."},
		func(_ context.Context, _ *mcp.CallToolRequest, in envIn) (*mcp.CallToolResult, textOut, error) {
			return nil, textOut{Text: os.Getenv(in.Name)}, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "dial", Description: "Opens a TCP connection to addr (2 s timeout): connected, or the error."},
		func(_ context.Context, _ *mcp.CallToolRequest, in dialIn) (*mcp.CallToolResult, textOut, error) {
			c, err := net.DialTimeout("tcp", in.Addr, 2*time.Second)
			if err != nil {
				return nil, textOut{Text: err.Error()}, nil
			}
			c.Close()
			return nil, textOut{Text: "connected"}, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "sleep", Description: "Waits, then answers."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in sleepIn) (*mcp.CallToolResult, textOut, error) {
			select {
			case <-time.After(time.Duration(in.Millis) * time.Millisecond):
			case <-ctx.Done():
				return nil, textOut{}, ctx.Err()
			}
			return nil, textOut{Text: "slept"}, nil
		})
	addGatewayTools(srv)
	return srv
}

type progressIn struct {
	Steps  int `json:"steps"`
	Millis int `json:"millis"`
}

type sampleIn struct {
	Prompt string `json:"prompt"`
}

type bigIn struct {
	Bytes int `json:"bytes"`
}

// addGatewayTools are the tools gateway tests drive: progress, logs,
// sampling, large answers, a crash and a hang mid-call.
func addGatewayTools(srv *mcp.Server) {
	mcp.AddTool(srv, &mcp.Tool{Name: "progress", Description: "Sends steps progress notifications millis apart, then answers."},
		func(ctx context.Context, req *mcp.CallToolRequest, in progressIn) (*mcp.CallToolResult, textOut, error) {
			token := req.Params.GetProgressToken()
			for i := 1; i <= in.Steps; i++ {
				select {
				case <-time.After(time.Duration(in.Millis) * time.Millisecond):
				case <-ctx.Done():
					return nil, textOut{}, ctx.Err()
				}
				if token != nil {
					req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: float64(i), Total: float64(in.Steps)})
				}
			}
			return nil, textOut{Text: fmt.Sprintf("done %d", in.Steps)}, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "log", Description: "Logs its text at info level, then answers."},
		func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, textOut, error) {
			req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "mcpserver", Data: in.Text})
			return nil, textOut{Text: "logged"}, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "sample", Description: "Asks the client's model (sampling) and answers with its text."},
		func(ctx context.Context, req *mcp.CallToolRequest, in sampleIn) (*mcp.CallToolResult, textOut, error) {
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 100,
				Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: in.Prompt}}}})
			if err != nil {
				return nil, textOut{}, err
			}
			text := ""
			if tc, ok := res.Content.(*mcp.TextContent); ok {
				text = tc.Text
			}
			return nil, textOut{Text: "model says: " + text}, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "big", Description: "Answers with a text of the given size."},
		func(_ context.Context, _ *mcp.CallToolRequest, in bigIn) (*mcp.CallToolResult, textOut, error) {
			return nil, textOut{Text: strings.Repeat("b", in.Bytes)}, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "crash", Description: "Exits the server mid-call."},
		func(_ context.Context, _ *mcp.CallToolRequest, _ echoIn) (*mcp.CallToolResult, textOut, error) {
			fmt.Fprintln(os.Stderr, "mcpserver: crashing as asked")
			os.Exit(3)
			return nil, textOut{}, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "hang", Description: "Never answers; logs to stderr when the call is cancelled."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ echoIn) (*mcp.CallToolResult, textOut, error) {
			<-ctx.Done()
			fmt.Fprintln(os.Stderr, "mcpserver: hang cancelled by the client")
			return nil, textOut{}, ctx.Err()
		})
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "mcpserver:", err)
	os.Exit(1)
}
