#include "control/registrar/registrar.h"

#include <osipparser2/osip_message.h>
#include <osipparser2/osip_port.h>

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "control/nat/nat_detector.h"
#include "control/registrar/keepalive_interval.h"
#include "control/sip/sip_response.h"

namespace rtplatch {
namespace {

std::string HttpDate(int64_t now) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::FromUnixSeconds(now),
                          absl::UTCTimeZone());
}

// Authorization or Proxy-Authorization values (oSIP2 parses them into its
// own lists, not "other" headers), serialised back to text.
std::vector<std::string> CredentialValues(const osip_list_t& list) {
  std::vector<std::string> out;
  const int n = osip_list_size(&list);
  for (int i = 0; i < n; ++i) {
    auto* a = static_cast<const osip_authorization_t*>(osip_list_get(&list, i));
    // One oSIP2 cannot print (e.g. a parameter without a value) stays in
    // the list as "", which ParseDigestCredentials refuses: 400, not a
    // silent re-challenge.
    out.push_back(OsipToString(osip_authorization_to_str, a).value_or(""));
  }
  return out;
}

std::string ContactLine(const Binding& b, int64_t now) {
  return absl::StrCat("Contact: <", b.contact_uri, ">;expires=",
                      std::max<int64_t>(0, b.expires_at - now));
}

// The binding of `current` for `contact_uri` that is live at `now` (the
// last one, should the list hold two), or nullptr.
const Binding* LiveBindingFor(const std::vector<Binding>& current, absl::string_view contact_uri,
                              int64_t now) {
  const Binding* found = nullptr;
  for (const Binding& b : current) {
    if (b.contact_uri == contact_uri && b.expires_at > now) found = &b;
  }
  return found;
}

bool KeepaliveTargetDiffers(const Binding& a, const Binding& b) {
  return a.keepalive_interval_ms != b.keepalive_interval_ms ||
         a.keepalive_learning != b.keepalive_learning || !(a.source == b.source) ||
         !(a.local_socket == b.local_socket) || a.transport != b.transport;
}

}  // namespace

absl::string_view BindingChangeKindName(BindingChange::Kind kind) {
  switch (kind) {
    case BindingChange::Kind::kAdded: return "added";
    case BindingChange::Kind::kRefreshed: return "refreshed";
    case BindingChange::Kind::kRemoved: return "removed";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<Registrar>> Registrar::Create(
    RegistrarConfig config, const CredentialSource& users, BindingStore* store,
    const InsidePrefixes& inside, const NatPolicyTable& policies) {
  config.domain = absl::AsciiStrToLower(config.domain);
  if (config.domain.empty()) return absl::InvalidArgumentError("registrar: domain is empty");
  if (config.min_expires == 0 || config.min_expires > config.max_expires) {
    return absl::InvalidArgumentError(absl::StrCat(
        "registrar: need 0 < min_expires (", config.min_expires, ") <= max_expires (",
        config.max_expires, ")"));
  }
  if (config.max_expires_natted < config.min_expires ||
      config.max_expires_natted > config.max_expires) {
    return absl::InvalidArgumentError(absl::StrCat(
        "registrar: max_expires_natted (", config.max_expires_natted,
        ") must be within [min_expires, max_expires]"));
  }
  if (config.default_expires < config.min_expires) {
    return absl::InvalidArgumentError(absl::StrCat("registrar: default_expires (",
                                                   config.default_expires,
                                                   ") is below min_expires"));
  }
  if (config.keepalive_min_interval_ms == 0) {
    return absl::InvalidArgumentError("registrar: keepalive_min_interval_ms must be > 0");
  }
  if (config.nonce_secret.empty()) {
    absl::StatusOr<std::string> secret = GenerateNonceSecret();
    if (!secret.ok()) return secret.status();
    config.nonce_secret = *std::move(secret);
  }
  DigestAuthOptions auth_options;
  auth_options.realm = config.domain;
  auth_options.secret = config.nonce_secret;
  auth_options.nonce_lifetime = absl::Seconds(config.nonce_lifetime_s);
  absl::StatusOr<std::unique_ptr<DigestAuthenticator>> auth =
      DigestAuthenticator::Create(std::move(auth_options), users);
  if (!auth.ok()) return auth.status();

  std::unique_ptr<Registrar> r(new Registrar(std::move(config), *std::move(auth), users,
                                             store, inside, policies));
  if (store != nullptr) {
    // Everything stored, expired or not (there is no clock here): Lookup
    // skips expired bindings and PruneExpired removes them.
    // A key stored twice (the file edited by hand: the registrar never
    // writes one) keeps its later row; the earlier goes.
    std::vector<BindingRow> stale;
    absl::StatusOr<int64_t> rows = store->RowCountBound();
    if (!rows.ok()) return rows.status();
    r->table_.BeginBulkLoad(static_cast<size_t>(*rows));
    absl::Status loaded = store->LoadEach([&](BindingRow row, const Binding& b) {
      if (const std::optional<BindingRow> held = r->table_.Put(b, row)) stale.push_back(*held);
    });
    r->table_.EndBulkLoad();
    if (!loaded.ok()) return loaded;
    for (const BindingRow row : stale) {
      if (absl::Status s = store->Remove(row); !s.ok()) return s;
    }
  }
  return r;
}

Registrar::Registrar(RegistrarConfig config, std::unique_ptr<DigestAuthenticator> auth,
                     const CredentialSource& users, BindingStore* store,
                     const InsidePrefixes& inside, const NatPolicyTable& policies)
    : config_(std::move(config)),
      auth_(std::move(auth)),
      users_(users),
      store_(store),
      inside_(inside),
      policies_(policies) {}

RegisterResult Registrar::Finish(const SipMessage& request, const Endpoint& source,
                                 RegisterResult result) const {
  // The proxy has usually stamped the request already; copy it only if not.
  const std::optional<absl::string_view> rport = request.top_via_param("rport");
  const std::optional<absl::string_view> received = request.top_via_param("received");
  const bool stamped = rport && received && *rport == absl::StrCat(source.port) &&
                       *received == source.ip.ToString();
  std::optional<SipMessage> copy;
  if (!stamped) {
    absl::StatusOr<SipMessage> c = request.Clone();
    if (!c.ok() || !c->ApplyReceivedAndRport(source, /*force_rport=*/true).ok()) return result;
    copy.emplace(*std::move(c));
  }
  auto out = BuildResponse(copy ? *copy : request, result.status_code, result.reason,
                           config_.server_header, result.headers);
  if (out.ok()) result.response = *std::move(out);
  return result;
}

RegisterResult Registrar::Refuse(const SipMessage& request, const Endpoint& source, int code,
                                 absl::string_view reason, std::string error,
                                 std::vector<std::string> headers) const {
  RegisterResult r;
  r.status_code = code;
  r.reason = std::string(reason);
  r.headers = std::move(headers);
  if (!error.empty()) {
    r.headers.push_back(WarningHeader(error));
  }
  r.error = std::move(error);
  return Finish(request, source, std::move(r));
}

RegisterResult Registrar::Challenge(const SipMessage& request, const Endpoint& source,
                                    absl::string_view user, bool stale, std::string error,
                                    int64_t now) {
  std::vector<std::string> headers = ChallengeHeaders("WWW-Authenticate", user, stale, now);
  // A failed attempt says why (a phone's log then shows "wrong password"
  // or "nonce replayed" instead of an endless challenge loop).
  if (error != "no credentials") headers.push_back(WarningHeader(error));
  RegisterResult r;
  r.status_code = 401;
  r.reason = "Unauthorized";
  r.headers = std::move(headers);
  r.error = std::move(error);
  return Finish(request, source, std::move(r));
}

std::vector<std::string> Registrar::ChallengeHeaders(absl::string_view header,
                                                     absl::string_view user, bool stale,
                                                     int64_t now) {
  // Offer only what the user's stored secret can answer (an MD5-only HA1
  // cannot answer SHA-256); unknown users get both, so probing for
  // usernames learns nothing.
  std::vector<DigestAlgorithm> algorithms;
  if (const std::optional<UserCredential> cred = users_.Find(user, config_.domain)) {
    for (DigestAlgorithm a : {DigestAlgorithm::kSha256, DigestAlgorithm::kMd5}) {
      if (cred->Supports(a)) algorithms.push_back(a);
    }
  }
  if (algorithms.empty()) algorithms = {DigestAlgorithm::kSha256, DigestAlgorithm::kMd5};
  std::vector<std::string> headers;
  for (std::string& c : auth_->Challenges(absl::FromUnixSeconds(now), stale, algorithms)) {
    headers.push_back(absl::StrCat(header, ": ", c));
  }
  return headers;
}

Registrar::DigestVerdict Registrar::CheckDigest(const SipMessage& request, bool proxy,
                                                absl::string_view user,
                                                absl::string_view domain, int64_t now) {
  const osip_message& m = request.osip();
  const absl::string_view header = proxy ? "Proxy-Authorization" : "Authorization";
  std::optional<DigestCredentials> credentials;
  for (std::string& value : CredentialValues(proxy ? m.proxy_authorizations : m.authorizations)) {
    absl::StatusOr<DigestCredentials> creds = ParseDigestCredentials(value);
    if (!creds.ok()) {
      return {DigestVerdict::kBadRequest, false,
              absl::StrCat("bad ", header, ": ", creds.status().message())};
    }
    if (absl::EqualsIgnoreCase(creds->realm, config_.domain)) {
      credentials = *std::move(creds);
      break;
    }
  }
  if (!credentials) return {DigestVerdict::kChallenge, false, "no credentials"};
  absl::StatusOr<AuthenticatedUser> who =
      auth_->VerifyParsedFor(user, domain, *credentials, request.method(),
                             request.request_uri(), absl::FromUnixSeconds(now));
  if (who.ok()) return {DigestVerdict::kOk, false, ""};
  std::string why(who.status().message());
  switch (who.status().code()) {
    case absl::StatusCode::kInvalidArgument:
      return {DigestVerdict::kBadRequest, false, std::move(why)};
    case absl::StatusCode::kDeadlineExceeded:
      return {DigestVerdict::kChallenge, true, std::move(why)};
    case absl::StatusCode::kPermissionDenied:
      return {DigestVerdict::kForbidden, false, std::move(why)};
    default:
      return {DigestVerdict::kChallenge, false, std::move(why), /*failed=*/true};
  }
}

AuthCheck Registrar::AuthorizeRequest(const SipMessage& request, int64_t now) {
  const SipNameAddr from = request.from();
  DigestVerdict v = CheckDigest(request, /*proxy=*/true, from.user,
                                absl::AsciiStrToLower(from.host), now);
  AuthCheck r;
  r.error = std::move(v.error);
  switch (v.kind) {
    case DigestVerdict::kOk:
      r.authorized = true;
      r.status_code = 0;
      break;
    case DigestVerdict::kBadRequest:
      r.status_code = 400;
      r.reason = "Bad Request";
      break;
    case DigestVerdict::kForbidden:
      r.status_code = 403;
      r.reason = "Forbidden";
      break;
    case DigestVerdict::kChallenge:
      r.status_code = 407;
      r.reason = "Proxy Authentication Required";
      r.headers = ChallengeHeaders("Proxy-Authenticate", from.user, v.stale, now);
      r.auth_failed = v.failed;
      break;
  }
  return r;
}

// What one REGISTER is about, read once.
struct Registrar::RegisterContext {
  const SipMessage& request;
  const Endpoint& source;
  Binding::Transport transport;
  const Endpoint& local_socket;
  int64_t now;
  std::string aor;
  const std::vector<Binding>& current;  // the AOR's bindings before it
  std::string user_agent;
  NatDecision decision;
  std::vector<std::string> nat_reasons;
  std::string call_id;
  uint32_t cseq;

  bool Live(const Binding& b) const { return b.expires_at > now; }
  // §10.3 step 7: for an existing binding with the same Call-ID, a CSeq
  // that is not higher aborts the update ("the update MUST be aborted and
  // the request fails"). The RFC names no status code; like most
  // registrars we answer 500, without Retry-After (the same CSeq would
  // fail again; the phone must send a new request).
  std::optional<Refusal> OutOfOrder(const Binding& b) const {
    if (!Live(b) || b.call_id != call_id || cseq > b.cseq) return std::nullopt;
    return Refusal{500, "Server Internal Error",
                   absl::StrCat("CSeq ", cseq, " is not higher than ", b.cseq, " for Call-ID ",
                                call_id),
                   {}};
  }
  const Binding* LiveBinding(absl::string_view contact_uri) const {
    return LiveBindingFor(current, contact_uri, now);
  }
};

std::vector<BindingChange> DiffBindings(const std::vector<Binding>& current,
                                        const RegisterPlan& plan, int64_t now) {
  std::vector<BindingChange> changes;
  for (const Binding& b : plan.upserts) {
    const Binding* existing = LiveBindingFor(current, b.contact_uri, now);
    // Another node's binding taken over here is new to this node: its
    // keepalive target is installed here for the first time.
    if (existing != nullptr && existing->node.empty()) {
      changes.push_back({BindingChange::Kind::kRefreshed, b,
                         KeepaliveTargetDiffers(*existing, b), *existing});
    } else {
      changes.push_back({BindingChange::Kind::kAdded, b, false, {}});
    }
  }
  for (const std::string& uri : plan.removed) {
    for (const Binding& o : current) {
      if (o.contact_uri == uri && o.expires_at > now) {
        changes.push_back({BindingChange::Kind::kRemoved, o, false, {}});
      }
    }
  }
  return changes;
}

RegisterResult Registrar::HandleRegister(const SipMessage& request, const Endpoint& source,
                                         Binding::Transport transport,
                                         const Endpoint& local_socket, int64_t now) {
  if (!request.is_request() || request.method() != "REGISTER") {
    return Refuse(request, source, 405, "Method Not Allowed",
                  absl::StrCat(request.method(), " is not REGISTER"), {"Allow: REGISTER"});
  }
  // ---- 1. whose bindings (RFC 3261 §10.3 steps 1, 4, 5) ----
  const SipNameAddr to = request.to();
  const std::string domain = absl::AsciiStrToLower(to.host);
  if (domain != config_.domain) {
    return Refuse(request, source, 404, "Not Found",
                  absl::StrCat("domain ", to.host, " is not served here"));
  }
  if (to.user.empty()) return Refuse(request, source, 404, "Not Found", "To URI has no user");

  // ---- 2. digest (§10.3 step 3, §22) ----
  if (config_.require_auth) {
    if (std::optional<RegisterResult> refused = Authenticate(request, source, to.user, domain, now)) {
      return *std::move(refused);
    }
  }

  // ---- 3. NAT (design.md rule 1) for the whole request ----
  const std::string aor = absl::StrCat(to.user, "@", domain);
  const std::vector<Binding> current = table_.Get(aor);
  std::string user_agent = request.user_agent();
  const NatVerdict verdict = DetectNat(request, source, inside_);
  NatDecision decision = policies_.Decide(user_agent, verdict);
  std::vector<std::string> nat_reasons;
  for (absl::string_view n : verdict.reasons.Names()) nat_reasons.emplace_back(n);
  const RegisterContext ctx{request,
                            source,
                            transport,
                            local_socket,
                            now,
                            aor,
                            current,
                            std::move(user_agent),
                            std::move(decision),
                            std::move(nat_reasons),
                            request.call_id(),
                            request.cseq_number()};

  // ---- 4. contacts and expires (§10.3 steps 6, 7): read-only until the
  // request is known to succeed, so a refused request leaves no trace ----
  const std::vector<SipContact> contacts = request.contacts();
  const bool star = std::any_of(contacts.begin(), contacts.end(),
                                [](const SipContact& c) { return c.star; });
  RegisterPlan plan;
  std::optional<Refusal> refused =
      star ? PlanRemoveAll(ctx, contacts, plan) : PlanContacts(ctx, contacts, plan);
  if (refused) {
    return Refuse(request, source, refused->code, refused->reason, std::move(refused->error),
                  std::move(refused->headers));
  }
  std::vector<BindingChange> changes = DiffBindings(ctx.current, plan, now);

  // ---- 5. persist, then apply ----
  if (absl::Status s = Commit(aor, std::move(plan), changes); !s.ok()) {
    // The store's writer is too far behind (binding_writer.h): the phone
    // comes back later, as from any overloaded server.
    if (absl::IsUnavailable(s)) {
      return Refuse(request, source, 503, "Service Unavailable",
                    absl::StrCat("binding store: ", s.message()), {"Retry-After: 5"});
    }
    return Refuse(request, source, 500, "Server Internal Error",
                  absl::StrCat("binding store: ", s.message()));
  }

  Replicate(changes);

  // ---- 6. 200 with every current binding (§10.3 step 8) ----
  RegisterResult r;
  r.status_code = 200;
  r.reason = "OK";
  for (const Binding& b : Lookup(aor, now)) r.headers.push_back(ContactLine(b, now));
  OutboundHeaders(request, contacts, transport, r.headers);
  r.headers.push_back(DateHeader(now));
  r.changes = std::move(changes);
  return Finish(request, source, std::move(r));
}

void Registrar::OutboundHeaders(const SipMessage& request, const std::vector<SipContact>& contacts,
                                Binding::Transport transport, std::vector<std::string>& headers) {
  // RFC 5626 6: a registrar that keeps outbound flows says so with
  // Require: outbound when the UA supports it and registered a flow.
  bool supported = false;
  for (const std::string& v : request.header_values("Supported")) {
    for (absl::string_view tag : absl::StrSplit(v, ',')) {
      supported |= absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(tag), "outbound");
    }
  }
  const bool flow = std::any_of(contacts.begin(), contacts.end(),
                                [](const SipContact& c) { return c.outbound_flow; });
  if (!supported || !flow) return;
  headers.push_back("Require: outbound");
  // A TCP or TLS flow is kept open by the phone's CRLFCRLF pings, at this
  // interval (RFC 5626 4.4.1); a UDP flow's NAT mapping is the dataplane's
  // keepalives' job.
  if (transport == Binding::Transport::kTcp || transport == Binding::Transport::kTls) {
    headers.push_back(absl::StrCat("Flow-Timer: ", kFlowTimerS));
  }
}

std::optional<RegisterResult> Registrar::Authenticate(const SipMessage& request,
                                                      const Endpoint& source,
                                                      absl::string_view user,
                                                      absl::string_view domain, int64_t now) {
  DigestVerdict v = CheckDigest(request, /*proxy=*/false, user, domain, now);
  switch (v.kind) {
    case DigestVerdict::kOk:
      return std::nullopt;
    case DigestVerdict::kBadRequest:
      return Refuse(request, source, 400, "Bad Request", std::move(v.error));
    case DigestVerdict::kForbidden:
      return Refuse(request, source, 403, "Forbidden", std::move(v.error));
    case DigestVerdict::kChallenge:
      break;
  }
  RegisterResult r = Challenge(request, source, user, v.stale, std::move(v.error), now);
  r.auth_failed = v.failed;
  return r;
}

std::optional<Registrar::Refusal> Registrar::PlanRemoveAll(const RegisterContext& ctx,
                                                           const std::vector<SipContact>& contacts,
                                                           RegisterPlan& plan) const {
  // §10.3 step 6: `*` only alone and with Expires: 0.
  if (contacts.size() != 1) {
    return Refusal{400, "Bad Request", "Contact: * must be the only Contact", {}};
  }
  if (ctx.request.expires() != std::optional<uint32_t>(0)) {
    return Refusal{400, "Bad Request", "Contact: * needs Expires: 0", {}};
  }
  for (const Binding& b : ctx.current) {
    if (std::optional<Refusal> refused = ctx.OutOfOrder(b)) return refused;
  }
  for (const Binding& b : ctx.current) {
    if (ctx.Live(b)) plan.removed.push_back(b.contact_uri);
  }
  return std::nullopt;
}

std::optional<Registrar::Refusal> Registrar::PlanContacts(const RegisterContext& ctx,
                                                          const std::vector<SipContact>& contacts,
                                                          RegisterPlan& plan) const {
  const uint32_t max = ctx.decision.natted ? config_.max_expires_natted : config_.max_expires;
  for (const SipContact& c : contacts) {
    uint32_t expires =
        c.expires ? *c.expires : ctx.request.expires().value_or(config_.default_expires);
    if (expires != 0 && expires < config_.min_expires) {
      // §10.3 step 7: 423 with Min-Expires; the whole request fails.
      return Refusal{423, "Interval Too Brief",
                     absl::StrCat("expires ", expires, " for ", c.uri, " is below ",
                                  config_.min_expires),
                     {absl::StrCat("Min-Expires: ", config_.min_expires)}};
    }
    expires = std::min(expires, max);
    // A Contact listed twice: the last one wins.
    std::erase_if(plan.upserts, [&](const Binding& b) { return b.contact_uri == c.uri; });
    std::erase(plan.removed, c.uri);

    const Binding* existing = ctx.LiveBinding(c.uri);
    if (existing != nullptr) {
      if (std::optional<Refusal> refused = ctx.OutOfOrder(*existing)) return refused;
    }
    if (expires == 0) {
      if (existing != nullptr) plan.removed.push_back(c.uri);
      continue;
    }
    plan.upserts.push_back(NewBinding(ctx, c.uri, expires, existing));
  }
  return std::nullopt;
}

Binding Registrar::NewBinding(const RegisterContext& ctx, const std::string& contact_uri,
                              uint32_t expires, const Binding* existing) const {
  Binding b;
  b.aor = ctx.aor;
  b.contact_uri = contact_uri;
  b.expires_at = ctx.now + expires;
  b.call_id = ctx.call_id;
  b.cseq = ctx.cseq;
  b.user_agent = ctx.user_agent;
  b.source = ctx.source;
  b.transport = ctx.transport;
  b.local_socket = ctx.local_socket;
  b.behind_nat = ctx.decision.natted;
  b.nat_reasons = ctx.nat_reasons;
  // ---- keepalive: design.md rule 5, adaptive interval ----
  // The binding this one continues: the same Contact, else (a phone whose
  // Contact follows its mapping) one from the same Call-ID.
  const Binding* previous = existing;
  if (previous == nullptr) {
    for (const Binding& o : ctx.current) {
      if (ctx.Live(o) && o.call_id == ctx.call_id) previous = &o;
    }
  }
  KeepaliveInterval k = KeepaliveIntervalFor({
      .decision = ctx.decision,
      .previous = previous,
      .source = ctx.source,
      .transport = ctx.transport,
      .initial_interval_ms = config_.keepalive_initial_interval_ms != 0
                                 ? config_.keepalive_initial_interval_ms
                                 : ctx.decision.keepalive_interval_s * 1000u,
      .floor_ms = config_.keepalive_min_interval_ms,
  });
  b.keepalive_interval_ms = k.interval_ms;
  b.keepalive_reason = std::move(k.reason);
  b.keepalive_learning = k.learning;
  if (b.keepalive_learning) {
    const uint32_t cap = std::max(config_.max_expires_learning, config_.min_expires);
    b.expires_at = ctx.now + std::min(expires, cap);
  }
  return b;
}

absl::Status Registrar::Commit(const std::string& aor, RegisterPlan plan,
                              const std::vector<BindingChange>& changes) {
  if (plan.upserts.empty() && plan.removed.empty()) return absl::OkStatus();
  // Each upsert's row: the one it has, 0 for a new binding (the store
  // appends it).
  std::vector<BindingRow> rows(plan.upserts.size(), 0);
  if (store_ != nullptr) {
    std::vector<BindingRow> removed;
    for (const std::string& uri : plan.removed) {
      if (const std::optional<BindingRow> row = table_.RowOf(aor, uri)) removed.push_back(*row);
    }
    // A plain refresh goes to the store's refresh log, not over its row
    // (refresh_log.h: its cost would grow with the table).
    absl::InlinedVector<bool, 4> refresh_only(rows.size(), false);
    for (size_t i = 0; i < rows.size(); ++i) {
      const Binding& b = plan.upserts[i];
      rows[i] = table_.RowOf(aor, b.contact_uri).value_or(0);
      for (const BindingChange& c : changes) {
        if (c.kind == BindingChange::Kind::kRefreshed && c.binding.contact_uri == b.contact_uri &&
            OnlyRefreshMoved(c.previous, b)) {
          refresh_only[i] = true;
        }
      }
    }
    if (absl::Status s = store_->ApplyRegister(removed, plan.upserts, absl::MakeSpan(rows),
                                               absl::MakeConstSpan(refresh_only));
        !s.ok()) {
      return s;
    }
  }
  for (const std::string& uri : plan.removed) table_.Remove(aor, uri);
  for (size_t i = 0; i < rows.size(); ++i) table_.Put(plan.upserts[i], rows[i]);
  return absl::OkStatus();
}

void Registrar::Replicate(const std::vector<BindingChange>& changes) const {
  if (replica_ == nullptr) return;
  for (const BindingChange& c : changes) {
    switch (c.kind) {
      case BindingChange::Kind::kAdded:
        replica_->Put(c.binding, /*urgent=*/true);
        break;
      case BindingChange::Kind::kRefreshed:
        // keepalive_changed: the source, socket, transport or interval
        // moved: at once. A plain refresh goes as its expiry alone.
        if (!c.keepalive_changed && OnlyRefreshMoved(c.previous, c.binding)) {
          replica_->Refresh(c.binding);
        } else {
          replica_->Put(c.binding, /*urgent=*/c.keepalive_changed);
        }
        break;
      case BindingChange::Kind::kRemoved:
        // Another node's binding removed here (Contact: * or expires=0
        // sent to this node) goes for its owner too.
        replica_->Remove(c.binding);
        break;
    }
  }
}

std::optional<BindingChange> Registrar::ApplyRemote(const Binding& binding) {
  std::optional<Binding> held = table_.Find(binding.aor, binding.contact_uri);
  const std::optional<BindingRow> row = table_.Put(binding, 0);
  if (!held || !held->node.empty()) return std::nullopt;
  // The phone registered with another node since: this node's row and
  // keepalive go (its owner keeps both now).
  if (store_ != nullptr && row && *row != 0) (void)store_->Remove(*row);
  return BindingChange{BindingChange::Kind::kRemoved, *std::move(held), false, {}};
}

std::optional<BindingChange> Registrar::Adopt(absl::string_view aor,
                                              absl::string_view contact_uri, int64_t now) {
  std::optional<Binding> held = table_.Find(aor, contact_uri);
  if (!held || held->node.empty() || held->expires_at <= now) return std::nullopt;
  held->node.clear();
  BindingRow row = 0;
  if (store_ != nullptr &&
      !store_->ApplyRegister({}, absl::MakeConstSpan(&*held, 1), absl::MakeSpan(&row, 1)).ok()) {
    return std::nullopt;
  }
  table_.Put(*held, row);
  std::vector<BindingChange> changes{{BindingChange::Kind::kAdded, *std::move(held), false, {}}};
  Replicate(changes);
  return std::move(changes.front());
}

bool Registrar::RemoveRemote(absl::string_view aor, absl::string_view contact_uri,
                             absl::string_view node) {
  const std::optional<Binding> held = table_.Find(aor, contact_uri);
  if (!held || held->node.empty() || held->node != node) return false;
  return table_.Remove(aor, contact_uri);
}

bool Registrar::RefreshRemote(absl::string_view aor, absl::string_view contact_uri,
                              absl::string_view node, int64_t expires_at, uint32_t cseq,
                              absl::string_view call_id) {
  std::optional<Binding> held = table_.Find(aor, contact_uri);
  if (!held || held->node.empty() || (!node.empty() && held->node != node)) return false;
  held->expires_at = expires_at;
  held->cseq = cseq;
  held->call_id = std::string(call_id);
  table_.Put(*held, 0);
  return true;
}

std::vector<Binding> Registrar::Page(size_t offset, size_t limit, int64_t now) const {
  std::vector<Binding> out;
  table_.ForEachAor("", [&](absl::string_view aor) {
    for (Binding& b : Lookup(aor, now)) {
      if (offset > 0) {
        --offset;
      } else if (out.size() < limit) {
        out.push_back(std::move(b));
      }
    }
    return out.size() < limit;
  });
  return out;
}

const std::string& Registrar::DateHeader(int64_t now) {
  if (now != date_second_) {  // one Date per second, not a FormatTime per 200
    date_second_ = now;
    date_header_ = absl::StrCat("Date: ", HttpDate(now));
  }
  return date_header_;
}

std::vector<Binding> Registrar::Lookup(absl::string_view aor, int64_t now) const {
  std::vector<Binding> out = table_.Get(aor);
  std::erase_if(out, [now](const Binding& b) { return b.expires_at <= now; });
  std::sort(out.begin(), out.end(), [](const Binding& a, const Binding& b) {
    if (a.q_milli != b.q_milli) return a.q_milli > b.q_milli;
    if (a.expires_at != b.expires_at) return a.expires_at > b.expires_at;
    return a.contact_uri < b.contact_uri;
  });
  return out;
}

std::string Registrar::ScanLive(absl::string_view after, size_t budget, int64_t now,
                                absl::FunctionRef<void(const Binding&)> fn) const {
  size_t looked = 0;
  std::string last;
  bool stopped = false;
  const auto deadline = std::chrono::steady_clock::now() + kScanSliceTime;
  table_.ForEachAor(after, [&](absl::string_view aor) {
    // At least one AOR a call.
    if (looked > 0 && (looked >= budget || std::chrono::steady_clock::now() >= deadline)) {
      stopped = true;
      return false;
    }
    const std::vector<Binding> live = Lookup(aor, now);
    for (const Binding& b : live) fn(b);
    looked += std::max<size_t>(1, live.size());
    last = std::string(aor);
    return true;
  });
  return stopped ? last : "";
}

std::vector<Binding> Registrar::All(int64_t now) const {
  std::vector<Binding> out;
  ForEachLive(now, [&](const Binding& b) { out.push_back(b); });
  return out;
}

std::vector<Binding> Registrar::Learning(int64_t now) const {
  std::vector<Binding> out = table_.Learning(now);
  std::erase_if(out, [](const Binding& b) { return !b.node.empty(); });
  return out;
}

void Registrar::ForEachLive(int64_t now, absl::FunctionRef<void(const Binding&)> fn) const {
  table_.ForEachOrdered([&](const Binding& b) {
    if (b.expires_at > now) fn(b);
    return true;
  });
}

std::optional<BindingChange> Registrar::SetKeepalive(absl::string_view aor,
                                                     absl::string_view contact_uri,
                                                     uint32_t interval_ms, bool learning,
                                                     std::string reason) {
  std::optional<Binding> b = table_.Find(aor, contact_uri);
  if (!b) return std::nullopt;
  const BindingRow row = table_.RowOf(aor, contact_uri).value_or(0);
  BindingChange change;
  change.kind = BindingChange::Kind::kRefreshed;
  change.previous = *b;
  change.binding = *std::move(b);
  change.binding.keepalive_interval_ms = interval_ms;
  change.binding.keepalive_learning = learning;
  change.binding.keepalive_reason = std::move(reason);
  if (store_ != nullptr && !store_->Update(row, change.binding).ok()) return std::nullopt;
  change.keepalive_changed = interval_ms != change.previous.keepalive_interval_ms ||
                             learning != change.previous.keepalive_learning;
  table_.Put(change.binding, row);
  if (replica_ != nullptr) replica_->Put(change.binding, change.keepalive_changed);
  return change;
}

bool Registrar::RemoveBinding(absl::string_view aor, absl::string_view contact_uri,
                              Binding* removed) {
  const std::optional<BindingRow> row = table_.RowOf(aor, contact_uri);
  if (!row) return false;
  if (store_ != nullptr && *row != 0 && !store_->Remove(*row).ok()) return false;
  Binding gone;
  if (!table_.Remove(aor, contact_uri, &gone)) return false;
  if (replica_ != nullptr) replica_->Remove(gone);
  if (removed != nullptr) *removed = std::move(gone);
  return true;
}

size_t Registrar::PruneExpired(int64_t now, std::vector<Binding>* expired, size_t budget,
                               std::chrono::steady_clock::time_point deadline) {
  std::vector<Binding> taken;
  std::vector<BindingRow> rows;
  size_t n = 0;
  while (n < budget && table_.TakeExpired(now, 1, taken, &rows) == 1) {
    ++n;
    if (std::chrono::steady_clock::now() >= deadline) break;
  }
  for (size_t i = 0; i < n; ++i) {
    // Another node's binding leaves memory only: its owner removes it
    // from the shared store, and it had no keepalive here.
    if (!taken[i].node.empty()) continue;
    // By row, not a scan for expires_at: the store keeps no expiry
    // index. A failure leaves a row that the next restart loads as
    // expired and prunes again.
    if (store_ != nullptr) (void)store_->Remove(rows[i]);
    if (replica_ != nullptr) replica_->Remove(taken[i]);
    if (expired != nullptr) expired->push_back(std::move(taken[i]));
  }
  return n;
}

}  // namespace rtplatch
