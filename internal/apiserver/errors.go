package apiserver

import (
	"encoding/json"
	"errors"
	"github.com/mcpctl/mcpctl/internal/gateway"
	"log/slog"
	"net/http"

	"github.com/mcpctl/mcpctl/internal/auth"
	"github.com/mcpctl/mcpctl/internal/secret"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// apiError is an error with its HTTP status and code decided at the point
// where the problem is known.
type apiError struct {
	status  int
	code    string
	msg     string
	details []v1.FieldError
}

func (e *apiError) Error() string { return e.msg }

func newError(status int, code, msg string) *apiError {
	return &apiError{status: status, code: code, msg: msg}
}

func validationError(details ...v1.FieldError) *apiError {
	return &apiError{status: http.StatusBadRequest, code: v1.CodeValidationFailed,
		msg: "the request is not valid; see details", details: details}
}

// toAPIError is the one place where errors become HTTP answers. Anything
// not recognised is a 500 whose body says nothing of the internals; the
// request id leads to the log line with the cause.
func toAPIError(err error) *apiError {
	var ae *apiError
	var ve *v1.ValidationError
	var mbe *http.MaxBytesError
	var ke *secret.KeyError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ve):
		return validationError(ve.Fields...)
	case errors.As(err, &mbe):
		return newError(http.StatusRequestEntityTooLarge, v1.CodePayloadTooLarge,
			"the request body is larger than the limit of "+byteSize(mbe.Limit)+" (MCPD_BODY_LIMIT)")
	case errors.As(err, &ke):
		// Names the secret, the key and the missing key id; never a value.
		return newError(http.StatusInternalServerError, v1.CodeSecretKeyUnavailable, ke.Error())
	case errors.Is(err, auth.ErrTokenRequired):
		return newError(http.StatusUnauthorized, v1.CodeTokenRequired, err.Error())
	case errors.Is(err, auth.ErrTokenExpired):
		return newError(http.StatusUnauthorized, v1.CodeTokenExpired, err.Error())
	case errors.Is(err, auth.ErrTokenInvalid):
		return newError(http.StatusUnauthorized, v1.CodeTokenInvalid, err.Error())
	case errors.Is(err, auth.ErrInvalidCredentials):
		return newError(http.StatusUnauthorized, v1.CodeInvalidCredentials, err.Error())
	case errors.Is(err, store.ErrNotFound):
		return newError(http.StatusNotFound, v1.CodeNotFound, "not found")
	case errors.Is(err, store.ErrConflict):
		return newError(http.StatusConflict, v1.CodeConflict, "the object was changed or already exists; fetch it again and retry")
	case errors.Is(err, store.ErrUnavailable):
		return newError(http.StatusServiceUnavailable, v1.CodeUnavailable,
			"the database is unavailable; mcpd retries on its own, try again shortly")
	}
	return newError(http.StatusInternalServerError, v1.CodeInternal,
		"internal error; the request id identifies it in the mcpd log")
}

// writeError answers with err mapped to status, code and message, and logs
// the cause of 5xx answers (which the body does not reveal).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err)
	st := state(r)
	if ae.status >= 500 {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", st.requestID), slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	if ae.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if isMCP(st) {
		// An MCP client reads JSON-RPC, not the API's error body.
		gateway.WriteError(w, ae.status, ae.code, ae.msg+" (request id "+st.requestID+")")
		return
	}
	writeJSON(w, ae.status, v1.Error{Message: ae.msg, Code: ae.code, Details: ae.details, RequestID: st.requestID})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(body) //nolint:errcheck // the client has gone; nothing to do
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}
