package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// iid is a well-formed instance id (a lower-case UUID) numbered n, so that
// ids sort as their numbers do.
func iid(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

func instance(id, server, node, runtime, state string) v1.Instance {
	return v1.Instance{ID: id, Server: server, Runtime: runtime, Node: node, State: state, CreatedAt: t0, UpdatedAt: t0,
		Health: v1.InstanceHealth{Status: v1.HealthUnknown}}
}

func intp(n int) *int { return &n }

// instanceKeys is "server/id" of each instance, in order.
func instanceKeys(ins []v1.Instance) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.Server+"/"+in.ID)
	}
	return out
}

func testInstances(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Every field set; times of microsecond precision, distinct per field.
	full := v1.Instance{
		ID: iid(100), Server: "rt", Runtime: "process", RuntimeID: "4242", Node: "node-9", State: v1.InstanceFailed,
		Message:  `exited with code 137: it's "killed"? $1 %s`,
		Restarts: 3, ExitCode: intp(137),
		NextStartAt: t0.Add(5*time.Minute + 1*time.Microsecond),
		CreatedAt:   t0.Add(2 * time.Microsecond),
		StartedAt:   t0.Add(time.Second + 3*time.Microsecond),
		ReadyAt:     t0.Add(2*time.Second + 4*time.Microsecond),
		StoppedAt:   t0.Add(time.Minute + 5*time.Microsecond),
		UpdatedAt:   t0.Add(time.Minute + 6*time.Microsecond),
		Health: v1.InstanceHealth{
			Status: v1.HealthUnhealthy, LastChecked: t0.Add(50*time.Second + 7*time.Microsecond), Readiness: true, Liveness: true,
			ConsecutiveFailures: 2, AlertThreshold: 3, Uptime: 59.5, LastError: "dial tcp: connection refused", LatencyMillis: 12.25,
		},
		Events: []v1.InstanceEvent{
			{Time: t0.Add(8 * time.Microsecond), Type: v1.EventNormal, Reason: "Created", Message: "created on node-9"},
			{Time: t0.Add(time.Minute + 9*time.Microsecond), Type: v1.EventWarning, Reason: "Exited", Message: "exit code 137 — «OOM»"},
		},
	}
	// A zero exit code is not a missing one.
	zeroExit := instance(iid(101), "rt", "node-9", "process", v1.InstanceStopped)
	zeroExit.ExitCode = intp(0)
	zeroExit.StoppedAt = t0.Add(time.Hour + 10*time.Microsecond)
	zeroExit.AddEvent(zeroExit.StoppedAt, v1.EventNormal, "Stopped", "stopped on request")
	// No exit code, zero optional times, no events.
	minimal := instance(iid(102), "rt", "", "process", v1.InstancePending)
	minimal.Health = v1.InstanceHealth{}

	for _, in := range []v1.Instance{full, zeroExit, minimal} {
		if err := s.CreateInstance(ctx, in); err != nil {
			t.Fatalf("CreateInstance %s: %v", in.ID, err)
		}
	}
	// nil and empty Events are the same list (the wire type omits both).
	equateEmpty := cmpopts.EquateEmpty()
	for _, want := range []v1.Instance{full, zeroExit, minimal} {
		got, err := s.GetInstance(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetInstance %s: %v", want.ID, err)
		}
		if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
			t.Errorf("GetInstance %s (-want +got):\n%s", want.ID, diff)
		}
	}
	if got, _ := s.GetInstance(ctx, minimal.ID); got.ExitCode != nil {
		t.Errorf("ExitCode of an instance without one = %d, want nil", *got.ExitCode)
	}
	if got, _ := s.GetInstance(ctx, zeroExit.ID); got.ExitCode == nil || *got.ExitCode != 0 {
		t.Errorf("ExitCode = %v, want a pointer to 0", got.ExitCode)
	}

	dup := instance(full.ID, "other", "node-1", "docker", v1.InstanceRunning)
	if err := s.CreateInstance(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate id: got %v, want ErrConflict", err)
	}
	if got, _ := s.GetInstance(ctx, full.ID); got.Server != full.Server {
		t.Errorf("a refused create changed the instance: server %q, want %q", got.Server, full.Server)
	}
	for _, id := range []string{iid(999), "", "x' OR '1'='1"} {
		if _, err := s.GetInstance(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetInstance(%q): got %v, want ErrNotFound", id, err)
		}
	}

	// Listing: created out of order, read in (server, id) order.
	for _, in := range []v1.Instance{
		instance(iid(3), "alpha", "node-1", "process", v1.InstanceRunning),
		instance(iid(1), "alpha", "node-2", "docker", v1.InstanceStopped),
		instance(iid(2), "beta", "node-1", "docker", v1.InstancePending),
		instance(iid(5), "beta", "node-1", "process", v1.InstanceStopped),
		instance(iid(4), "gamma", "node-2", "process", v1.InstanceFailed),
		instance(iid(0), "alpha", "node-1", "docker", v1.InstanceStarting),
	} {
		if err := s.CreateInstance(ctx, in); err != nil {
			t.Fatalf("CreateInstance %s: %v", in.ID, err)
		}
	}
	k := func(server string, n int) string { return server + "/" + iid(n) }
	all := []string{k("alpha", 0), k("alpha", 1), k("alpha", 3), k("beta", 2), k("beta", 5), k("gamma", 4),
		k("rt", 100), k("rt", 101), k("rt", 102)}
	tests := []struct {
		name string
		f    store.InstanceFilter
		want []string
	}{
		{"all", store.InstanceFilter{}, all},
		{"server", store.InstanceFilter{Server: "alpha"}, all[:3]},
		{"unknown server", store.InstanceFilter{Server: "nope"}, nil},
		{"node", store.InstanceFilter{Node: "node-1"}, []string{k("alpha", 0), k("alpha", 3), k("beta", 2), k("beta", 5)}},
		{"runtime", store.InstanceFilter{Runtime: "docker"}, []string{k("alpha", 0), k("alpha", 1), k("beta", 2)}},
		{"active", store.InstanceFilter{Active: true},
			[]string{k("alpha", 0), k("alpha", 3), k("beta", 2), k("gamma", 4), k("rt", 100), k("rt", 102)}},
		{"server and active", store.InstanceFilter{Server: "beta", Active: true}, []string{k("beta", 2)}},
		{"node and runtime", store.InstanceFilter{Node: "node-1", Runtime: "process"}, []string{k("alpha", 3), k("beta", 5)}},
		{"limit", store.InstanceFilter{Limit: 2}, all[:2]},
		{"after", store.InstanceFilter{AfterServer: "alpha", AfterID: iid(1)}, all[2:]},
		// iid(2) < iid(3), but beta comes after alpha.
		{"after, across servers", store.InstanceFilter{AfterServer: "alpha", AfterID: iid(3), Limit: 2}, []string{k("beta", 2), k("beta", 5)}},
		{"after the last", store.InstanceFilter{AfterServer: "rt", AfterID: iid(102)}, nil},
		{"after, in a server", store.InstanceFilter{Server: "beta", AfterServer: "beta", AfterID: iid(2)}, []string{k("beta", 5)}},
		{"after, active, limit", store.InstanceFilter{AfterServer: "alpha", AfterID: iid(0), Active: true, Limit: 2},
			[]string{k("alpha", 3), k("beta", 2)}},
	}
	for _, tc := range tests {
		got, err := s.ListInstances(ctx, tc.f)
		if err != nil {
			t.Errorf("%s: ListInstances: %v", tc.name, err)
			continue
		}
		if diff := cmp.Diff(tc.want, instanceKeys(got)); diff != "" {
			t.Errorf("%s: ListInstances %+v (-want +got):\n%s", tc.name, tc.f, diff)
		}
	}
	// Listed instances are whole.
	rt, err := s.ListInstances(ctx, store.InstanceFilter{Server: "rt"})
	if err != nil {
		t.Fatalf("ListInstances rt: %v", err)
	}
	if diff := cmp.Diff([]v1.Instance{full, zeroExit, minimal}, rt, equateEmpty); diff != "" {
		t.Errorf("ListInstances rt (-want +got):\n%s", diff)
	}
	// Paging with the last item as the cursor visits each instance once.
	var paged []string
	f := store.InstanceFilter{Limit: 2}
	for pages := 0; ; pages++ {
		if pages > len(all) {
			t.Fatalf("paging does not end: %v", paged)
		}
		page, err := s.ListInstances(ctx, f)
		if err != nil {
			t.Fatalf("ListInstances page: %v", err)
		}
		if len(page) > 2 {
			t.Fatalf("page of %d instances, limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, instanceKeys(page)...)
		last := page[len(page)-1]
		f.AfterServer, f.AfterID = last.Server, last.ID
	}
	if diff := cmp.Diff(all, paged); diff != "" {
		t.Errorf("paging with limit 2 (-want +got):\n%s", diff)
	}

	// UpdateInstance: fn's changes are written and returned; the id stays.
	change := func(in *v1.Instance) {
		in.State, in.Message, in.Restarts = v1.InstanceRunning, "restarted", in.Restarts+1
		in.ExitCode, in.StoppedAt, in.NextStartAt = nil, time.Time{}, time.Time{}
		in.RuntimeID, in.Node = "5151", "node-8"
		in.StartedAt = t0.Add(2*time.Minute + 11*time.Microsecond)
		in.UpdatedAt = t0.Add(3*time.Minute + 12*time.Microsecond)
		in.Health = v1.InstanceHealth{Status: v1.HealthHealthy, LastChecked: in.UpdatedAt, Readiness: true, Liveness: true, AlertThreshold: 3}
		in.Events = append(slices.Clone(in.Events),
			v1.InstanceEvent{Time: in.UpdatedAt, Type: v1.EventNormal, Reason: "Restarting", Message: "back-off over"})
	}
	want := full
	change(&want)
	got, err := s.UpdateInstance(ctx, full.ID, func(in *v1.Instance) error {
		if diff := cmp.Diff(full, *in, equateEmpty); diff != "" {
			t.Errorf("UpdateInstance gave fn (-want +got):\n%s", diff)
		}
		change(in)
		in.ID = iid(777) // ignored
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateInstance: %v", err)
	}
	if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("UpdateInstance returned (-want +got):\n%s", diff)
	}
	if got, err := s.GetInstance(ctx, full.ID); err != nil {
		t.Errorf("GetInstance after update: %v", err)
	} else if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("GetInstance after update (-want +got):\n%s", diff)
	}
	if _, err := s.GetInstance(ctx, iid(777)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an id set by fn: GetInstance(%s) = %v, want ErrNotFound", iid(777), err)
	}
	// Setting an exit code back works too (nil → non-nil).
	if got, err := s.UpdateInstance(ctx, minimal.ID, func(in *v1.Instance) error { in.ExitCode = intp(-1); return nil }); err != nil ||
		got.ExitCode == nil || *got.ExitCode != -1 {
		t.Errorf("UpdateInstance exit code -1: %v %v", got.ExitCode, err)
	}
	if got, _ := s.GetInstance(ctx, minimal.ID); got.ExitCode == nil || *got.ExitCode != -1 {
		t.Errorf("stored exit code = %v, want -1", got.ExitCode)
	}

	// An error from fn writes nothing, and is returned as is.
	errBoom := errors.New("boom")
	_, err = s.UpdateInstance(ctx, full.ID, func(in *v1.Instance) error {
		in.State, in.Message, in.Restarts = v1.InstanceStopped, "must not be written", 99
		in.Events = nil
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("UpdateInstance with a failing fn: got %v, want boom", err)
	}
	if got, err := s.GetInstance(ctx, full.ID); err != nil {
		t.Errorf("GetInstance after a failed update: %v", err)
	} else if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("a failed update wrote (-want +got):\n%s", diff)
	}
	called := false
	_, err = s.UpdateInstance(ctx, iid(999), func(in *v1.Instance) error { called = true; return nil })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateInstance of an unknown id: got %v, want ErrNotFound", err)
	}
	if called {
		t.Errorf("UpdateInstance of an unknown id called fn")
	}
	if _, err := s.GetInstance(ctx, iid(999)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateInstance of an unknown id created it: %v", err)
	}

	// Updates are read-modify-write transactions: concurrent increments
	// are none of them lost.
	const workers = 8
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.UpdateInstance(ctx, iid(3), func(in *v1.Instance) error { in.Restarts++; return nil })
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent UpdateInstance %d: %v", i, err)
		}
	}
	if got, _ := s.GetInstance(ctx, iid(3)); got.Restarts != workers {
		t.Errorf("Restarts after %d concurrent increments = %d", workers, got.Restarts)
	}

	// DeleteInstance removes the instance and its log, not another's.
	logs := func(from, to int64) []v1.LogLine {
		var ls []v1.LogLine
		for seq := from; seq <= to; seq++ {
			ls = append(ls, v1.LogLine{Seq: seq, Time: t0.Add(time.Duration(seq) * time.Millisecond), Stream: "stdout", Line: fmt.Sprint("l", seq)})
		}
		return ls
	}
	for _, id := range []string{full.ID, zeroExit.ID} {
		if err := s.AppendLogs(ctx, id, logs(1, 3)); err != nil {
			t.Fatalf("AppendLogs %s: %v", id, err)
		}
	}
	if err := s.DeleteInstance(ctx, full.ID); err != nil {
		t.Fatalf("DeleteInstance: %v", err)
	}
	if _, err := s.GetInstance(ctx, full.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetInstance of a deleted instance: got %v, want ErrNotFound", err)
	}
	if seq, err := s.LastLogSeq(ctx, full.ID); err != nil || seq != 0 {
		t.Errorf("LastLogSeq of a deleted instance = %d, %v; want 0", seq, err)
	}
	if ls, err := s.ReadLogs(ctx, store.LogQuery{InstanceID: full.ID}); err != nil || len(ls) != 0 {
		t.Errorf("ReadLogs of a deleted instance = %d lines, %v; want none", len(ls), err)
	}
	if ls, err := s.ReadLogs(ctx, store.LogQuery{InstanceID: zeroExit.ID}); err != nil || len(ls) != 3 {
		t.Errorf("ReadLogs of another instance after a delete = %d lines, %v; want 3", len(ls), err)
	}
	if got, err := s.ListInstances(ctx, store.InstanceFilter{Server: "rt"}); err != nil ||
		!slices.Equal(instanceKeys(got), []string{k("rt", 101), k("rt", 102)}) {
		t.Errorf("ListInstances after a delete: %v %v", instanceKeys(got), err)
	}
	if err := s.DeleteInstance(ctx, full.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete twice: got %v, want ErrNotFound", err)
	}
}

func testInstanceLogs(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b, c := iid(1), iid(2), iid(3)
	at := func(seq int64) time.Time {
		return t0.Add(time.Duration(seq)*time.Second + time.Duration(seq)*time.Microsecond)
	}
	mk := func(from, to int64, prefix string) []v1.LogLine {
		var ls []v1.LogLine
		for seq := from; seq <= to; seq++ {
			stream := "stdout"
			if seq%3 == 0 {
				stream = "stderr"
			}
			ls = append(ls, v1.LogLine{Seq: seq, Time: at(seq), Stream: stream, Line: fmt.Sprintf("%s line %d", prefix, seq)})
		}
		return ls
	}
	aLines := mk(1, 450, "a")
	// Text is data: unicode, quotes, placeholders, escapes and newlines
	// inside a line come back byte for byte.
	odd := []string{
		"héllo wörld — 世界 🚀 \u200b zero-width",
		`it's "quoted" and 'single' and back\slash \n not a newline`,
		"two\nlines\r\nand a\ttab",
		"? $1 $2 %s %d ; DROP TABLE instance_logs; --",
		"",
		"   leading and trailing spaces   ",
		"\x1b[31mred\x1b[0m",
	}
	for i, l := range odd {
		aLines[10+i*50].Line = l
	}
	if err := s.AppendLogs(ctx, a, aLines); err != nil { // 450 lines: three insert chunks
		t.Fatalf("AppendLogs a: %v", err)
	}
	bLines := mk(1, 5, "b") // the same seq numbers as a's first lines
	if err := s.AppendLogs(ctx, b, bLines); err != nil {
		t.Fatalf("AppendLogs b: %v", err)
	}
	if err := s.AppendLogs(ctx, b, nil); err != nil {
		t.Errorf("AppendLogs of no lines: %v", err)
	}

	for id, want := range map[string]int64{a: 450, b: 5, c: 0} {
		if got, err := s.LastLogSeq(ctx, id); err != nil || got != want {
			t.Errorf("LastLogSeq(%s) = %d, %v; want %d", id, got, err, want)
		}
	}

	got, err := s.ReadLogs(ctx, store.LogQuery{InstanceID: a})
	if err != nil {
		t.Fatalf("ReadLogs a: %v", err)
	}
	if diff := cmp.Diff(aLines, got); diff != "" {
		t.Errorf("ReadLogs a (-want +got):\n%s", diff)
	}
	for i, l := range odd {
		if n := 10 + i*50; n < len(got) && got[n].Line != l {
			t.Errorf("line %d = %q, want %q", n+1, got[n].Line, l)
		}
	}

	seqs := func(from, to int64) []int64 {
		var out []int64
		for seq := from; seq <= to; seq++ {
			out = append(out, seq)
		}
		return out
	}
	tests := []struct {
		name string
		q    store.LogQuery
		want []int64
	}{
		{"after", store.LogQuery{After: 440}, seqs(441, 450)},
		{"after the last", store.LogQuery{After: 450}, nil},
		{"after, limit", store.LogQuery{After: 100, Limit: 5}, seqs(101, 105)},
		{"limit", store.LogQuery{Limit: 3}, seqs(1, 3)},
		{"tail", store.LogQuery{Tail: 3}, seqs(448, 450)},
		{"tail of more than there is", store.LogQuery{Tail: 1000}, seqs(1, 450)},
		{"tail capped by limit", store.LogQuery{Tail: 5, Limit: 2}, seqs(449, 450)},
		{"tail with after is ignored", store.LogQuery{After: 10, Tail: 3}, seqs(11, 450)},
		{"tail with after, limit", store.LogQuery{After: 10, Tail: 3, Limit: 2}, seqs(11, 12)},
		{"since", store.LogQuery{Since: at(445)}, seqs(445, 450)},
		{"since, a microsecond later", store.LogQuery{Since: at(445).Add(time.Microsecond)}, seqs(446, 450)},
		{"since the future", store.LogQuery{Since: at(451)}, nil},
		{"since, tail", store.LogQuery{Since: at(400), Tail: 2}, seqs(449, 450)},
		{"since, tail of more than there is", store.LogQuery{Since: at(448), Tail: 10}, seqs(448, 450)},
		{"since, after", store.LogQuery{Since: at(440), After: 445}, seqs(446, 450)},
		{"since, limit", store.LogQuery{Since: at(200), Limit: 2}, seqs(200, 201)},
	}
	for _, tc := range tests {
		tc.q.InstanceID = a
		got, err := s.ReadLogs(ctx, tc.q)
		if err != nil {
			t.Errorf("%s: ReadLogs: %v", tc.name, err)
			continue
		}
		var gotSeqs []int64
		for _, l := range got {
			gotSeqs = append(gotSeqs, l.Seq)
		}
		if diff := cmp.Diff(tc.want, gotSeqs); diff != "" {
			t.Errorf("%s: ReadLogs %+v seqs (-want +got):\n%s", tc.name, tc.q, diff)
		}
		for _, l := range got {
			if l != aLines[l.Seq-1] {
				t.Errorf("%s: line %d = %+v, want %+v", tc.name, l.Seq, l, aLines[l.Seq-1])
				break
			}
		}
	}

	// Another instance's lines stay its own.
	if got, err := s.ReadLogs(ctx, store.LogQuery{InstanceID: b}); err != nil {
		t.Errorf("ReadLogs b: %v", err)
	} else if diff := cmp.Diff(bLines, got); diff != "" {
		t.Errorf("ReadLogs b (-want +got):\n%s", diff)
	}
	if got, err := s.ReadLogs(ctx, store.LogQuery{InstanceID: c}); err != nil || len(got) != 0 {
		t.Errorf("ReadLogs of an instance without lines = %+v, %v; want none", got, err)
	}

	// Limit defaults to 1000.
	cLines := mk(1, 1205, "c")
	if err := s.AppendLogs(ctx, c, cLines); err != nil {
		t.Fatalf("AppendLogs c: %v", err)
	}
	if got, err := s.ReadLogs(ctx, store.LogQuery{InstanceID: c}); err != nil || len(got) != 1000 || got[0].Seq != 1 || got[999].Seq != 1000 {
		t.Errorf("ReadLogs without a limit: %d lines, %v; want seq 1..1000", len(got), err)
	}
	if got, err := s.ReadLogs(ctx, store.LogQuery{InstanceID: c, After: 1000}); err != nil || len(got) != 205 || got[0].Seq != 1001 {
		t.Errorf("ReadLogs after 1000: %d lines, %v; want seq 1001..1205", len(got), err)
	}
	// A tail without a limit gets the lines it asks for, not one page.
	if got, err := s.ReadLogs(ctx, store.LogQuery{InstanceID: c, Tail: 1100}); err != nil || len(got) != 1100 || got[0].Seq != 106 || got[1099].Seq != 1205 {
		t.Errorf("ReadLogs tail 1100 without a limit: %d lines, %v; want seq 106..1205", len(got), err)
	}

	// A seq taken is a conflict, and the whole batch writes nothing.
	for _, tc := range []struct {
		name  string
		lines []v1.LogLine
	}{
		{"taken seq", append(mk(6, 7, "b"), mk(3, 3, "b")...)},
		{"seq twice in the batch", append(mk(6, 7, "b"), mk(7, 7, "b")...)},
		{"taken seq in a later chunk", append(mk(6, 215, "b"), append(mk(5, 5, "b"), mk(216, 260, "b")...)...)},
	} {
		if err := s.AppendLogs(ctx, b, tc.lines); !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: AppendLogs = %v, want ErrConflict", tc.name, err)
		}
		if seq, err := s.LastLogSeq(ctx, b); err != nil || seq != 5 {
			t.Errorf("%s: LastLogSeq after a refused append = %d, %v; want 5", tc.name, seq, err)
		}
	}
	if got, err := s.ReadLogs(ctx, store.LogQuery{InstanceID: b}); err != nil {
		t.Errorf("ReadLogs b: %v", err)
	} else if diff := cmp.Diff(bLines, got); diff != "" {
		t.Errorf("ReadLogs b after refused appends (-want +got):\n%s", diff)
	}
	if err := s.AppendLogs(ctx, b, mk(6, 6, "b")); err != nil {
		t.Errorf("AppendLogs b seq 6: %v", err)
	}

	// TrimLogs deletes seq ≤ upTo of that instance only.
	if err := s.TrimLogs(ctx, a, 100); err != nil {
		t.Fatalf("TrimLogs: %v", err)
	}
	if got, err := s.ReadLogs(ctx, store.LogQuery{InstanceID: a}); err != nil {
		t.Errorf("ReadLogs a after trim: %v", err)
	} else if diff := cmp.Diff(aLines[100:], got); diff != "" {
		t.Errorf("ReadLogs a after TrimLogs(100) (-want +got):\n%s", diff)
	}
	if seq, err := s.LastLogSeq(ctx, a); err != nil || seq != 450 {
		t.Errorf("LastLogSeq after trim = %d, %v; want 450", seq, err)
	}
	if got, err := s.ReadLogs(ctx, store.LogQuery{InstanceID: b}); err != nil || len(got) != 6 {
		t.Errorf("ReadLogs b after trimming a: %d lines, %v; want 6", len(got), err)
	}
	if got, err := s.ReadLogs(ctx, store.LogQuery{InstanceID: c, Limit: 2000}); err != nil || len(got) != 1205 {
		t.Errorf("ReadLogs c after trimming a: %d lines, %v; want 1205", len(got), err)
	}
	if err := s.TrimLogs(ctx, a, 100); err != nil {
		t.Errorf("TrimLogs twice: %v", err)
	}
	if err := s.TrimLogs(ctx, a, 450); err != nil {
		t.Fatalf("TrimLogs all: %v", err)
	}
	if got, err := s.ReadLogs(ctx, store.LogQuery{InstanceID: a}); err != nil || len(got) != 0 {
		t.Errorf("ReadLogs a after trimming all: %d lines, %v; want none", len(got), err)
	}
	if err := s.TrimLogs(ctx, iid(999), 10); err != nil {
		t.Errorf("TrimLogs of an instance without lines: %v", err)
	}
}

func testLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	const ttl = 10 * time.Second
	now := t0
	try := func(name, holder string, at time.Time, want bool) {
		t.Helper()
		got, err := s.TryLease(ctx, name, holder, at, ttl)
		if err != nil {
			t.Fatalf("TryLease(%s, %s, now+%v): %v", name, holder, at.Sub(now), err)
		}
		if got != want {
			t.Errorf("TryLease(%s, %s, now+%v) = %v, want %v", name, holder, at.Sub(now), got, want)
		}
	}
	release := func(name, holder string) {
		t.Helper()
		if err := s.ReleaseLease(ctx, name, holder); err != nil {
			t.Fatalf("ReleaseLease(%s, %s): %v", name, holder, err)
		}
	}
	const alpha, beta = "server/alpha", "server/beta"

	try(alpha, "A", now, true)                      // free: A takes it until now+10s
	try(alpha, "B", now.Add(time.Second), false)    // A holds it
	try(alpha, "A", now.Add(2*time.Second), true)   // A renews it until now+12s
	try(alpha, "B", now.Add(11*time.Second), false) // past the first expiry, not the renewed one
	try(alpha, "B", now.Add(13*time.Second), true)  // expired 11s after A's renewal: B takes it until now+23s
	try(alpha, "A", now.Add(14*time.Second), false) // B holds it now

	// Names are independent.
	try(beta, "A", now.Add(14*time.Second), true)
	try(beta, "B", now.Add(15*time.Second), false)

	// Releasing another's lease keeps it.
	release(alpha, "A")
	try(alpha, "A", now.Add(15*time.Second), false)
	// The holder's release frees it before it expires, and only that name.
	release(alpha, "B")
	try(beta, "B", now.Add(16*time.Second), false)
	try(alpha, "A", now.Add(16*time.Second), true)
	try(alpha, "B", now.Add(17*time.Second), false)
	// Releasing what nobody holds is fine.
	release("server/none", "A")

	// At once, exactly one of many holders gets a free lease.
	const holders = 8
	var wg sync.WaitGroup
	won := make([]bool, holders)
	errs := make([]error, holders)
	for i := range holders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			won[i], errs[i] = s.TryLease(ctx, "server/gamma", fmt.Sprint("H", i), now, ttl)
		}()
	}
	wg.Wait()
	n := 0
	for i := range holders {
		if errs[i] != nil {
			t.Errorf("concurrent TryLease %d: %v", i, errs[i])
		}
		if won[i] {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d of %d concurrent holders got the lease, want exactly 1", n, holders)
	}
}

// A gap in seq (a batch the store refused) does not end a listing: the
// page after the gap is found.
func testLogGap(t *testing.T, s store.Store) {
	ctx := context.Background()
	var lines []v1.LogLine
	for _, seq := range []int64{1, 2, 3, 5000, 5001} {
		lines = append(lines, v1.LogLine{Seq: seq, Time: t0, Stream: "stderr", Line: fmt.Sprint(seq)})
	}
	if err := s.AppendLogs(ctx, "gap", lines); err != nil {
		t.Fatal(err)
	}
	var got []int64
	after := int64(0)
	for {
		page, err := s.ReadLogs(ctx, store.LogQuery{InstanceID: "gap", After: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, l := range page {
			got = append(got, l.Seq)
		}
		after = page[len(page)-1].Seq
	}
	if want := []int64{1, 2, 3, 5000, 5001}; !slices.Equal(got, want) {
		t.Errorf("paged seqs = %v, want %v", got, want)
	}
}
