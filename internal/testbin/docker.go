package testbin

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// TestImage is the FROM scratch image of test/mcpserver. It is left on the
// engine as a cache; a rebuild that changes it removes the old one.
const TestImage = "mcpctl-test-mcpserver:latest"

// Docker connects to the Docker engine. Without one the test skips, but
// in CI (CI=true) that is a failure.
func Docker(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err = cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		cancel()
		if err != nil {
			cli.Close()
		}
	}
	if err != nil {
		msg := fmt.Sprintf("no Docker engine reachable (%v); start one or set DOCKER_HOST", err)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: CI=true, so the docker runtime tests must run", msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

var (
	imageOnce sync.Once
	imageErr  error
)

// DockerImage builds the test image once per test binary.
func DockerImage(t testing.TB) string {
	t.Helper()
	bin := MCPServer(t)
	cli := Docker(t)
	imageOnce.Do(func() { imageErr = buildImage(cli, bin) })
	if imageErr != nil {
		t.Fatalf("build the test image: %v", imageErr)
	}
	return TestImage
}

func buildImage(cli *client.Client, bin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	old, _ := cli.ImageInspect(ctx, TestImage)
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var buildCtx bytes.Buffer
	tw := tar.NewWriter(&buildCtx)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY mcpserver /mcpserver\nENTRYPOINT [\"/mcpserver\"]\n")},
		{"mcpserver", 0o755, data},
	} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	res, err := cli.ImageBuild(ctx, &buildCtx, client.ImageBuildOptions{
		Tags: []string{TestImage}, Remove: true, ForceRemove: true,
	})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var out strings.Builder
	dec := json.NewDecoder(res.Body)
	for {
		var msg jsonstream.Message
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		out.WriteString(msg.Stream)
		if msg.Error != nil {
			return fmt.Errorf("%s\n%s", msg.Error.Message, out.String())
		}
	}
	built, err := cli.ImageInspect(ctx, TestImage)
	if err != nil {
		return fmt.Errorf("inspect the built image: %w\n%s", err, out.String())
	}
	if old.ID != "" && old.ID != built.ID {
		_, _ = cli.ImageRemove(ctx, old.ID, client.ImageRemoveOptions{}) // the previous build, now dangling
	}
	return nil
}
