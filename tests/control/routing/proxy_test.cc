// The record-routing proxy (control/routing/proxy.h), wired as
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
namespace {

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

  void SetUp() override {
    dataplane_.set_responder([this](const json& r) { return DataplaneAnswer(r); });
    dataplane_.Start();

    ASSERT_TRUE(inside_.Add("192.0.2.0/24").ok());
    auto users = UsersFile::Parse("# nobody: calls and REGISTERs are not challenged\n",
                                  "(test users)");
    ASSERT_TRUE(users.ok()) << users.status();
    users_ = *std::move(users);
    RegistrarConfig rc;
    rc.domain = "example.com";
    rc.nonce_secret = "0123456789abcdef0123456789abcdef";
    rc.require_auth = false;
    auto registrar = Registrar::Create(rc, *users_, /*store=*/nullptr, inside_, policies_);
    ASSERT_TRUE(registrar.ok()) << registrar.status();
    registrar_ = *std::move(registrar);

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
    channels.send = [this](absl::string_view bytes, const SipRoute& route) {
      sent_.push_back({std::string(bytes), route, true});
      return absl::OkStatus();
    };
    proxy_ = std::make_unique<Proxy>(pc, *registrar_, *link_, *keepalives_, inside_, policies_,
                                     *txns_, std::move(channels), [this] { return now_; },
                                     [this] { return now_ms_; });
    forwarder_.proxy = proxy_.get();
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
  void Receive(const std::string& text, const Endpoint& source) {
    absl::StatusOr<SipMessage> m = SipMessage::Parse(text);
    ASSERT_TRUE(m.ok()) << m.status() << "\n" << text;
    SipInbound in;
    in.bytes = text;
    in.source = source;
    in.local = source.ip.is_v4() ? kSipV4 : kSipV6;
    in.transport = SipTransportKind::kUdp;
    in.channel = source.ip.is_v4() ? kUdpV4 : kUdpV6;
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
  std::unique_ptr<SipTransactions> txns_;
  std::unique_ptr<Proxy> proxy_;
  int calls_ = 0;
  int branches_ = 0;
};

// ---------------------------------------------------------------------------
// 1. A callee behind a NAT

// The issue-13 case at the proxy: a new NAT'd binding gets no keepalive
// target at first; OPTIONS probes from the socket it registered on, to its
// public source, test growing gaps (5 s, then 10 s); the 10 s one goes
// unanswered (its NAT forgot the mapping), so the interval is what held,
// at the 5 s floor, and only then does the dataplane get a target.
TEST_F(ProxyTest, NattedBindingLearnsItsNatTimeoutByProbingThenGetsItsKeepalive) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  EXPECT_THAT(dataplane_.Requests("keepalive_add"), IsEmpty()) << "probes first";
  const KeepaliveLearning* l =
      proxy_->learner().Find(absl::StrCat("bob@example.com\n", kBob.contact()));
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->gap_ms, 5000u);

  const int64_t start = now_ms_;
  std::vector<Sent> probes;
  ASSERT_NO_FATAL_FAILURE(LearnNatTimeout(kBob, /*answered=*/1, &probes));
  ASSERT_GE(probes.size(), 2u);
  for (const Sent& probe : probes) {
    EXPECT_EQ(probe.route.channel, kUdpV4) << "from the socket bob registered on";
    EXPECT_EQ(probe.Parsed().method(), "OPTIONS");
  }
  EXPECT_LE(now_ms_ - start, 20000) << "learned within 5 + 10 + 4 s";

  // One target, from our SIP socket to bob's mapping.
  std::vector<json> keepalives = dataplane_.Requests("keepalive_add");
  ASSERT_THAT(keepalives, SizeIs(1));
  EXPECT_THAT(dataplane_.Requests("keepalive_remove"), IsEmpty());
  EXPECT_EQ(keepalives.back()["targets"][0]["target"], "203.0.113.20:41000");
  EXPECT_EQ(keepalives.back()["targets"][0]["source"], "198.51.100.1:5060");
  EXPECT_EQ(keepalives.back()["targets"][0]["interval_ms"], 5000);

  std::vector<Binding> b = registrar_->Lookup("bob@example.com", now_);
  ASSERT_THAT(b, SizeIs(1));
  EXPECT_FALSE(b[0].keepalive_learning);
  EXPECT_EQ(b[0].keepalive_interval_ms, 5000u);
  EXPECT_EQ(b[0].keepalive_reason,
            "learned: NAT held 5 s, dropped the mapping within 10 s; interval 5 s (floor)");
  EXPECT_EQ(proxy_->StatsJson()["keepalive_learning"]["learned_shorter"], 1);
}

// A NAT that holds every gap probed keeps the initial interval (the
// policy's 25 s): learning never shortens it without evidence.
TEST_F(ProxyTest, NatThatHoldsEveryGapKeepsTheInitialInterval) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  std::vector<Sent> probes;
  ASSERT_NO_FATAL_FAILURE(LearnNatTimeout(kBob, /*answered=*/100, &probes, /*refresh_s=*/50));
  EXPECT_EQ(probes.size(), 4u) << "gaps of 5, 10, 20 and 25 s";
  std::vector<json> keepalives = dataplane_.Requests("keepalive_add");
  ASSERT_THAT(keepalives, Not(IsEmpty()));
  EXPECT_EQ(keepalives.back()["targets"][0]["interval_ms"], 25000);
  EXPECT_EQ(proxy_->StatsJson()["keepalive_learning"]["learned_shorter"], 0);
  std::vector<Binding> b = registrar_->Lookup("bob@example.com", now_);
  ASSERT_THAT(b, SizeIs(1));
  EXPECT_EQ(b[0].keepalive_reason, "learned: NAT held a 25 s gap; interval 25 s (the initial one)");

  // Its refreshes keep the interval and never start the probing again.
  const size_t options = RequestsSent("OPTIONS");
  Receive(RegisterText(kBob, 10), kBob.source);
  EXPECT_EQ(proxy_->learner().size(), 0u);
  for (int i = 0; i < 100; ++i) {
    now_ms_ += 1000;
    proxy_->Tick();
  }
  EXPECT_EQ(RequestsSent("OPTIONS"), options);
  b = registrar_->Lookup("bob@example.com", now_);
  ASSERT_THAT(b, SizeIs(1));
  EXPECT_EQ(b[0].keepalive_interval_ms, 25000u);
}

// Qualify leaves a learning binding to the learner (whose probes would be
// cut short by the qualify's answers), and takes it up once learned.
TEST_F(ProxyTest, QualifyWaitsUntilTheNatTimeoutIsLearned) {
  MakeProxy(/*qualify_interval_s=*/2);
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  TickFor(4000);  // two qualify rounds, before the first probe
  EXPECT_EQ(proxy_->counters().qualify_sent, 0u);
  ASSERT_NO_FATAL_FAILURE(LearnNatTimeout(kBob, /*answered=*/1));
  TickFor(4000);
  EXPECT_GE(proxy_->counters().qualify_sent, 1u);
}

// A probe counted as lost stops retransmitting: oSIP2 would resend it for
// Timer F's 32 s, and a late copy reaches the phone in the middle of its
// next call (a sipp callee aborts on it).
TEST_F(ProxyTest, ALostProbeIsNotRetransmittedAfterTheVerdict) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  ASSERT_NO_FATAL_FAILURE(LearnNatTimeout(kBob, /*answered=*/0));
  EXPECT_EQ(proxy_->StatsJson()["keepalive_learning"]["probes_lost"], 1);
  const size_t options = RequestsSent("OPTIONS");
  ASSERT_EQ(options, 1u);
  ::usleep(700 * 1000);  // past T1 (500 ms) in oSIP2's own clock
  txns_->RunTimers();
  EXPECT_EQ(RequestsSent("OPTIONS"), options);
}

// Traffic from the phone during a gap (its own call, say) restarts it: a
// probe only counts after real silence on the mapping.
TEST_F(ProxyTest, TrafficFromTheLearningPhoneRestartsTheGap) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  now_ms_ += 4000;
  proxy_->OnTraffic(kBob.source);
  now_ms_ += 4000;
  proxy_->Tick();
  EXPECT_EQ(RequestsSent("OPTIONS"), 0u) << "only 4 s of silence";
  now_ms_ += 1100;
  proxy_->Tick();
  EXPECT_EQ(RequestsSent("OPTIONS"), 1u);
}

TEST_F(ProxyTest, InviteToNattedCalleeGoesToItsRegistrationSourceWithMediaOnTheRelay) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));

  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> fwd;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &fwd));

  // Where: bob's public source and our socket, not the Contact he declared.
  EXPECT_EQ(fwd->route.dest.ToString(), "203.0.113.20:41000");
  EXPECT_EQ(fwd->route.transport, SipTransportKind::kUdp);
  EXPECT_EQ(fwd->route.channel, kUdpV4);
  EXPECT_FALSE(RequestTo(Ep("192.0.2.20:5060"), "INVITE").has_value());
  EXPECT_EQ(CodesTo(kAlice.source), std::vector<int>{100});

  const SipMessage m = fwd->Parsed();
  EXPECT_EQ(m.request_uri(), "sip:bob@192.0.2.20:5060");  // the Contact, as the phone expects
  EXPECT_THAT(m.record_routes(), ElementsAre(kRecordRouteV4));
  EXPECT_EQ(m.top_via().host, "198.51.100.1");
  EXPECT_EQ(m.via_count(), 2u);
  EXPECT_THAT(fwd->bytes, HasSubstr("received=203.0.113.10"));  // alice's Via, as seen

  // Media: one pair; bob is told to send to its leg b on the relay.
  std::vector<json> allocs = dataplane_.Requests("allocate");
  ASSERT_THAT(allocs, SizeIs(1));
  EXPECT_EQ(allocs[0]["a"]["family"], "ipv4");
  EXPECT_EQ(allocs[0]["b"]["family"], "ipv4");
  EXPECT_FALSE(allocs[0]["a"].contains("peer"))
      << "alice is NAT'd and latches: her private SDP address is no peer";
  EXPECT_EQ(allocs[0]["label"], absl::StrCat("rc:0:", d.call_id));
  EXPECT_TRUE(m.has_sdp_body());
  EXPECT_THAT(m.body(), HasSubstr("c=IN IP4 203.0.113.1\r\n"));
  EXPECT_THAT(m.body(), HasSubstr(absl::StrCat("m=audio ", RelayPort(1, 'b'), " RTP/AVP 0 101")));
  EXPECT_THAT(m.body(), Not(HasSubstr("192.0.2.10"))) << "alice's private address leaked";

  json calls = proxy_->CallsJson();
  ASSERT_THAT(calls, SizeIs(1));
  EXPECT_EQ(calls[0]["state"], "calling");
  EXPECT_EQ(calls[0]["legs"][0]["natted"], true);
  EXPECT_EQ(calls[0]["legs"][1]["natted"], true);
  EXPECT_EQ(calls[0]["legs"][1]["signalling"], "203.0.113.20:41000");
}

// ---------------------------------------------------------------------------
// 2. A callee on a public address

TEST_F(ProxyTest, InviteToPublicCalleeGoesToItsContact) {
  ASSERT_NO_FATAL_FAILURE(Register(kCarol));
  EXPECT_THAT(dataplane_.Requests("keepalive_add"), IsEmpty()) << "no NAT, no keepalive";

  Dialog d = NewDialog(kAlice, kCarol);
  std::optional<Sent> fwd;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &fwd));
  EXPECT_EQ(fwd->route.dest.ToString(), "198.51.100.30:5060");
  EXPECT_EQ(fwd->route.channel, kUdpV4);
  const SipMessage m = fwd->Parsed();
  EXPECT_EQ(m.request_uri(), "sip:carol@198.51.100.30:5060");
  EXPECT_THAT(m.record_routes(), ElementsAre(kRecordRouteV4));
  // The caller is NAT'd (and anchor_media_always): relayed all the same.
  EXPECT_THAT(dataplane_.Requests("allocate"), SizeIs(1));
  EXPECT_THAT(m.body(), HasSubstr("c=IN IP4 203.0.113.1\r\n"));

  json calls = proxy_->CallsJson();
  ASSERT_THAT(calls, SizeIs(1));
  EXPECT_EQ(calls[0]["legs"][1]["natted"], false);
}

// Without NAT evidence the Contact is taken as given, even when it is not
// where the REGISTER came from (a phone registering for another box).
TEST_F(ProxyTest, ContactThatIsNotTheSourceIsUsedWhenNoNatIsDetected) {
  Phone erin{"erin", "198.51.100.31:5070", Ep("198.51.100.30:5060"), "198.51.100.31", 8000};
  const size_t mark = sent_.size();
  // Its Via says where it sends from; only the Contact differs.
  std::string reg = RegisterText(erin);
  reg = absl::StrReplaceAll(reg, {{"Via: SIP/2.0/UDP 198.51.100.31:5070",
                                   "Via: SIP/2.0/UDP 198.51.100.30:5060"}});
  Receive(reg, erin.source);
  ASSERT_THAT(CodesTo(erin.source, mark), ElementsAre(200));

  Dialog d = NewDialog(kAlice, erin);
  Receive(InviteText(d, Sdp(kAlice, 1)), kAlice.source);
  std::optional<Sent> fwd = RequestTo(Ep("198.51.100.31:5070"), "INVITE");
  ASSERT_TRUE(fwd.has_value()) << "not sent to the Contact; to alice: "
                               << ::testing::PrintToString(CodesTo(kAlice.source));
  EXPECT_FALSE(RequestTo(erin.source, "INVITE").has_value());
}

// ---------------------------------------------------------------------------
// 3. No dataplane

TEST_F(ProxyTest, InviteWhileTheDataplaneWasNeverReachableIsAnswered503) {
  dataplane_.Stop();  // its socket is gone before the link ever connects
  ASSERT_NO_FATAL_FAILURE(Register(kBob));  // the registrar works without it
  EXPECT_FALSE(link_->connected());

  Dialog d = NewDialog(kAlice, kBob);
  Receive(InviteText(d, Sdp(kAlice, 1)), kAlice.source);
  EXPECT_THAT(CodesTo(kAlice.source), ElementsAre(100, 503));
  std::optional<Sent> busy = ResponseTo(kAlice.source, 503);
  ASSERT_TRUE(busy.has_value());
  const SipMessage m = busy->Parsed();
  // Today's answer: a Retry-After and a Warning naming the dataplane.
  EXPECT_THAT(m.header_values("Retry-After"), ElementsAre("5"));
  ASSERT_THAT(m.header_values("Warning"), SizeIs(1));
  EXPECT_THAT(m.header_values("Warning")[0], HasSubstr("dataplane unreachable"));

  EXPECT_FALSE(RequestTo(kBob.source, "INVITE").has_value()) << "a call without media rang";
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
  EXPECT_EQ(proxy_->counters().rejected_dataplane, 1u);
  EXPECT_EQ(proxy_->counters().calls_failed, 1u);
}

TEST_F(ProxyTest, InviteAfterTheDataplaneWentAwayIsAnswered503) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  ASSERT_NO_FATAL_FAILURE(LearnNatTimeout(kBob, /*answered=*/1));
  ASSERT_TRUE(link_->connected()) << "the keepalive for bob connected the link";
  dataplane_.Stop();

  Dialog d = NewDialog(kAlice, kBob);
  Receive(InviteText(d, Sdp(kAlice, 1)), kAlice.source);
  EXPECT_THAT(CodesTo(kAlice.source), ElementsAre(100, 503));
  std::optional<Sent> busy = ResponseTo(kAlice.source, 503);
  ASSERT_TRUE(busy.has_value());
  EXPECT_THAT(busy->Parsed().header_values("Retry-After"), ElementsAre("5"));
  EXPECT_FALSE(RequestTo(kBob.source, "INVITE").has_value());
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
  EXPECT_FALSE(link_->connected());
}

// ---------------------------------------------------------------------------
// 4. Hold

TEST_F(ProxyTest, HoldAndResumeKeepTheCallsStreams) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  // Carol is on a public address, so the relay is given her SDP address as
  // leg a's peer: hold must not take it away.
  Dialog d = NewDialog(kCarol, kBob);
  ASSERT_NO_FATAL_FAILURE(Establish(d));
  std::vector<json> allocs = dataplane_.Requests("allocate");
  ASSERT_THAT(allocs, SizeIs(1));
  EXPECT_EQ(allocs[0]["a"]["peer"], "198.51.100.30:6000");
  dataplane_.ClearRequests();

  // RFC 3264 hold: a=sendonly, the address kept.
  std::optional<Sent> fwd;
  ASSERT_NO_FATAL_FAILURE(
      ReInvite(d, Sdp(kCarol, 2, "sendonly"), Sdp(kBob, 2, "recvonly"), &fwd));
  EXPECT_EQ(fwd->route.dest.ToString(), "203.0.113.20:41000");
  EXPECT_THAT(fwd->Parsed().body(), HasSubstr("a=sendonly"));
  EXPECT_THAT(fwd->Parsed().body(),
              HasSubstr(absl::StrCat("m=audio ", RelayPort(1, 'b'), " RTP/AVP")));

  // RFC 2543 hold: c=0.0.0.0, left alone for bob to see.
  ASSERT_NO_FATAL_FAILURE(ReInvite(d, Sdp(kCarol, 3, "inactive", /*hold_address=*/true),
                                   Sdp(kBob, 3, "inactive"), &fwd));
  EXPECT_THAT(fwd->Parsed().body(), HasSubstr("c=IN IP4 0.0.0.0\r\n"));

  // Resume.
  ASSERT_NO_FATAL_FAILURE(ReInvite(d, Sdp(kCarol, 4), Sdp(kBob, 4), &fwd));
  EXPECT_THAT(fwd->Parsed().body(), HasSubstr("c=IN IP4 203.0.113.1\r\n"));

  EXPECT_THAT(dataplane_.Requests("delete"), IsEmpty());
  EXPECT_THAT(dataplane_.Requests("allocate"), IsEmpty()) << "the same pair throughout";
  EXPECT_THAT(dataplane_.Requests("update"), IsEmpty()) << "the peer never changed";
  json calls = proxy_->CallsJson();
  ASSERT_THAT(calls, SizeIs(1));
  EXPECT_EQ(calls[0]["state"], "confirmed");
  EXPECT_EQ(calls[0]["pairs"], json::array({1}));
  EXPECT_EQ(calls[0]["media"][0]["peer_a"], "198.51.100.30:6000");
  EXPECT_EQ(proxy_->counters().pairs_deleted, 0u);
}

// ---------------------------------------------------------------------------
// 5. Ending a call frees its pair

TEST_F(ProxyTest, CancelBeforeAnswerFreesThePairAndTheCallerGets487) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> invite;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &invite));
  CalleeResponds(d, *invite, 180, "Ringing");
  ASSERT_THAT(CodesTo(kAlice.source), ElementsAre(100, 180));
  ASSERT_THAT(proxy_->CallsJson(), SizeIs(1));
  EXPECT_EQ(proxy_->CallsJson()[0]["state"], "early");

  size_t mark = sent_.size();
  Receive(CancelText(d), kAlice.source);
  EXPECT_TRUE(ResponseTo(kAlice.source, 200, "CANCEL").has_value());
  // Alice's INVITE ends at once and the pair is freed, without waiting for
  // the branch (issue 13: an unreachable callee would hold both for 32 s).
  EXPECT_THAT(CodesTo(kAlice.source, mark), ElementsAre(200, 487));
  std::vector<json> deletes = dataplane_.Requests("delete");
  ASSERT_THAT(deletes, SizeIs(1));
  EXPECT_EQ(deletes[0]["pair"], 1);
  std::optional<Sent> cancel = RequestTo(kBob.source, "CANCEL", mark);
  ASSERT_TRUE(cancel.has_value()) << "the branch was not CANCELled";
  ASSERT_THAT(proxy_->CallsJson(), SizeIs(1));
  EXPECT_EQ(proxy_->CallsJson()[0]["cancelled"], true);

  // Bob: 200 for the CANCEL, 487 for the INVITE, which goes nowhere.
  Receive(ResponseText(cancel->bytes, 200, "OK", kBob.tag()), kBob.source);
  mark = sent_.size();
  CalleeResponds(d, *invite, 487, "Request Terminated");
  EXPECT_THAT(CodesTo(kAlice.source, mark), IsEmpty());
  EXPECT_THAT(dataplane_.Requests("delete"), SizeIs(1));
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
  EXPECT_EQ(proxy_->counters().calls_cancelled, 1u);
  EXPECT_EQ(proxy_->counters().calls_failed, 0u);
}

// The callee cannot be reached (its NAT mapping is gone): no 1xx ever
// comes, so no CANCEL can be sent, yet the caller's CANCEL ends its INVITE
// with 487 at once and the relay ports are freed at once.
TEST_F(ProxyTest, CancelToAnUnreachableCalleeIsAnswered487AtOnce) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> invite;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &invite));  // bob never answers
  const size_t mark = sent_.size();
  Receive(CancelText(d), kAlice.source);
  EXPECT_THAT(CodesTo(kAlice.source, mark), ElementsAre(200, 487));
  EXPECT_THAT(dataplane_.Requests("delete"), SizeIs(1));
  EXPECT_FALSE(RequestTo(kBob.source, "CANCEL", mark).has_value())
      << "no CANCEL before a provisional response (RFC 3261 9.1)";
}

// A 200 from the callee that crosses the caller's CANCEL: the caller
// already has its 487, so the callee's unwanted dialog gets a BYE.
TEST_F(ProxyTest, LateAnswerAfterCancelGetsABye) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> invite;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &invite));
  CalleeResponds(d, *invite, 180, "Ringing");
  Receive(CancelText(d), kAlice.source);
  const size_t mark = sent_.size();
  CalleeResponds(d, *invite, 200, "OK", Sdp(kBob, 1));
  EXPECT_THAT(CodesTo(kAlice.source, mark), IsEmpty()) << "the caller has its 487";
  EXPECT_TRUE(RequestTo(kBob.source, "BYE", mark).has_value());
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
}

TEST_F(ProxyTest, ByeAfterAnswerFreesThePair) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> ok;
  ASSERT_NO_FATAL_FAILURE(Establish(d, &ok));
  // Alice's 200 carries bob's answer moved onto leg a of the relay.
  const SipMessage answer = ok->Parsed();
  EXPECT_THAT(answer.body(), HasSubstr("c=IN IP4 203.0.113.1\r\n"));
  EXPECT_THAT(answer.body(), HasSubstr(absl::StrCat("m=audio ", RelayPort(1, 'a'), " RTP/AVP")));
  EXPECT_THAT(answer.body(), Not(HasSubstr("192.0.2.20")));
  EXPECT_THAT(d.route, ElementsAre(kRecordRouteV4));
  ASSERT_THAT(proxy_->CallsJson(), SizeIs(1));
  EXPECT_EQ(proxy_->CallsJson()[0]["state"], "confirmed");
  EXPECT_THAT(dataplane_.Requests("delete"), IsEmpty());

  const size_t mark = sent_.size();
  Receive(InDialogText(d, "BYE", ++d.cseq, Branch()), kAlice.source);
  std::optional<Sent> bye = RequestTo(kBob.source, "BYE", mark);
  ASSERT_TRUE(bye.has_value());
  EXPECT_THAT(bye->Parsed().routes(), IsEmpty()) << "our own Route entry is popped";

  std::vector<json> deletes = dataplane_.Requests("delete");
  ASSERT_THAT(deletes, SizeIs(1));
  EXPECT_EQ(deletes[0]["pair"], 1);
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());

  Receive(ResponseText(bye->bytes, 200, "OK", ""), kBob.source);
  EXPECT_TRUE(ResponseTo(kAlice.source, 200, "BYE").has_value());
  EXPECT_EQ(proxy_->counters().calls_ended_bye, 1u);
}

TEST_F(ProxyTest, ByeWhileTheDataplaneIsGoneCountsTheFailedDelete) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  Dialog d = NewDialog(kAlice, kBob);
  std::optional<Sent> ok;
  ASSERT_NO_FATAL_FAILURE(Establish(d, &ok));
  dataplane_.Stop();
  const size_t mark = sent_.size();
  Receive(InDialogText(d, "BYE", ++d.cseq, Branch()), kAlice.source);
  // The call ends for the phones whatever the dataplane says ...
  EXPECT_TRUE(RequestTo(kBob.source, "BYE", mark).has_value());
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
  // ... and the pair that could not be deleted is counted, not forgotten.
  EXPECT_EQ(proxy_->counters().pairs_deleted, 0u);
  EXPECT_EQ(proxy_->counters().pair_delete_failures, 1u);
  EXPECT_EQ(proxy_->StatsJson()["proxy"]["pair_delete_failures"], 1);
}

// ---------------------------------------------------------------------------
// 6. IPv6

TEST_F(ProxyTest, Ipv4CallerReachesIpv6CalleeWithMediaBridgedByTheRelay) {
  ASSERT_NO_FATAL_FAILURE(Register(kDave));
  Dialog d = NewDialog(kAlice, kDave);
  std::optional<Sent> fwd;
  ASSERT_NO_FATAL_FAILURE(Invite(d, &fwd));
  EXPECT_EQ(fwd->route.dest.ToString(), "[2001:db8::30]:5060");
  EXPECT_EQ(fwd->route.channel, kUdpV6);
  const SipMessage m = fwd->Parsed();
  // RFC 5658 double Record-Route: each side gets an entry of its family.
  EXPECT_THAT(m.record_routes(), ElementsAre(kRecordRouteV6, kRecordRouteV4));
  EXPECT_EQ(m.top_via().host, "2001:db8::1");

  std::vector<json> allocs = dataplane_.Requests("allocate");
  ASSERT_THAT(allocs, SizeIs(1));
  EXPECT_EQ(allocs[0]["a"]["family"], "ipv4");
  EXPECT_EQ(allocs[0]["b"]["family"], "ipv6");
  EXPECT_THAT(m.body(), HasSubstr("c=IN IP6 2001:db8::2\r\n"));
  EXPECT_THAT(m.body(), HasSubstr(absl::StrCat("m=audio ", RelayPort(1, 'b'), " RTP/AVP")));

  // Dave answers in IPv6; alice is told an IPv4 relay address.
  CalleeResponds(d, *fwd, 200, "OK", Sdp(kDave, 1));
  std::optional<Sent> ok = ResponseTo(kAlice.source, 200);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->route.channel, kUdpV4);
  const SipMessage answer = ok->Parsed();
  EXPECT_THAT(answer.body(), HasSubstr("c=IN IP4 203.0.113.1\r\n"));
  EXPECT_THAT(answer.body(), HasSubstr(absl::StrCat("m=audio ", RelayPort(1, 'a'), " RTP/AVP")));
  // Dave is on a public address: his SDP address is leg b's peer at once.
  std::vector<json> updates = dataplane_.Requests("update");
  ASSERT_THAT(updates, SizeIs(1));
  EXPECT_EQ(updates[0]["peer"], "[2001:db8::30]:7000");

  // Alice hangs up through both Record-Route entries.
  std::vector<std::string> rr = answer.record_routes();
  d.callee_tag = std::string(answer.to_tag());
  d.remote_target = answer.contacts().at(0).uri;
  d.route.assign(rr.rbegin(), rr.rend());
  EXPECT_THAT(d.route, ElementsAre(kRecordRouteV4, kRecordRouteV6));
  Receive(InDialogText(d, "ACK", 1, Branch()), kAlice.source);
  const size_t mark = sent_.size();
  Receive(InDialogText(d, "BYE", ++d.cseq, Branch()), kAlice.source);
  std::optional<Sent> bye = RequestTo(kDave.source, "BYE", mark);
  ASSERT_TRUE(bye.has_value()) << "BYE lost between the families";
  EXPECT_EQ(bye->route.channel, kUdpV6);
  EXPECT_THAT(dataplane_.Requests("delete"), SizeIs(1));
  EXPECT_THAT(proxy_->CallsJson(), IsEmpty());
}

// ---------------------------------------------------------------------------
// The clock

TEST_F(ProxyTest, ExpiredRegistrationIsNotRungAndItsKeepaliveGoes) {
  ASSERT_NO_FATAL_FAILURE(Register(kBob));
  ASSERT_NO_FATAL_FAILURE(LearnNatTimeout(kBob, /*answered=*/1));
  // Registered while its NAT timeout was unknown: max_expires_learning
  // (60 s by default).
  now_ = kStart + 61;
  proxy_->Tick();
  std::vector<json> removes = dataplane_.Requests("keepalive_remove");
  // The one target that was sending: none is left for a binding that is gone.
  ASSERT_THAT(removes, SizeIs(1));
  EXPECT_EQ(removes[0]["ids"], json::array({1}));

  Dialog d = NewDialog(kAlice, kBob);
  Receive(InviteText(d, Sdp(kAlice, 1)), kAlice.source);
  EXPECT_THAT(CodesTo(kAlice.source), ElementsAre(100, 480));
  EXPECT_EQ(RequestsSent("INVITE"), 0u);
  EXPECT_THAT(dataplane_.Requests("allocate"), IsEmpty());
}

}  // namespace
}  // namespace rtplatch
