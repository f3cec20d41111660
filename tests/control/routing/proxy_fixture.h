// The fixture of the proxy's tests (proxy_test.cc, peer_routing_test.cc):
// the record-routing proxy (control/routing/proxy.h), wired as
// control_plane.cc wires it: a real Registrar (no digest auth), a real
// DataplaneLink to the FakeDataplane's socket, KeepaliveSync, a real
// SipTransactions whose Sender records what would go on the wire, and the
// Proxy as its listener. Requests enter through SipTransactions::Receive
// with the address they came from, so NAT detection sees the real source.
//
// Addresses (documentation ranges only):
//   192.0.2.0/24       the phones' private LAN (an inside prefix)
//   203.0.113.0/24     NAT public addresses; 203.0.113.1 is the relay
//   198.51.100.1:5060  the proxy; 198.51.100.30 a phone on a public address
//   2001:db8::1        the proxy (IPv6); 2001:db8::2 the relay; ::30 a phone
#pragma once

#include "control/routing/proxy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "control/registrar/users_file.h"
#include "control/sip/sip_message.h"
#include "nlohmann/json.hpp"
#include "tests/control/media/fake_dataplane.h"
#include "tests/control/sip/sip_text.h"

namespace rtplatch {
namespace proxy_fixture {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using testing::Answer;
using testing::FakeDataplane;
using testing::Ok;
using testing::SdpText;
using testing::SipText;

constexpr int64_t kStart = 1'700'000'000;
constexpr SipChannelId kUdpV4 = 4;  // our UDP socket per family
constexpr SipChannelId kUdpV6 = 6;

Endpoint Ep(absl::string_view text) {
  absl::StatusOr<Endpoint> e = Endpoint::Parse(text);
  EXPECT_TRUE(e.ok()) << text;
  return e.ok() ? *e : Endpoint{};
}

const Endpoint kSipV4 = Ep("198.51.100.1:5060");
const Endpoint kSipV6 = Ep("[2001:db8::1]:5060");
constexpr char kRecordRouteV4[] = "<sip:198.51.100.1:5060;lr>";
constexpr char kRecordRouteV6[] = "<sip:[2001:db8::1]:5060;lr>";

// The fake dataplane's relay: pair n's leg a gets port 30000 + 4(n-1), its
// leg b two above, RTCP one above each; on 203.0.113.1 or [2001:db8::2].
uint16_t RelayPort(uint64_t pair, char leg) {
  return static_cast<uint16_t>(30000 + 4 * (pair - 1) + (leg == 'b' ? 2 : 0));
}
std::string RelayHost(bool ipv6) { return ipv6 ? "2001:db8::2" : "203.0.113.1"; }

// A phone: what it says about itself in SIP and SDP, and where its packets
// really come from.
struct Phone {
  std::string user;      // user@example.com
  std::string declared;  // host:port in its Via and Contact
  Endpoint source;       // where its packets arrive from
  std::string media_ip;  // its SDP c= address
  uint16_t media_port;

  bool ipv6() const { return absl::StrContains(media_ip, ':'); }
  std::string tag() const { return absl::StrCat("tag-", user); }
  std::string contact() const { return absl::StrCat("sip:", user, "@", declared); }
  std::string aor_uri() const { return absl::StrCat("sip:", user, "@example.com"); }
};

// Behind a NAT: private Via/Contact/SDP, public source.
const Phone kAlice{"alice", "192.0.2.10:5060", Ep("203.0.113.10:40000"), "192.0.2.10", 4000};
const Phone kBob{"bob", "192.0.2.20:5060", Ep("203.0.113.20:41000"), "192.0.2.20", 5000};
// On a public address: everything it says is where it is.
const Phone kCarol{"carol", "198.51.100.30:5060", Ep("198.51.100.30:5060"), "198.51.100.30",
                   6000};
const Phone kDave{"dave", "[2001:db8::30]:5060", Ep("[2001:db8::30]:5060"), "2001:db8::30",
                  7000};

// ---------------------------------------------------------------------------
// Message text

// An audio offer or answer. `hold_address`: c= 0.0.0.0 (RFC 2543 hold).
std::string Sdp(const Phone& p, int version, absl::string_view direction = "sendrecv",
                bool hold_address = false) {
  const char* family = p.ipv6() ? "IP6" : "IP4";
  const std::string c = hold_address ? (p.ipv6() ? "::" : "0.0.0.0") : p.media_ip;
  return SdpText(absl::StrCat("v=0\n",
                              "o=- 1000 ", version, " IN ", family, " ", p.media_ip, "\n",
                              "s=-\n",
                              "c=IN ", family, " ", c, "\n",
                              "t=0 0\n",
                              "m=audio ", p.media_port, " RTP/AVP 0 101\n",
                              "a=rtpmap:0 PCMU/8000\n",
                              "a=rtpmap:101 telephone-event/8000\n",
                              "a=", direction, "\n"));
}

std::string RegisterText(const Phone& p, int cseq = 1) {
  return SipText(absl::StrCat(
      "REGISTER sip:example.com SIP/2.0\n",
      "Via: SIP/2.0/UDP ", p.declared, ";branch=z9hG4bKreg", p.user, cseq, ";rport\n",
      "Max-Forwards: 70\n",
      "From: <", p.aor_uri(), ">;tag=reg-", p.user, "\n",
      "To: <", p.aor_uri(), ">\n",
      "Call-ID: reg-", p.user, "\n",
      "CSeq: ", cseq, " REGISTER\n",
      "Contact: <", p.contact(), ">\n",
      "Expires: 3600\n",
      "User-Agent: TestPhone/1.0\n"));
}

// What the caller's phone knows of one call.
struct Dialog {
  const Phone* caller;
  const Phone* callee;
  std::string call_id;
  std::string invite_branch;
  // From the 2xx the caller received:
  std::string callee_tag;
  std::string remote_target;       // the callee's Contact
  std::vector<std::string> route;  // the Record-Route, reversed (RFC 3261 12.1.2)
  uint32_t cseq = 1;
};

std::string InviteText(const Dialog& d, absl::string_view sdp) {
  return SipText(absl::StrCat(
      "INVITE ", d.callee->aor_uri(), " SIP/2.0\n",
      "Via: SIP/2.0/UDP ", d.caller->declared, ";branch=", d.invite_branch, ";rport\n",
      "Max-Forwards: 70\n",
      "From: <", d.caller->aor_uri(), ">;tag=", d.caller->tag(), "\n",
      "To: <", d.callee->aor_uri(), ">\n",
      "Call-ID: ", d.call_id, "\n",
      "CSeq: 1 INVITE\n",
      "Contact: <", d.caller->contact(), ">\n",
      "User-Agent: TestPhone/1.0\n",
      "Content-Type: application/sdp\n"), sdp);
}

// CANCEL of the initial INVITE (RFC 3261 9.1: its branch, its CSeq number).
std::string CancelText(const Dialog& d) {
  return SipText(absl::StrCat(
      "CANCEL ", d.callee->aor_uri(), " SIP/2.0\n",
      "Via: SIP/2.0/UDP ", d.caller->declared, ";branch=", d.invite_branch, ";rport\n",
      "Max-Forwards: 70\n",
      "From: <", d.caller->aor_uri(), ">;tag=", d.caller->tag(), "\n",
      "To: <", d.callee->aor_uri(), ">\n",
      "Call-ID: ", d.call_id, "\n",
      "CSeq: 1 CANCEL\n"));
}

// A request the caller sends inside the dialog (ACK, BYE, re-INVITE).
std::string InDialogText(const Dialog& d, absl::string_view method, uint32_t cseq,
                         absl::string_view branch, absl::string_view sdp = "") {
  std::string head = absl::StrCat(
      method, " ", d.remote_target, " SIP/2.0\n",
      "Via: SIP/2.0/UDP ", d.caller->declared, ";branch=", branch, ";rport\n",
      "Max-Forwards: 70\n");
  for (const std::string& r : d.route) absl::StrAppend(&head, "Route: ", r, "\n");
  absl::StrAppend(&head,
                  "From: <", d.caller->aor_uri(), ">;tag=", d.caller->tag(), "\n",
                  "To: <", d.callee->aor_uri(), ">;tag=", d.callee_tag, "\n",
                  "Call-ID: ", d.call_id, "\n",
                  "CSeq: ", cseq, " ", method, "\n",
                  "Contact: <", d.caller->contact(), ">\n");
  if (!sdp.empty()) absl::StrAppend(&head, "Content-Type: application/sdp\n");
  return SipText(head, sdp);
}

// The callee's answer to a request the proxy forwarded to it: Via, From,
// To, Call-ID, CSeq and Record-Route copied (RFC 3261 8.2.6, 12.1.1).
std::string ResponseText(absl::string_view request, int code, absl::string_view reason,
                         absl::string_view to_tag, absl::string_view contact = "",
                         absl::string_view sdp = "") {
  std::string head = absl::StrCat("SIP/2.0 ", code, " ", reason, "\n");
  bool first = true;
  for (absl::string_view line : absl::StrSplit(request, "\r\n")) {
    if (first) {  // the request line
      first = false;
      continue;
    }
    if (line.empty()) break;
    for (const char* name : {"Via:", "From:", "Call-ID:", "CSeq:", "Record-Route:"}) {
      if (absl::StartsWithIgnoreCase(line, name)) absl::StrAppend(&head, line, "\n");
    }
    if (absl::StartsWithIgnoreCase(line, "To:")) {
      const bool tagged = absl::StrContains(line, ";tag=") || to_tag.empty();
      absl::StrAppend(&head, line, tagged ? "" : absl::StrCat(";tag=", to_tag), "\n");
    }
  }
  if (!contact.empty()) absl::StrAppend(&head, "Contact: <", contact, ">\n");
  if (!sdp.empty()) absl::StrAppend(&head, "Content-Type: application/sdp\n");
  return SipText(head, sdp);
}

SipMessage MustParse(absl::string_view bytes) {
  absl::StatusOr<SipMessage> m = SipMessage::Parse(bytes);
  EXPECT_TRUE(m.ok()) << m.status() << "\n" << bytes;
  if (m.ok()) return *std::move(m);
  return *SipMessage::Parse(SipText("OPTIONS sip:unparsable@invalid SIP/2.0\n"
                                    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\n"
                                    "From: <sip:x@invalid>;tag=x\nTo: <sip:x@invalid>\n"
                                    "Call-ID: x\nCSeq: 1 OPTIONS\n"));
}

// ---------------------------------------------------------------------------
// The wiring

// What left the proxy for the wire.
struct Sent {
  std::string bytes;
  SipRoute route;
  bool stateless = false;  // through Channels::send, not a transaction

  SipMessage Parsed() const { return MustParse(bytes); }
};

class ProxyTest : public ::testing::Test {
 protected:
  // SipTransactions needs its listener before the proxy exists, and the
  // proxy needs the transactions: the control plane forwards, so do we.
  struct Forwarder : SipTransactions::Listener {
    Proxy* proxy = nullptr;
    void OnRequest(SipTxnId t, SipMessage& m, const SipInbound& in) override {
      proxy->OnRequest(t, m, in);
    }
    void OnStrayAck(SipMessage& m, const SipInbound& in) override { proxy->OnStrayAck(m, in); }
    void OnStrayResponse(SipMessage& m, const SipInbound& in) override {
      proxy->OnStrayResponse(m, in);
    }
    void OnResponse(SipTxnId t, SipMessage& m) override { proxy->OnResponse(t, m); }
    void OnClientFailure(SipTxnId t, bool timeout) override {
      proxy->OnClientFailure(t, timeout);
    }
    void OnTransactionEnd(SipTxnId t) override { proxy->OnTransactionEnd(t); }
  };

  // The registrar of example.com; with `require_auth` every REGISTER is
  // challenged. A proxy made before this one must be made again.
  void MakeRegistrar(bool require_auth) {
    RegistrarConfig rc;
    rc.domain = "example.com";
    rc.nonce_secret = "0123456789abcdef0123456789abcdef";
    rc.require_auth = require_auth;
    auto registrar = Registrar::Create(rc, *users_, /*store=*/nullptr, inside_, policies_);
    ASSERT_TRUE(registrar.ok()) << registrar.status();
    registrar_ = *std::move(registrar);
  }

  // Challenges every REGISTER from now on (a new registrar and proxy).
  void RequireAuth() {
    std::unique_ptr<Registrar> old = std::move(registrar_);
    ASSERT_NO_FATAL_FAILURE(MakeRegistrar(/*require_auth=*/true));
    MakeProxy();  // drops the proxy that used `old`
  }

  void SetUp() override {
    dataplane_.set_responder([this](const json& r) { return DataplaneAnswer(r); });
    dataplane_.Start();

    ASSERT_TRUE(inside_.Add("192.0.2.0/24").ok());
    auto users = UsersFile::Parse("# nobody: calls and REGISTERs are not challenged\n",
                                  "(test users)");
    ASSERT_TRUE(users.ok()) << users.status();
    users_ = *std::move(users);
    ASSERT_NO_FATAL_FAILURE(MakeRegistrar(/*require_auth=*/false));

    link_ = std::make_unique<DataplaneLink>(DataplaneLink::Options{
        .socket_path = dataplane_.path(),
        .timeout_ms = 1000,
        .retry_interval_ms = 1000,
        .on_reconnect = [this] { proxy_->OnDataplaneConnected(); },
    });
    KeepaliveSync::Options ko;
    ko.advertised_v4 = kSipV4.ip;
    ko.advertised_v6 = kSipV6.ip;
    keepalives_ = std::make_unique<KeepaliveSync>(*link_, ko);

    auto txns = SipTransactions::Create(
        forwarder_, [this](absl::string_view bytes, const SipRoute& route) {
          if (unreachable_ && route.dest == *unreachable_) {
            return absl::UnavailableError("test: network unreachable");
          }
          sent_.push_back({std::string(bytes), route, false});
          return absl::OkStatus();
        });
    ASSERT_TRUE(txns.ok()) << txns.status();
    txns_ = *std::move(txns);

    MakeProxy();
  }

  // The proxy under test (again, with `qualify_interval_s`).
  void MakeProxy(uint32_t qualify_interval_s = 0) {
    ProxyConfig pc;
    pc.qualify_interval_s = qualify_interval_s;
    pc.domain = "example.com";
    pc.local_addresses = {kSipV4.ip, kSipV6.ip};
    pc.local_ports = {5060};
    pc.advertised_v4 = kSipV4;
    pc.advertised_v6 = kSipV6;
    pc.authenticate_calls = false;
    pc.anchor_media_always = true;
    Proxy::Channels channels;
    channels.udp_socket_for = [](const Endpoint& local) -> std::optional<SipChannelId> {
      return local.ip.is_v4() ? kUdpV4 : kUdpV6;
    };
    channels.tcp_connection_to = [](const Endpoint&) -> std::optional<SipChannelId> {
      return std::nullopt;
    };
    // Connections we open: one per destination, reused (as the transport
    // does, RFC 5923), each opening recorded.
    channels.connect = [this](const Endpoint& dest, SipTransportKind t,
                              const std::string& host) -> absl::StatusOr<SipChannelId> {
      const std::string key = absl::StrCat(SipTransportName(t), " ", dest.ToString(), " ", host);
      auto it = std::find(connects_.begin(), connects_.end(), key);
      if (it != connects_.end()) return kConnectionBase + 1 + (it - connects_.begin());
      connects_.push_back(key);
      return kConnectionBase + connects_.size();
    };
    channels.send = [this](absl::string_view bytes, const SipRoute& route) {
      sent_.push_back({std::string(bytes), route, true});
      return absl::OkStatus();
    };
    proxy_ = std::make_unique<Proxy>(pc, *registrar_, *link_, *keepalives_, inside_, policies_,
                                     *txns_, std::move(channels), [this] { return now_; },
                                     [this] { return now_ms_; });
    forwarder_.proxy = proxy_.get();
  }

  // The carrier edge under test: "peers" and "routes" as the config has
  // them. Targets of one priority are tried in the order listed.
  void SetEdge(const json& peers, const json& routes) {
    absl::StatusOr<EdgeConfig> edge = ParseEdgeConfig(peers, routes);
    ASSERT_TRUE(edge.ok()) << edge.status();
    peers_ = std::make_unique<PeerSet>(edge->peers, [](uint64_t) { return uint64_t{0}; });
    dial_plan_ = std::make_unique<DialPlan>(edge->routes);
    proxy_->set_edge(peers_.get(), dial_plan_.get());
  }

  // The fake dataplane: pairs numbered from 1 at RelayPort(); lists empty.
  // Runs on the fake's thread.
  Answer DataplaneAnswer(const json& r) {
    const std::string cmd = r.value("cmd", "");
    if (cmd == "allocate") {
      const uint64_t pair = ++pairs_allocated_;
      auto leg = [&](const char* name) {
        const json& spec = r[name];
        const bool v6 = spec.value("family", "") == "ipv6";
        const uint16_t port = RelayPort(pair, name[0]);
        const std::string host = v6 ? absl::StrCat("[", RelayHost(true), "]") : RelayHost(false);
        return json{{"stream", 2 * pair - (name[0] == 'a' ? 1 : 0)},
                    {"pair", pair},
                    {"leg", name},
                    {"label", r.value("label", "")},
                    {"relay", absl::StrCat(host, ":", port)},
                    {"rtcp_relay", absl::StrCat(host, ":", port + 1)},
                    {"state", "unlatched"}};
      };
      return Ok({{"pair", pair}, {"a", leg("a")}, {"b", leg("b")}});
    }
    if (cmd == "list") return Ok({{"streams", json::array()}});
    if (cmd == "keepalive_list") return Ok({{"keepalives", json::array()}});
    if (cmd == "keepalive_add") {
      json ids = json::array();
      for (size_t i = 0; i < r["targets"].size(); ++i) ids.push_back(++keepalive_ids_);
      return Ok({{"ids", ids}});
    }
    return Ok(json::object());  // update, delete, keepalive_remove
  }

  // One datagram from `source` to our socket of its family, then what the
  // event loop does after each round: the posted dataplane requests settle.
  // `tls_names`: it came over TLS with a client certificate of these names.
  void Receive(const std::string& text, const Endpoint& source,
               const std::vector<std::string>* tls_names = nullptr) {
    absl::StatusOr<SipMessage> m = SipMessage::Parse(text);
    ASSERT_TRUE(m.ok()) << m.status() << "\n" << text;
    SipInbound in;
    in.bytes = text;
    in.source = source;
    in.local = source.ip.is_v4() ? kSipV4 : kSipV6;
    in.transport = SipTransportKind::kUdp;
    in.channel = source.ip.is_v4() ? kUdpV4 : kUdpV6;
    if (tls_names != nullptr) {
      in.transport = SipTransportKind::kTls;
      in.tls_names = tls_names;
    }
    txns_->Receive(*std::move(m), in);
    link_->Settle();
  }

  // Lets `ms` pass on both clocks in 100 ms ticks.
  void TickFor(int64_t ms) {
    for (int64_t t = 0; t < ms; t += 100) {
      now_ms_ += 100;
      now_ = now_ms_ / 1000;
      proxy_->Tick();
    }
  }

  // Runs the NAT timeout learning of `p`'s binding to its end: time moves
  // in 100 ms ticks, and the phone answers the first `answered` probes (its
  // NAT keeps the mapping that long) and none after. Like a phone told to
  // come back within 60 s it re-registers every `refresh_s` seconds (0:
  // never). The probes seen go to `probes` when given.
  void LearnNatTimeout(const Phone& p, int answered, std::vector<Sent>* probes = nullptr,
                       int refresh_s = 0) {
    size_t mark = sent_.size();
    int cseq = 1;
    for (int tick = 1; tick <= 1800 && proxy_->learner().size() > 0; ++tick) {
      now_ms_ += 100;
      now_ = now_ms_ / 1000;
      if (refresh_s > 0 && tick % (refresh_s * 10) == 0) {
        Receive(RegisterText(p, ++cseq), p.source);
        mark = sent_.size();
      }
      proxy_->Tick();
      link_->Settle();
      std::optional<Sent> probe = RequestTo(p.source, "OPTIONS", mark);
      mark = sent_.size();
      if (!probe) continue;
      if (probes != nullptr) probes->push_back(*probe);
      if (answered-- > 0) Receive(ResponseText(probe->bytes, 200, "OK", p.tag()), p.source);
    }
    ASSERT_EQ(proxy_->learner().size(), 0u) << "the learning did not end";
  }

  void Register(const Phone& p) {
    const size_t mark = sent_.size();
    Receive(RegisterText(p), p.source);
    ASSERT_THAT(CodesTo(p.source, mark), ElementsAre(200)) << "REGISTER of " << p.user;
  }

  // Status codes of the responses sent to `dest` (from sent_[mark] on).
  std::vector<int> CodesTo(const Endpoint& dest, size_t mark = 0) const {
    std::vector<int> out;
    for (size_t i = mark; i < sent_.size(); ++i) {
      if (sent_[i].route.dest == dest) {
        const SipMessage m = sent_[i].Parsed();
        if (!m.is_request()) out.push_back(m.status_code());
      }
    }
    return out;
  }
  // The last response with `code` (to a `cseq_method` request) sent to `dest`.
  std::optional<Sent> ResponseTo(const Endpoint& dest, int code,
                                 absl::string_view cseq_method = "INVITE") const {
    for (size_t i = sent_.size(); i-- > 0;) {
      if (!(sent_[i].route.dest == dest)) continue;
      const SipMessage m = sent_[i].Parsed();
      if (m.status_code() == code && m.cseq_method() == cseq_method) return sent_[i];
    }
    return std::nullopt;
  }
  // The last `method` request sent to `dest` (from sent_[mark] on).
  std::optional<Sent> RequestTo(const Endpoint& dest, absl::string_view method,
                                size_t mark = 0) const {
    for (size_t i = sent_.size(); i-- > mark;) {
      if (sent_[i].route.dest == dest && sent_[i].Parsed().method() == method) return sent_[i];
    }
    return std::nullopt;
  }
  // How many `method` requests the proxy sent, to anyone.
  size_t RequestsSent(absl::string_view method) const {
    size_t n = 0;
    for (const Sent& s : sent_) n += s.Parsed().method() == method;
    return n;
  }

  Dialog NewDialog(const Phone& caller, const Phone& callee) {
    ++calls_;
    return Dialog{&caller, &callee, absl::StrCat("call-", calls_, "@test"),
                  absl::StrCat("z9hG4bKinv", calls_)};
  }
  std::string Branch() { return absl::StrCat("z9hG4bKt", ++branches_); }

  // The caller's INVITE; `forwarded` is what reached the callee's phone.
  void Invite(const Dialog& d, std::optional<Sent>* forwarded) {
    const size_t mark = sent_.size();
    Receive(InviteText(d, Sdp(*d.caller, 1)), d.caller->source);
    *forwarded = RequestTo(d.callee->source, "INVITE", mark);
    ASSERT_TRUE(forwarded->has_value())
        << "INVITE not forwarded to " << d.callee->source.ToString() << "; sent to the caller: "
        << ::testing::PrintToString(CodesTo(d.caller->source, mark));
  }

  // The callee answers `invite` (as forwarded to it) from its source.
  void CalleeResponds(const Dialog& d, const Sent& invite, int code, absl::string_view reason,
              absl::string_view sdp = "") {
    Receive(ResponseText(invite.bytes, code, reason, d.callee->tag(), d.callee->contact(), sdp),
            d.callee->source);
  }

  // INVITE, 180, 200 with the callee's SDP, ACK: an answered call. The
  // dialog learns the callee's tag, Contact and the route set from the 200
  // the caller received; `relayed_answer` is that 200.
  void Establish(Dialog& d, std::optional<Sent>* relayed_answer = nullptr) {
    std::optional<Sent> invite;
    ASSERT_NO_FATAL_FAILURE(Invite(d, &invite));
    CalleeResponds(d, *invite, 180, "Ringing");
    CalleeResponds(d, *invite, 200, "OK", Sdp(*d.callee, 1));
    std::optional<Sent> ok = ResponseTo(d.caller->source, 200);
    ASSERT_TRUE(ok.has_value()) << "no 200 reached the caller";
    const SipMessage m = ok->Parsed();
    d.callee_tag = std::string(m.to_tag());
    ASSERT_THAT(m.contacts(), SizeIs(1));
    d.remote_target = m.contacts()[0].uri;
    std::vector<std::string> rr = m.record_routes();
    d.route.assign(rr.rbegin(), rr.rend());
    const size_t mark = sent_.size();
    Receive(InDialogText(d, "ACK", 1, Branch()), d.caller->source);
    ASSERT_TRUE(RequestTo(d.callee->source, "ACK", mark).has_value()) << "ACK not relayed";
    if (relayed_answer != nullptr) *relayed_answer = ok;
  }

  // A re-INVITE from the caller answered 200 (with `answer`) and ACKed;
  // `forwarded` is the re-INVITE as the callee got it.
  void ReInvite(Dialog& d, absl::string_view offer, absl::string_view answer,
                std::optional<Sent>* forwarded) {
    const uint32_t cseq = ++d.cseq;
    const size_t mark = sent_.size();
    Receive(InDialogText(d, "INVITE", cseq, Branch(), offer), d.caller->source);
    *forwarded = RequestTo(d.callee->source, "INVITE", mark);
    ASSERT_TRUE(forwarded->has_value()) << "re-INVITE not forwarded; to the caller: "
                                        << ::testing::PrintToString(CodesTo(d.caller->source, mark));
    Receive(ResponseText((*forwarded)->bytes, 200, "OK", "", "", answer), d.callee->source);
    // A re-INVITE gets its 100 Trying at once, like the first INVITE, so a
    // UDP caller stops retransmitting while the callee decides (RFC 3261
    // 17.2.1).
    ASSERT_THAT(CodesTo(d.caller->source, mark), ElementsAre(100, 200));
    Receive(InDialogText(d, "ACK", cseq, Branch()), d.caller->source);
  }

  // Declared before the fake: its thread answers from them until it stops.
  std::atomic<uint64_t> pairs_allocated_{0};
  std::atomic<uint64_t> keepalive_ids_{0};
  FakeDataplane dataplane_;

  int64_t now_ = kStart;
  int64_t now_ms_ = kStart * 1000;  // the learner's steady clock
  InsidePrefixes inside_;
  NatPolicyTable policies_;
  std::unique_ptr<UsersFile> users_;
  std::unique_ptr<Registrar> registrar_;
  std::unique_ptr<DataplaneLink> link_;
  std::unique_ptr<KeepaliveSync> keepalives_;
  Forwarder forwarder_;
  std::vector<Sent> sent_;
  // Sends to this address fail at once (a transport error).
  std::optional<Endpoint> unreachable_;
  static constexpr SipChannelId kConnectionBase = 100;
  std::vector<std::string> connects_;  // "TLS 198.51.100.40:5061 host"
  std::unique_ptr<SipTransactions> txns_;
  std::unique_ptr<PeerSet> peers_;
  std::unique_ptr<DialPlan> dial_plan_;
  std::unique_ptr<Proxy> proxy_;
  int calls_ = 0;
  int branches_ = 0;
};

}  // namespace proxy_fixture
}  // namespace rtplatch
