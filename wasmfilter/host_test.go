package wasmfilter

import (
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/botwarden/botwarden/wasmfilter/abi"
)

// fakeHost is an in-memory Host for the filter's unit tests. It removes one
// occurrence per RemoveRequestHeader (like proxytest; Envoy removes all), so
// the filter's once-per-occurrence removal is exercised.
type fakeHost struct {
	stream   uint32
	respHdrs [][2]string
	body     []byte
	headers  [][2]string
	props    map[string][]byte
	local    *localReply
	logs     []string
	counters map[string]int64
	ids      []string

	// failures and panics injected per method name
	fail     map[string]error
	panicOn  string
	defineOK bool
}

type localReply struct {
	status  uint32
	details string
	body    string
	headers [][2]string
}

func newFakeHost() *fakeHost {
	return &fakeHost{props: map[string][]byte{}, counters: map[string]int64{}, fail: map[string]error{}, defineOK: true}
}

var errInjected = errors.New("injected host failure")

func (h *fakeHost) check(method string) error {
	if h.panicOn == method {
		panic("injected panic in " + method)
	}
	return h.fail[method]
}

func (h *fakeHost) RequestHeaders() ([][2]string, error) {
	if err := h.check("RequestHeaders"); err != nil {
		return nil, err
	}
	return append([][2]string(nil), h.headers...), nil
}

func (h *fakeHost) RemoveRequestHeader(name string) error {
	if err := h.check("RemoveRequestHeader"); err != nil {
		return err
	}
	for i, kv := range h.headers {
		if kv[0] == name {
			h.headers = append(h.headers[:i], h.headers[i+1:]...)
			break
		}
	}
	return nil
}

func (h *fakeHost) ReplaceRequestHeader(name, value string) error {
	if err := h.check("ReplaceRequestHeader"); err != nil {
		return err
	}
	for i, kv := range h.headers {
		if kv[0] == name {
			h.headers[i][1] = value
			return nil
		}
	}
	h.headers = append(h.headers, [2]string{name, value})
	return nil
}

func (h *fakeHost) Property(path ...string) ([]byte, error) {
	if err := h.check("Property"); err != nil {
		return nil, err
	}
	v, ok := h.props[strings.Join(path, ".")]
	if !ok {
		return nil, abi.ErrNotFound
	}
	return v, nil
}

func (h *fakeHost) SendLocalResponse(status uint32, details string, body []byte, headers [][2]string) error {
	if err := h.check("SendLocalResponse"); err != nil {
		return err
	}
	h.local = &localReply{status: status, details: details, body: string(body), headers: headers}
	return nil
}

func (h *fakeHost) Log(level abi.LogLevel, msg string) {
	h.logs = append(h.logs, level.String()+": "+msg)
}

func (h *fakeHost) DefineCounter(name string) (uint32, error) {
	if !h.defineOK {
		return 0, errInjected
	}
	for i, n := range h.ids {
		if n == name {
			return uint32(i), nil
		}
	}
	h.ids = append(h.ids, name)
	return uint32(len(h.ids) - 1), nil
}

func (h *fakeHost) IncrementCounter(id uint32, delta int64) error {
	if int(id) >= len(h.ids) {
		return errInjected
	}
	h.counters[h.ids[id]] += delta
	return nil
}

// header returns the first value of name.
func (h *fakeHost) header(name string) (string, bool) {
	for _, kv := range h.headers {
		if kv[0] == name {
			return kv[1], true
		}
	}
	return "", false
}

// setRequestTime sets the request.time attribute as Envoy serialises it.
func (h *fakeHost) setRequestTime(t time.Time) {
	h.props["request.time"] = binary.LittleEndian.AppendUint64(nil, uint64(t.UnixNano()))
}

func (h *fakeHost) Stream() uint32 { return h.stream }

func (h *fakeHost) ResponseHeaders() ([][2]string, error) {
	if err := h.check("ResponseHeaders"); err != nil {
		return nil, err
	}
	return append([][2]string(nil), h.respHdrs...), nil
}

func (h *fakeHost) RemoveResponseHeader(name string) error {
	if err := h.check("RemoveResponseHeader"); err != nil {
		return err
	}
	for i, kv := range h.respHdrs {
		if kv[0] == name {
			h.respHdrs = append(h.respHdrs[:i], h.respHdrs[i+1:]...)
			return nil
		}
	}
	return nil
}

func (h *fakeHost) ResponseBody(size int) ([]byte, error) {
	if err := h.check("ResponseBody"); err != nil {
		return nil, err
	}
	return append([]byte(nil), h.body[:min(size, len(h.body))]...), nil
}

func (h *fakeHost) SetResponseBody(b []byte, replace int) error {
	if err := h.check("SetResponseBody"); err != nil {
		return err
	}
	h.body = append(append([]byte(nil), b...), h.body[min(replace, len(h.body)):]...)
	return nil
}
