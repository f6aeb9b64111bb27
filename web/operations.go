package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
)

// operationsJSON is GET /api/v1/operations: a server's operations over
// the range, most frequent first (at most window.MaxOperations by name,
// then "other"), with their results and response_time digest, and the
// transactions per status.
type operationsJSON struct {
	Server       string            `json:"server"`
	Sensor       string            `json:"sensor,omitempty"`
	From         time.Time         `json:"from"`
	To           time.Time         `json:"to"`
	Protocol     string            `json:"protocol,omitempty"`
	Transactions uint64            `json:"transactions"`
	ClientErrors uint64            `json:"client_errors"`
	ServerErrors uint64            `json:"server_errors"`
	Operations   []operationJSON   `json:"operations"`
	Statuses     map[string]uint64 `json:"statuses"`
}

type operationJSON struct {
	Name         string       `json:"operation"`
	Count        uint64       `json:"count"`
	OK           uint64       `json:"ok"`
	ClientError  uint64       `json:"client_error"`
	ServerError  uint64       `json:"server_error"`
	ResponseTime window.Stats `json:"response_time"`
}

func (s *Server) apiOperations(w http.ResponseWriter, r *http.Request) {
	q, err := s.seriesQuery(r)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	q.Operation = ""
	bd, err := s.db.Operations(r.Context(), q)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, "read operations", err)
		return
	}
	out := operationsJSON{Server: q.Server.String(), Sensor: q.Sensor, From: q.From, To: q.To, Protocol: bd.Protocol,
		Transactions: bd.Transactions, ClientErrors: bd.ClientErrors, ServerErrors: bd.ServerErrors,
		Operations: make([]operationJSON, 0, len(bd.Operations)), Statuses: bd.Statuses}
	if out.Statuses == nil {
		out.Statuses = map[string]uint64{}
	}
	for i := range bd.Operations {
		o := &bd.Operations[i]
		out.Operations = append(out.Operations, operationJSON{Name: o.Name, Count: o.Count, OK: o.OK,
			ClientError: o.ClientError, ServerError: o.ServerError, ResponseTime: o.ResponseTime.Stats()})
	}
	writeJSON(w, http.StatusOK, out)
}
