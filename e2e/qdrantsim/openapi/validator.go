// Package openapi checks HTTP traffic against Qdrant's official OpenAPI
// documents (v1.15 and v1.19, embedded from testdata/).
//
// The simulator's tests send every request through a validating transport,
// so the simulator cannot accept a request real Qdrant would not document,
// nor answer in a shape a real client would not expect. The documents are
// used as published; the few places where Qdrant's observed behaviour goes
// beyond them are listed in Exceptions and in the README next to the files.
package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Errors a caller can test for with errors.Is.
var (
	// ErrUndocumentedRoute: no path of the document matches the request.
	ErrUndocumentedRoute = errors.New("route not in the OpenAPI document")
	// ErrUndocumentedMethod: the path exists but not with this method.
	ErrUndocumentedMethod = errors.New("method not in the OpenAPI document for this path")
	// ErrUndocumentedStatus: the operation documents neither this status
	// nor a default, and the body is not Qdrant's generic error.
	ErrUndocumentedStatus = errors.New("response status not documented for the operation")
)

const (
	mediaJSON      = "application/json"
	mediaBinary    = "application/octet-stream"
	mediaText      = "text/plain"
	mediaMultipart = "multipart/form-data"
)

// compiled is one parsed, validated document with its router. It is
// shared by every Validator of that document and never modified.
type compiled struct {
	spec        Spec
	doc         *openapi3.T
	router      routers.Router
	added       []string
	errorSchema *openapi3.Schema
}

func compile(s Spec) (*compiled, error) {
	data, added, err := specDocument(s)
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	// Both documents are self-contained; refusing external references keeps
	// validation from ever reaching the network or the file system.
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("openapi: load %s document: %w", s, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi: %s document is not valid OpenAPI: %w", s, err)
	}
	// The documents declare one server, {protocol}://{hostname}:{port} with
	// port 6333 as default, and the router would only match that port. Peers
	// listen on arbitrary loopback addresses and ports, and the host is not
	// part of the API contract, so routes match on method and path only.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: route %s document: %w", s, err)
	}
	ref := doc.Components.Schemas["ErrorResponse"]
	if ref == nil || ref.Value == nil {
		return nil, fmt.Errorf("openapi: %s document has no ErrorResponse schema", s)
	}
	return &compiled{spec: s, doc: doc, router: router, added: added, errorSchema: ref.Value}, nil
}

// Validator checks requests and responses against the document of one
// Qdrant version. It is safe for concurrent use.
type Validator struct {
	c *compiled
}

// New returns a validator for a Qdrant version such as "1.15.4" or "1.19"
// (see SpecFor for which document serves which version).
func New(version string) (*Validator, error) {
	s, err := SpecFor(version)
	if err != nil {
		return nil, err
	}
	return ForSpec(s)
}

// ForSpec returns a validator for one embedded document.
func ForSpec(s Spec) (*Validator, error) {
	load, ok := loaded[s]
	if !ok {
		return nil, fmt.Errorf("openapi: no embedded document %q", s)
	}
	c, err := load()
	if err != nil {
		return nil, err
	}
	return &Validator{c: c}, nil
}

// Spec is the document this validator uses.
func (v *Validator) Spec() Spec { return v.c.spec }

// Exceptions lists, as "METHOD /path", the routes accepted although the
// official document lacks them. It is empty for v1.19; for v1.15 it holds
// only the streaming shard snapshot, which Qdrant serves since 1.12.
func (v *Validator) Exceptions() []string { return append([]string(nil), v.c.added...) }

// Operation returns the operation id documented for a request, or an error
// wrapping ErrUndocumentedRoute or ErrUndocumentedMethod.
func (v *Validator) Operation(req *http.Request) (string, error) {
	route, _, err := v.route(req)
	if err != nil {
		return "", err
	}
	return route.Operation.OperationID, nil
}

func (v *Validator) route(req *http.Request) (*routers.Route, map[string]string, error) {
	route, params, err := v.c.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return nil, nil, fmt.Errorf("openapi %s: %s %s: %w", v.c.spec, req.Method, req.URL.Path, ErrUndocumentedMethod)
	case err != nil:
		return nil, nil, fmt.Errorf("openapi %s: %s %s: %w", v.c.spec, req.Method, req.URL.Path, ErrUndocumentedRoute)
	}
	return route, params, nil
}

func (v *Validator) options() *openapi3filter.Options {
	opts := &openapi3filter.Options{
		MultiError:            true,
		IncludeResponseStatus: true,
		// Authentication is the server's business (and tested on its own);
		// the documents accept api-key, bearer or no credentials at all.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		// A body sent to an operation that takes none (GET, DELETE) would be
		// ignored by Qdrant: flag it, the caller meant something else.
		RejectWhenRequestBodyNotSpecified: true,
		// Validation must not rewrite the body with schema defaults.
		SkipSettingDefaults: true,
	}
	opts.WithCustomSchemaErrorFunc(schemaErrorMessage)
	return opts
}

// schemaErrorMessage names the offending value and where it is, but leaves
// out the schema, which kin-openapi would print whole: Qdrant's schemas
// run to hundreds of lines and would bury the point.
func schemaErrorMessage(err *openapi3.SchemaError) string {
	value, jerr := json.Marshal(err.Value)
	if jerr != nil {
		value = []byte(fmt.Sprint(err.Value))
	}
	const maxValue = 300
	if len(value) > maxValue {
		value = append(value[:maxValue:maxValue], "..."...)
	}
	reason := err.Reason
	if err.Origin != nil {
		reason = err.Origin.Error()
	}
	if reason == "" {
		reason = fmt.Sprintf("does not match schema %q", err.SchemaField)
	}
	return fmt.Sprintf("at %q: %s (value %s)", "/"+strings.Join(err.JSONPointer(), "/"), reason, value)
}

// ValidateRequest checks method, path, parameters and body of a request.
// body is the full request body for JSON; for multipart/form-data it may be
// nil or only the beginning of the body: the content type is checked, and
// the names of the form fields whose headers are in body.
func (v *Validator) ValidateRequest(req *http.Request, body []byte) error {
	route, params, err := v.route(req)
	if err != nil {
		return err
	}
	opts := v.options()
	mt, mtParams, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	var multipartErr error
	if strings.HasPrefix(mt, "multipart/") {
		// Uploads are snapshots of any size: never buffered, so validated by
		// content type and field names only.
		opts.ExcludeRequestBody = true
		multipartErr = v.checkMultipart(route, mt, mtParams, body)
	}
	clone := req.Clone(req.Context())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	clone.GetBody = nil
	clone.ContentLength = int64(len(body))
	input := &openapi3filter.RequestValidationInput{
		Request:    clone,
		PathParams: params,
		Route:      route,
		Options:    opts,
	}
	err = openapi3filter.ValidateRequest(context.Background(), input)
	if err = errors.Join(err, multipartErr); err != nil {
		return fmt.Errorf("openapi %s: request %s %s (%s): %w", v.c.spec, req.Method, req.URL.Path, route.Operation.OperationID, err)
	}
	return nil
}

func (v *Validator) checkMultipart(route *routers.Route, mt string, params map[string]string, prefix []byte) error {
	rb := route.Operation.RequestBody
	if rb == nil || rb.Value == nil {
		return errors.New("operation takes no request body")
	}
	media := rb.Value.Content.Get(mt)
	if media == nil {
		return fmt.Errorf("request Content-Type %q not documented", mt)
	}
	boundary := params["boundary"]
	if boundary == "" {
		return errors.New("multipart request without boundary")
	}
	if len(prefix) == 0 || media.Schema == nil || media.Schema.Value == nil {
		return nil
	}
	props := media.Schema.Value.Properties
	mr := multipart.NewReader(bytes.NewReader(prefix), boundary)
	for {
		part, err := mr.NextPart()
		if err != nil {
			// The prefix ends somewhere inside the body: every part header it
			// held completely has been checked.
			return nil
		}
		name := part.FormName()
		if _, ok := props[name]; !ok {
			return fmt.Errorf("multipart field %q not documented (documented: %s)", name, strings.Join(slices.Sorted(maps.Keys(props)), ", "))
		}
	}
}

// ValidateResponse checks a response against the operation of its request.
// For application/octet-stream responses (snapshot downloads, possibly many
// GiB) only status, headers and content type are checked and body is
// ignored; otherwise body is the whole response body.
func (v *Validator) ValidateResponse(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := v.route(req)
	if err != nil {
		return err
	}
	if err := v.validateResponse(req, route, params, status, header, body); err != nil {
		return fmt.Errorf("openapi %s: response %d to %s %s (%s): %w", v.c.spec, status, req.Method, req.URL.Path, route.Operation.OperationID, err)
	}
	return nil
}

func (v *Validator) validateResponse(req *http.Request, route *routers.Route, params map[string]string, status int, header http.Header, body []byte) error {
	ct := header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	responses := route.Operation.Responses

	// Qdrant's authentication middleware answers before any route with a
	// plain-text 401 ("Must provide an API key ..."), which the documents,
	// describing 4XX as a JSON ErrorResponse, do not cover.
	if status == http.StatusUnauthorized && mt == mediaText {
		return nil
	}

	binary := false
	if ok := responses.Status(http.StatusOK); ok != nil && ok.Value != nil {
		binary = ok.Value.Content.Get(mediaBinary) != nil
	}
	if binary {
		// Stored snapshot downloads are served as static files with HTTP
		// range support (RFC 9110), which the documents do not enumerate:
		// 206 carries a part of the documented 200 body, 416 refuses a range.
		switch status {
		case http.StatusPartialContent:
			if mt != mediaBinary {
				return fmt.Errorf("partial content with Content-Type %q, want %s", ct, mediaBinary)
			}
			return nil
		case http.StatusRequestedRangeNotSatisfiable:
			return nil
		}
	}

	ref := responses.Status(status)
	if ref == nil {
		ref = responses.Default()
	}
	if ref == nil {
		if v.isGenericError(status, mt, body) {
			return nil
		}
		return ErrUndocumentedStatus
	}
	if mt == mediaBinary {
		if ref.Value == nil || ref.Value.Content.Get(ct) == nil {
			return fmt.Errorf("Content-Type %q not documented for status %d", ct, status)
		}
		return nil
	}

	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      route,
		},
		Status:  status,
		Header:  header,
		Options: v.options(),
	}
	input.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), input)
}

// isGenericError tells whether a response is Qdrant's error envelope
// {"status":{"error":"..."},"time":...}, which every route can answer
// (the document's ErrorResponse), even where an operation lists no error.
func (v *Validator) isGenericError(status int, mt string, body []byte) bool {
	if status < 400 || mt != mediaJSON {
		return false
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return false
	}
	if err := v.c.errorSchema.VisitJSON(value, openapi3.VisitAsResponse()); err != nil {
		return false
	}
	var envelope struct {
		Status struct {
			Error *string `json:"error"`
		} `json:"status"`
	}
	return json.Unmarshal(body, &envelope) == nil && envelope.Status.Error != nil
}
