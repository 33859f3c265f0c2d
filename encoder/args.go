package encoder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// BodyError reports a body that does not parse as the media type its
// content-type header claims. Nothing is published for such a request.
type BodyError struct {
	MediaType string
	Err       error
}

func (e *BodyError) Error() string {
	return fmt.Sprintf("body is not valid %s: %v", e.MediaType, e.Err)
}

func (e *BodyError) Unwrap() error { return e.Err }

// mediaType is a parsed content-type header.
type mediaType struct {
	name     string // lower-case type/subtype, "" when absent
	params   map[string]string
	paramErr error // why the parameters could not be parsed, if they could not
}

// isJSON accepts application/json and the +json structured syntax suffix
// (RFC 6839), e.g. application/cloudevents+json.
func (m mediaType) isJSON() bool {
	return m.name == "application/json" || strings.HasSuffix(m.name, "+json")
}

func contentType(hs []message.Header) mediaType {
	for _, h := range hs {
		if h.Name == "content-type" {
			return parseMediaType(h.Value)
		}
	}
	return mediaType{}
}

// parseMediaType parses a content-type value (a header's, or a CloudEvent's
// datacontenttype).
func parseMediaType(value string) mediaType {
	name, params, err := mime.ParseMediaType(value)
	if err != nil {
		// A malformed parameter should not hide the media type.
		name, _, _ = strings.Cut(value, ";")
		name = strings.ToLower(strings.TrimSpace(name))
	}
	return mediaType{name: name, params: params, paramErr: err}
}

// checkJSON accepts exactly one JSON value, in UTF-8 as RFC 8259 requires.
func checkJSON(body []byte) error {
	if !utf8.Valid(body) {
		return errors.New("not UTF-8")
	}
	if json.Valid(body) {
		return nil
	}
	// Slow path, only to say what is wrong.
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	return errors.New("invalid JSON")
}

// queryArgs parses a query string the way nginx's ngx.req.get_uri_args
// (and so Kong's uri_args) does: repeated names become lists, a name without
// "=" is true. A query string is never a reason to refuse a request Envoy
// already accepted, so a bad %-escape keeps its raw text. The pairs are
// appended to args in query order (appendArgObject groups and sorts them).
func queryArgs(args []arg, query string) []arg {
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if pair == "" {
			continue
		}
		name, value, hasValue := strings.Cut(pair, "=")
		name = latin1IfNotUTF8(unescapeLenient(name))
		if !hasValue {
			args = append(args, arg{name: name, isTrue: true})
			continue
		}
		args = append(args, arg{name: name, value: latin1IfNotUTF8(unescapeLenient(value))})
	}
	return args
}

func unescapeLenient(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// formArgs parses an application/x-www-form-urlencoded body exactly as
// queryArgs parses a query string, leniently: a client sending a literal
// "%" (comment=100%) means it, and nginx's ngx.decode_args (so Kong) keeps
// a bad escape as written too. A form body therefore never fails to parse.
func formArgs(body string) []arg {
	return queryArgs(make([]arg, 0, strings.Count(body, "&")+1), body)
}

// multipartArgs maps each form field's name to its content (lists when
// repeated). Parts whose content is not UTF-8 text (binary files) are left
// out: JSON cannot hold them as strings, and the body itself carries them.
// An empty body is an empty form.
func multipartArgs(body []byte, ct mediaType) ([]arg, error) {
	var args []arg
	if len(body) == 0 {
		return args, nil
	}
	boundary := ct.params["boundary"]
	if ct.paramErr != nil {
		return nil, fmt.Errorf("content-type parameters do not parse (%v), so the boundary is unknown", ct.paramErr)
	}
	if boundary == "" {
		return nil, errors.New("content-type has no boundary parameter")
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			return args, nil
		}
		if err != nil {
			return nil, err
		}
		content, err := io.ReadAll(part)
		if err != nil {
			return nil, err
		}
		name := part.FormName()
		if name == "" || !utf8.Valid(content) {
			continue
		}
		args = append(args, arg{name: name, value: string(content)})
	}
}
