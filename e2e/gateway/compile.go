package gateway

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	accesslogcfgv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	headertometadatav3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_to_metadata/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// plan is an Envoy bootstrap compiled into what the in-repo gateway does.
type plan struct {
	node     *corev3.Node
	tls      bool // the listener terminates TLS
	hcm      hcmSettings
	chain    []*httpFilter
	vhosts   []*vhost
	loggers  []ALSConfig
	logHdrs  []logHeaders // parallel to loggers
	clusters map[string]*clusterv3.Cluster
}

type hcmSettings struct {
	useRemoteAddress          bool
	xffHops                   uint32
	skipXFFAppend             bool
	normalizePath             bool
	mergeSlashes              bool
	escapedSlashes            hcmv3.HttpConnectionManager_PathWithEscapedSlashesAction
	underscores               corev3.HttpProtocolOptions_HeadersWithUnderscoresAction
	generateRequestID         bool
	preserveExternalRequestID bool
}

type logHeaders struct{ request, response []string }

type filterKind int

const (
	kindMutation filterKind = iota
	kindHooks               // Options.Filters
	kindFilter              // a Filter built from the config (Wasm, header_to_metadata)
	kindAuthz
	kindRouter
)

type httpFilter struct {
	name     string
	kind     filterKind
	mutation []mutation
	authz    *authzFilter
	filter   Filter // kindFilter
}

// mutation is one compiled header_mutation request mutation.
type mutation struct {
	remove    string
	key       string
	value     *formatter
	action    corev3.HeaderValueOption_HeaderAppendAction
	keepEmpty bool
}

type vhost struct {
	name      string
	domains   []string
	routes    []*route
	perFilter map[string]*anypb.Any
}

type route struct {
	name      string
	prefix    string
	path      string
	headers   []headerMatch
	cluster   string
	timeout   time.Duration
	direct    *routev3.DirectResponseAction
	perFilter map[string]*anypb.Any
	vhost     *vhost
}

// compile turns a validated bootstrap into a plan, refusing what the
// in-repo gateway does not reproduce. opts supplies the Wasm factory.
func compile(b *bootstrapv3.Bootstrap, opts Options) (*plan, error) {
	if err := onlyFields(b, "node", "admin", "static_resources", "layered_runtime", "overload_manager"); err != nil {
		return nil, err
	}
	sr := b.GetStaticResources()
	if err := onlyFields(sr, "listeners", "clusters"); err != nil {
		return nil, err
	}
	if len(sr.GetListeners()) != 1 {
		return nil, fmt.Errorf("want exactly one listener, got %d", len(sr.GetListeners()))
	}
	p := &plan{node: b.GetNode(), clusters: map[string]*clusterv3.Cluster{}}
	for _, c := range sr.GetClusters() {
		p.clusters[c.GetName()] = c
	}

	l := sr.GetListeners()[0]
	if err := onlyFields(l, "name", "address", "listener_filters", "filter_chains"); err != nil {
		return nil, err
	}
	for _, lf := range l.GetListenerFilters() {
		var ti tlsinspectorv3.TlsInspector
		if err := lf.GetTypedConfig().UnmarshalTo(&ti); err != nil {
			return nil, fmt.Errorf("listener filter %s: only tls_inspector is reproduced", lf.GetName())
		}
	}
	if len(l.GetFilterChains()) != 1 {
		return nil, fmt.Errorf("want exactly one filter chain, got %d", len(l.GetFilterChains()))
	}
	fc := l.GetFilterChains()[0]
	if err := onlyFields(fc, "filters", "transport_socket"); err != nil {
		return nil, err
	}
	if ts := fc.GetTransportSocket(); ts != nil {
		var dtc tlsv3.DownstreamTlsContext
		if err := ts.GetTypedConfig().UnmarshalTo(&dtc); err != nil {
			return nil, fmt.Errorf("transport socket %s: only DownstreamTlsContext is reproduced", ts.GetName())
		}
		p.tls = true
	}
	if len(fc.GetFilters()) != 1 {
		return nil, fmt.Errorf("want exactly one network filter (the HTTP connection manager), got %d", len(fc.GetFilters()))
	}
	var hcm hcmv3.HttpConnectionManager
	if err := fc.GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		return nil, fmt.Errorf("network filter %s: only the HTTP connection manager is reproduced", fc.GetFilters()[0].GetName())
	}
	if err := p.compileHCM(&hcm, opts); err != nil {
		return nil, fmt.Errorf("http_connection_manager: %w", err)
	}
	return p, nil
}

func (p *plan) compileHCM(hcm *hcmv3.HttpConnectionManager, opts Options) error {
	// Fields reproduced, or without effect on what a test can observe
	// (stat_prefix, codec_type: both HTTP/1.1 and h2c are served).
	if err := onlyFields(hcm, "stat_prefix", "codec_type", "use_remote_address", "xff_num_trusted_hops", "skip_xff_append",
		"normalize_path", "merge_slashes", "path_with_escaped_slashes_action", "common_http_protocol_options",
		"generate_request_id", "preserve_external_request_id", "access_log", "route_config", "http_filters"); err != nil {
		return err
	}
	if err := onlyFields(hcm.GetCommonHttpProtocolOptions(), "headers_with_underscores_action"); err != nil {
		return err
	}
	p.hcm = hcmSettings{
		useRemoteAddress:          hcm.GetUseRemoteAddress().GetValue(),
		xffHops:                   hcm.GetXffNumTrustedHops(),
		skipXFFAppend:             hcm.GetSkipXffAppend(),
		normalizePath:             hcm.GetNormalizePath().GetValue(),
		mergeSlashes:              hcm.GetMergeSlashes(),
		escapedSlashes:            hcm.GetPathWithEscapedSlashesAction(),
		underscores:               hcm.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction(),
		generateRequestID:         hcm.GetGenerateRequestId() == nil || hcm.GetGenerateRequestId().GetValue(),
		preserveExternalRequestID: hcm.GetPreserveExternalRequestId(),
	}
	for _, al := range hcm.GetAccessLog() {
		if err := p.compileAccessLog(al); err != nil {
			return fmt.Errorf("access_log %s: %w", al.GetName(), err)
		}
	}
	if err := p.compileRoutes(hcm.GetRouteConfig()); err != nil {
		return fmt.Errorf("route_config: %w", err)
	}
	hooked := false
	for i, hf := range hcm.GetHttpFilters() {
		f, err := p.compileFilter(hf, opts)
		if err != nil {
			return fmt.Errorf("http_filters[%d] %s: %w", i, hf.GetName(), err)
		}
		// Options.Filters go just before ext_authz (or the router).
		if !hooked && (f.kind == kindAuthz || f.kind == kindRouter) && len(opts.Filters) > 0 {
			p.chain = append(p.chain, &httpFilter{name: "e2e.filters", kind: kindHooks})
			hooked = true
		}
		p.chain = append(p.chain, f)
	}
	if len(p.chain) == 0 || p.chain[len(p.chain)-1].kind != kindRouter {
		return errors.New("the last HTTP filter must be envoy.filters.http.router")
	}
	return nil
}

func (p *plan) compileAccessLog(al *accesslogcfgv3.AccessLog) error {
	if al.GetFilter() != nil {
		return errors.New("access log filters are not reproduced")
	}
	msg, err := al.GetTypedConfig().UnmarshalNew()
	if err != nil {
		return err
	}
	c, ok := msg.(*alsv3.HttpGrpcAccessLogConfig)
	if !ok {
		// stdout/file loggers print text for operators; nothing in a test
		// depends on them, so they are skipped rather than refused.
		return nil
	}
	cc := c.GetCommonConfig()
	if err := onlyFields(cc, "log_name", "grpc_service", "transport_api_version", "buffer_flush_interval", "buffer_size_bytes"); err != nil {
		return err
	}
	cluster, err := envoyGRPCCluster(cc.GetGrpcService())
	if err != nil {
		return err
	}
	if err := p.needCluster(cluster, true); err != nil {
		return err
	}
	cfg := ALSConfig{LogName: cc.GetLogName(), Node: p.node, Cluster: cluster, FlushInterval: time.Second, BufferSizeBytes: 16384}
	if d := cc.GetBufferFlushInterval(); d != nil {
		cfg.FlushInterval = d.AsDuration()
	}
	if n := cc.GetBufferSizeBytes(); n != nil {
		cfg.BufferSizeBytes = int(n.GetValue())
	}
	p.loggers = append(p.loggers, cfg)
	p.logHdrs = append(p.logHdrs, logHeaders{request: c.GetAdditionalRequestHeadersToLog(), response: c.GetAdditionalResponseHeadersToLog()})
	return nil
}

func (p *plan) compileFilter(hf *hcmv3.HttpFilter, opts Options) (*httpFilter, error) {
	if hf.GetIsOptional() || hf.GetDisabled() {
		return nil, errors.New("optional or disabled filters are not reproduced")
	}
	msg, err := hf.GetTypedConfig().UnmarshalNew()
	if err != nil {
		return nil, err
	}
	f := &httpFilter{name: hf.GetName()}
	switch c := msg.(type) {
	case *headermutationv3.HeaderMutation:
		f.kind = kindMutation
		if err := onlyFields(c, "mutations"); err != nil {
			return nil, err
		}
		if err := onlyFields(c.GetMutations(), "request_mutations"); err != nil {
			return nil, err
		}
		for i, m := range c.GetMutations().GetRequestMutations() {
			cm, err := compileMutation(m.GetRemove(), m.GetAppend())
			if err != nil {
				return nil, fmt.Errorf("request_mutations[%d]: %w", i, err)
			}
			f.mutation = append(f.mutation, cm)
		}
	case *extauthzv3.ExtAuthz:
		f.kind = kindAuthz
		az, err := p.compileAuthz(c)
		if err != nil {
			return nil, err
		}
		f.authz = az
	case *headertometadatav3.Config:
		f.kind = kindFilter
		if f.filter, err = HeaderToMetadata(c); err != nil {
			return nil, err
		}
	case *wasmv3.Wasm:
		f.kind = kindFilter
		if opts.Wasm == nil {
			return nil, errors.New("the config has a Wasm filter: Options.Wasm must provide its host")
		}
		if f.filter, err = opts.Wasm(c); err != nil {
			return nil, fmt.Errorf("wasm: %w", err)
		}
	default:
		if hf.GetTypedConfig().GetTypeUrl() == "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" {
			f.kind = kindRouter
			if err := onlyFields(msg); err != nil {
				return nil, err
			}
			return f, nil
		}
		return nil, fmt.Errorf("%s is not reproduced", hf.GetTypedConfig().GetTypeUrl())
	}
	return f, nil
}

func compileMutation(remove string, app *corev3.HeaderValueOption) (mutation, error) {
	if remove != "" {
		return mutation{remove: strings.ToLower(remove)}, nil
	}
	if app == nil {
		return mutation{}, errors.New("only remove and append are reproduced")
	}
	if err := onlyFields(app, "header", "append_action", "keep_empty_value"); err != nil {
		return mutation{}, err
	}
	f, err := parseFormatter(app.GetHeader().GetValue())
	if err != nil {
		return mutation{}, err
	}
	return mutation{key: strings.ToLower(app.GetHeader().GetKey()), value: f, action: app.GetAppendAction(), keepEmpty: app.GetKeepEmptyValue()}, nil
}

// authzFilter is a compiled ext_authz filter.
type authzFilter struct {
	cluster          string
	timeout          time.Duration
	failureModeAllow bool
	headerAdd        bool
	statusOnError    int
	includeTLS       bool
	validate         bool
	clearRouteCache  bool
	allowedFn        []stringMatcher
	disallowedFn     []stringMatcher
	metadataNS       []string
	enabledMetadata  *matcherv3.MetadataMatcher
}

func (p *plan) compileAuthz(c *extauthzv3.ExtAuthz) (*authzFilter, error) {
	if err := onlyFields(c, "grpc_service", "transport_api_version", "failure_mode_allow", "failure_mode_allow_header_add",
		"status_on_error", "include_tls_session", "validate_mutations", "allowed_headers", "disallowed_headers", "stat_prefix",
		"metadata_context_namespaces", "filter_enabled_metadata", "clear_route_cache"); err != nil {
		return nil, err
	}
	if c.GetTransportApiVersion() != corev3.ApiVersion_V3 {
		return nil, errors.New("transport_api_version must be V3")
	}
	cluster, err := envoyGRPCCluster(c.GetGrpcService())
	if err != nil {
		return nil, err
	}
	if err := p.needCluster(cluster, true); err != nil {
		return nil, err
	}
	az := &authzFilter{
		cluster: cluster, timeout: 200 * time.Millisecond, // Envoy's default
		failureModeAllow: c.GetFailureModeAllow(), headerAdd: c.GetFailureModeAllowHeaderAdd(),
		statusOnError: 403, includeTLS: c.GetIncludeTlsSession(), validate: c.GetValidateMutations(),
		clearRouteCache: c.GetClearRouteCache(), metadataNS: c.GetMetadataContextNamespaces(),
		enabledMetadata: c.GetFilterEnabledMetadata(),
	}
	if d := c.GetGrpcService().GetTimeout(); d != nil {
		az.timeout = d.AsDuration()
	}
	// toErrorCode: a configured status outside 100–511 falls back to 403.
	if code := int(c.GetStatusOnError().GetCode()); code >= 100 && code <= 511 {
		az.statusOnError = code
	}
	for _, m := range c.GetAllowedHeaders().GetPatterns() {
		fn, err := compileStringMatcher(m)
		if err != nil {
			return nil, fmt.Errorf("allowed_headers: %w", err)
		}
		az.allowedFn = append(az.allowedFn, fn)
	}
	for _, m := range c.GetDisallowedHeaders().GetPatterns() {
		fn, err := compileStringMatcher(m)
		if err != nil {
			return nil, fmt.Errorf("disallowed_headers: %w", err)
		}
		az.disallowedFn = append(az.disallowedFn, fn)
	}
	if m := az.enabledMetadata; m != nil {
		if err := onlyFields(m, "filter", "path", "value", "invert"); err != nil {
			return nil, fmt.Errorf("filter_enabled_metadata: %w", err)
		}
	}
	return az, nil
}

func (p *plan) compileRoutes(rc *routev3.RouteConfiguration) error {
	if rc == nil {
		return errors.New("an inline route_config is required (RDS is not reproduced)")
	}
	if err := onlyFields(rc, "name", "virtual_hosts"); err != nil {
		return err
	}
	for _, vh := range rc.GetVirtualHosts() {
		if err := onlyFields(vh, "name", "domains", "routes", "typed_per_filter_config"); err != nil {
			return fmt.Errorf("virtual host %s: %w", vh.GetName(), err)
		}
		v := &vhost{name: vh.GetName(), domains: vh.GetDomains(), perFilter: vh.GetTypedPerFilterConfig()}
		for _, r := range vh.GetRoutes() {
			cr, err := p.compileRoute(r, v)
			if err != nil {
				return fmt.Errorf("route %s: %w", r.GetName(), err)
			}
			v.routes = append(v.routes, cr)
		}
		p.vhosts = append(p.vhosts, v)
	}
	return nil
}

func (p *plan) compileRoute(r *routev3.Route, v *vhost) (*route, error) {
	if err := onlyFields(r, "name", "match", "route", "direct_response", "typed_per_filter_config"); err != nil {
		return nil, err
	}
	m := r.GetMatch()
	if err := onlyFields(m, "prefix", "path", "headers"); err != nil {
		return nil, err
	}
	cr := &route{name: r.GetName(), prefix: m.GetPrefix(), path: m.GetPath(), perFilter: r.GetTypedPerFilterConfig(), vhost: v}
	for _, h := range m.GetHeaders() {
		if err := onlyFields(h, "name", "present_match", "string_match", "invert_match"); err != nil {
			return nil, fmt.Errorf("header matcher %s: %w", h.GetName(), err)
		}
		hm := headerMatch{name: h.GetName(), present: h.GetPresentMatch(), invert: h.GetInvertMatch()}
		if sm := h.GetStringMatch(); sm != nil {
			fn, err := compileStringMatcher(sm)
			if err != nil {
				return nil, err
			}
			hm.value = fn
		}
		cr.headers = append(cr.headers, hm)
	}
	for k, a := range cr.perFilter {
		if k != "envoy.filters.http.ext_authz" {
			return nil, fmt.Errorf("typed_per_filter_config[%s] is not reproduced", k)
		}
		var pr extauthzv3.ExtAuthzPerRoute
		if err := a.UnmarshalTo(&pr); err != nil {
			return nil, err
		}
		if err := onlyFields(pr.GetCheckSettings(), "context_extensions"); err != nil {
			return nil, err
		}
	}
	switch {
	case r.GetRoute() != nil:
		ra := r.GetRoute()
		if err := onlyFields(ra, "cluster", "timeout"); err != nil {
			return nil, err
		}
		cr.cluster = ra.GetCluster()
		cr.timeout = 15 * time.Second // Envoy's default route timeout
		if ra.GetTimeout() != nil {
			cr.timeout = ra.GetTimeout().AsDuration()
		}
		if err := p.needCluster(cr.cluster, false); err != nil {
			return nil, err
		}
	case r.GetDirectResponse() != nil:
		cr.direct = r.GetDirectResponse()
		if b := cr.direct.GetBody(); b != nil && b.GetInlineString() == "" && b.GetInlineBytes() == nil {
			return nil, errors.New("direct_response body: only inline_string/inline_bytes are reproduced")
		}
	default:
		return nil, errors.New("only route and direct_response actions are reproduced")
	}
	return cr, nil
}

// envoyGRPCCluster returns the cluster of an envoy_grpc service, refusing
// Google gRPC, HTTP services and settings the gateway would ignore.
func envoyGRPCCluster(g *corev3.GrpcService) (string, error) {
	if g == nil || g.GetEnvoyGrpc() == nil {
		return "", errors.New("only grpc_service.envoy_grpc is reproduced (no http_service, no google_grpc)")
	}
	if err := onlyFields(g, "envoy_grpc", "timeout"); err != nil {
		return "", err
	}
	if err := onlyFields(g.GetEnvoyGrpc(), "cluster_name"); err != nil {
		return "", err
	}
	return g.GetEnvoyGrpc().GetClusterName(), nil
}

// headerMatch is a compiled route header matcher: value when it has a
// string_match, else presence.
type headerMatch struct {
	name    string
	value   stringMatcher
	present bool
	invert  bool
}

// needCluster checks that a referenced cluster exists; gRPC clusters must
// be configured for HTTP/2 (Envoy-gRPC fails on an HTTP/1.1 cluster).
func (p *plan) needCluster(name string, grpc bool) error {
	c, ok := p.clusters[name]
	if !ok {
		return fmt.Errorf("cluster %q is not defined", name)
	}
	if grpc && !clusterHTTP2(c) {
		return fmt.Errorf("cluster %q carries gRPC but is not configured for HTTP/2", name)
	}
	return nil
}

func clusterHTTP2(c *clusterv3.Cluster) bool {
	a := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
	if a == nil {
		return false
	}
	var po httpv3.HttpProtocolOptions
	if err := a.UnmarshalTo(&po); err != nil {
		return false
	}
	return po.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
}

// onlyFields fails when m has a field set outside allowed: the in-repo
// gateway would otherwise ignore a setting Envoy honours.
func onlyFields(m proto.Message, allowed ...string) error {
	if m == nil {
		return nil
	}
	rm := m.ProtoReflect()
	if !rm.IsValid() {
		return nil
	}
	var extra []string
	rm.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !slices.Contains(allowed, string(fd.Name())) {
			extra = append(extra, string(fd.Name()))
		}
		return true
	})
	if len(extra) > 0 {
		return fmt.Errorf("%s: %s not reproduced by the in-repo gateway", rm.Descriptor().Name(), strings.Join(extra, ", "))
	}
	return nil
}

// stringMatcher is a compiled envoy.type.matcher.v3.StringMatcher.
type stringMatcher func(string) bool

func compileStringMatcher(m *matcherv3.StringMatcher) (stringMatcher, error) {
	fold := func(s string) string { return s }
	if m.GetIgnoreCase() {
		fold = strings.ToLower
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		want := fold(p.Exact)
		return func(s string) bool { return fold(s) == want }, nil
	case *matcherv3.StringMatcher_Prefix:
		want := fold(p.Prefix)
		return func(s string) bool { return strings.HasPrefix(fold(s), want) }, nil
	case *matcherv3.StringMatcher_Suffix:
		want := fold(p.Suffix)
		return func(s string) bool { return strings.HasSuffix(fold(s), want) }, nil
	case *matcherv3.StringMatcher_Contains:
		want := fold(p.Contains)
		return func(s string) bool { return strings.Contains(fold(s), want) }, nil
	case *matcherv3.StringMatcher_SafeRegex:
		// RE2 full match, as Envoy's safe_regex; Go's regexp is RE2.
		re, err := regexp.Compile(`^(?:` + p.SafeRegex.GetRegex() + `)$`)
		if err != nil {
			return nil, fmt.Errorf("safe_regex: %w", err)
		}
		return re.MatchString, nil
	}
	return nil, fmt.Errorf("string matcher %v is not reproduced", m)
}

// eachTyped calls fn on every message of type T packed in an Any below m,
// and re-packs the Any when fn reports a change.
func eachTyped[T proto.Message](m proto.Message, fn func(T) bool) error {
	_, err := rewriteAnys(m.ProtoReflect(), func(msg proto.Message) bool {
		if t, ok := msg.(T); ok {
			return fn(t)
		}
		return false
	})
	return err
}

func rewriteAnys(m protoreflect.Message, fn func(proto.Message) bool) (bool, error) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return false, err
		}
		changed := fn(inner)
		nested, err := rewriteAnys(inner.ProtoReflect(), fn)
		if err != nil {
			return false, err
		}
		if changed || nested {
			if err := a.MarshalFrom(inner); err != nil {
				return false, err
			}
			return true, nil
		}
		return false, nil
	}
	var changed bool
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		visit := func(mv protoreflect.Message) bool {
			c, e := rewriteAnys(mv, fn)
			changed = changed || c
			err = e
			return e == nil
		}
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool { return visit(mv.Message()) })
			}
		case fd.IsList():
			if fd.Message() != nil {
				for i := 0; i < v.List().Len() && err == nil; i++ {
					visit(v.List().Get(i).Message())
				}
			}
		case fd.Message() != nil:
			visit(v.Message())
		}
		return err == nil
	})
	return changed, err
}

// isInternal is Envoy's default internal-address rule (RFC 1918, loopback,
// IPv6 unique-local): requests from such addresses keep their x-envoy-*
// headers and get x-envoy-internal: true.
func isInternal(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || a.IsLoopback()
}
