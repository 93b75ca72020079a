package realplexor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Client publishes to one Realplexor IN line. It is safe for concurrent use
// and reuses its connections, so create one per server and share it.
type Client struct {
	endpoint   string // the IN line's URL
	namespace  string // added to ids, limiters and prefixes (with the login's prefix)
	identifier string // the marker name, IDENTIFIER on the server
	login      string
	password   string
	http       *http.Client
	// err is a bad address or option, returned by every call.
	err error
}

// Option configures a Client.
type Option func(*Client)

// WithNamespace puts every id, limiter and prefix the Client sends under
// ns, and strips ns from the ids in replies, like the PHP class's
// namespace argument. ns is usually a word ending in "_", such as "myapp_".
func WithNamespace(ns string) Option {
	return func(c *Client) { c.namespace = ns }
}

// WithLogin sends the credentials with every request, like the PHP class's
// logon(): the server then accepts only ids starting with "<login>_", so
// the namespace becomes "<login>_" followed by the one set with
// WithNamespace (whatever the order of the options). The login must be
// letters and digits; the password must not contain "@", white space or
// control characters, which the identifier syntax cannot carry.
func WithLogin(login, password string) Option {
	return func(c *Client) { c.login, c.password = login, password }
}

// WithIdentifier sets the marker name for servers configured with another
// IDENTIFIER (the "identifier" option); the default is "identifier".
func WithIdentifier(name string) Option {
	return func(c *Client) { c.identifier = name }
}

// WithHTTPClient makes the Client send its requests with hc. The default
// is a client of its own with keep-alive connection reuse (up to 16 idle
// connections, closed after 60 s idle), a 5 s connect and TLS handshake
// timeout, a 30 s response-header timeout, no proxy (the IN line lives on
// loopback or a private network) and no redirects. Whatever the client,
// each call also ends with its context.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// New returns a Client for the IN line at addr, the base URL of the site
// that carries realplexor_publish, such as "http://127.0.0.1:10010"
// ("127.0.0.1:10010" means the same). An invalid address or option does
// not panic: every call of the Client then returns the error, which wraps
// ErrInvalidArgument.
func New(addr string, opts ...Option) *Client {
	c := &Client{identifier: "identifier"}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		c.http = defaultHTTPClient()
	}
	c.endpoint, c.err = endpointURL(addr)
	if c.err == nil {
		c.err = c.checkOptions()
	}
	if c.login != "" {
		c.namespace = c.login + "_" + c.namespace // R-PHP-2
	}
	return c
}

// Namespace returns the prefix the Client adds to ids: the one given with
// WithNamespace, after "<login>_" when a login is set.
func (c *Client) Namespace() string { return c.namespace }

// CloseIdleConnections closes the connections kept open for reuse.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

func defaultHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       60 * time.Second, // below Caddy's default idle timeout (5 min)
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		// A redirected POST would become a GET elsewhere: report it instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func endpointURL(addr string) (string, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", invalidf("invalid address %q: %v", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", invalidf("invalid address %q: want http://host:port or https://host:port", addr)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	u.Fragment = ""
	return u.String(), nil
}

var (
	idRE       = regexp.MustCompile(`^\w+$`)
	wordsRE    = regexp.MustCompile(`^\w*$`)
	loginRE    = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	cursorRE   = regexp.MustCompile(`^\d+(\.\d+)?$`)
	badPassSet = "@ \t\r\n\f\v"
)

func (c *Client) checkOptions() error {
	if !idRE.MatchString(c.identifier) {
		return invalidf("identifier name must be alphanumeric, %q given", c.identifier)
	}
	if !wordsRE.MatchString(c.namespace) {
		return invalidf("namespace must be alphanumeric, %q given", c.namespace)
	}
	if c.login != "" || c.password != "" {
		if !loginRE.MatchString(c.login) {
			// R-AUTH-2: "_" separates the login from the rest of an id.
			return invalidf("login must be letters and digits, %q given", c.login)
		}
		if c.password == "" || strings.ContainsAny(c.password, badPassSet) || strings.ContainsFunc(c.password, isControl) {
			return invalidf("password of login %q must be non-empty, without @, white space or control characters", c.login)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// userAgent names the client in the server's access logs.
const userAgent = "caddy-realplexor-go-client"

// maxReply bounds a reply body; an online list of a million ids is ~30 MB.
const maxReply = 64 << 20

// post sends one IN request: list after the marker (and credentials) in
// the X-Realplexor header, body as the body. It returns the reply of a 200.
func (c *Client) post(ctx context.Context, list string, body []byte) (http.Header, []byte, error) {
	if c.err != nil {
		return nil, nil, c.err
	}
	marker := c.identifier + "="
	if c.login != "" {
		marker += c.login + ":" + c.password + "@"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("realplexor: %w", err)
	}
	req.Header.Set("X-Realplexor", marker+list)
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("realplexor: %w", err)
	}
	defer resp.Body.Close()
	// The whole body is read, so the connection can be reused.
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return nil, nil, fmt.Errorf("realplexor: reading reply: %w", err)
	}
	if len(reply) > maxReply {
		return nil, nil, fmt.Errorf("%w: reply over %d bytes", ErrMalformedReply, maxReply)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Header, reply, nil
	case http.StatusForbidden:
		msg := strings.TrimRight(string(reply), "\r\n")
		if msg == "" {
			msg = "access denied"
		}
		return nil, nil, &AccessDeniedError{Message: msg}
	default:
		return nil, nil, &ServerError{Status: resp.StatusCode, Reason: reasonOf(resp, reply)}
	}
}

// reasonOf is the short reason of a refused request: the server's
// X-Realplexor-Error header, else the body (the server's refusals carry the
// reason there), else the status text.
func reasonOf(resp *http.Response, body []byte) string {
	if r := resp.Header.Get("X-Realplexor-Error"); r != "" {
		return r
	}
	r := strings.TrimSpace(string(body))
	if len(r) > 512 { // a proxy's error page, say
		r = r[:512] + "…"
	}
	if r == "" {
		r = http.StatusText(resp.StatusCode)
	}
	return r
}

// ErrInvalidArgument is wrapped by the errors of arguments and options
// that the server would refuse or, worse, silently drop.
var ErrInvalidArgument = errors.New("realplexor: invalid argument")

// ErrMalformedReply is wrapped by the errors of replies that cannot be
// parsed: a command reply line that does not have the documented form, or
// a reply too large to read.
var ErrMalformedReply = errors.New("realplexor: malformed reply")

// invalidError is a refused argument; its text matches the PHP class's
// exception messages (lower-cased, as Go errors are).
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return ErrInvalidArgument }

func invalidf(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}

// AccessDeniedError is the server's 403: a login it does not know, a wrong
// password, or no credentials where the users file has no guest entry.
type AccessDeniedError struct {
	// Message is the server's reason, such as "unknown login: x" or
	// "invalid password for login: user".
	Message string
}

func (e *AccessDeniedError) Error() string { return "realplexor: access denied: " + e.Message }

// ServerError is any other reply than 200 or 403.
type ServerError struct {
	Status int    // the HTTP status, such as 400, 413 or 503
	Reason string // the server's reason, such as "body is not valid JSON"
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("realplexor: server replied %d: %s", e.Status, e.Reason)
}
