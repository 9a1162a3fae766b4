package apiserver

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

var auditParams = map[string]bool{"principal": true, "tokenName": true, "project": true, "tool": true, "action": true, "status": true, "since": true, "until": true, "limit": true, "cursor": true}

// listAudit pages through audit events, newest first.
//
//	GET /api/v1/audit?principal=User:a@b.c&tokenName=ci&project=p&tool=t&action=auth.login&status=401&since=RFC3339&until=RFC3339&limit=100&cursor=C
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	f, err := parseAuditFilter(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	events, err := s.store.ListAuditEvents(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := v1.AuditList{Items: events}
	if len(events) == f.Limit {
		out.NextCursor = encodeCursor(events[len(events)-1].ID)
	}
	writeJSON(w, http.StatusOK, out)
}

func parseAuditFilter(r *http.Request) (store.AuditFilter, error) {
	q := r.URL.Query()
	var fe v1.FieldErrors
	var unknown []string
	for k := range q {
		if !auditParams[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		fe.Add(k, "unknown query parameter; allowed: principal, tokenName, project, tool, action, status, since, until, limit, cursor")
	}
	f := store.AuditFilter{Principal: q.Get("principal"), TokenName: q.Get("tokenName"), Project: q.Get("project"), Tool: q.Get("tool"), Action: q.Get("action"), Limit: 100}
	if v := q.Get("status"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 599 {
			fe.Add("status", "must be an HTTP status code from 100 to 599")
		}
		f.Status = n
	}
	parseTime := func(name string) time.Time {
		v := q.Get(name)
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			fe.Add(name, "must be an RFC 3339 time such as 2026-11-26T15:00:00Z")
		}
		return t
	}
	f.Since, f.Until = parseTime("since"), parseTime("until")
	f.Limit = pageLimit(q, &fe)
	if v := q.Get("cursor"); v != "" {
		id, ok := decodeCursor(v)
		if !ok {
			fe.Add("cursor", "is not a cursor this server issued; pass nextCursor from the previous page unchanged")
		}
		f.BeforeID = id
	}
	return f, fe.Err()
}

func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a:" + strconv.FormatInt(id, 10)))
}

func decodeCursor(c string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 3 || string(b[:2]) != "a:" {
		return 0, false
	}
	id, err := strconv.ParseInt(string(b[2:]), 10, 64)
	return id, err == nil && id > 0
}
