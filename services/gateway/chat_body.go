package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// readStringField reads a JSON object body and returns its string field name.
// A body that is not a JSON object, or a field that is missing or not a string,
// is answered 422 with a detail that says which; a body over the size limit is
// answered 413. It reports whether to go on.
func (h *handler) readStringField(w http.ResponseWriter, r *http.Request, name string) (string, bool) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.writeError(w, http.StatusRequestEntityTooLarge, "Request body too large")
		} else {
			h.writeError(w, http.StatusBadRequest, "Could not read the request body")
		}
		return "", false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		h.writeError(w, http.StatusUnprocessableEntity,
			fmt.Sprintf(`Body must be a JSON object like {"%s": "..."}`, name))
		return "", false
	}
	v, ok := fields[name]
	if !ok {
		h.writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Field '%s' is required", name))
		return "", false
	}
	var s string
	if bytes.Equal(bytes.TrimSpace(v), []byte("null")) || json.Unmarshal(v, &s) != nil {
		h.writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Field '%s' must be a string", name))
		return "", false
	}
	return s, true
}
