// Every read-only accessor of a parsed SipMessage, called once: what the
// registrar, the proxy and NAT detection read. Shared by the unit test's
// mutation fuzz (sip_message_test.cc) and the libFuzzer target
// (tests/fuzz/control/sip/sip_message_fuzz.cc), so both cover one surface.
#pragma once

#include "control/sip/sip_message.h"
#include "control/sip/sip_uri.h"

namespace rtplatch {

inline void ReadEveryAccessor(const SipMessage& m) {
  (void)m.is_request();
  (void)m.method();
  (void)m.status_code();
  (void)m.reason_phrase();
  (void)ParseUri(m.request_uri());
  (void)m.via_count();
  if (m.via_count() > 0) (void)m.top_via();
  (void)m.top_via_param("branch");
  (void)m.from_tag();
  (void)m.to_tag();
  (void)m.contacts();
  (void)m.from().aor();
  (void)m.to().aor();
  (void)m.call_id();
  (void)m.cseq_number();
  (void)m.cseq_method();
  (void)m.user_agent();
  (void)m.expires();
  (void)m.content_type();
  (void)m.has_sdp_body();
  (void)m.header_values("Supported");
  (void)m.challenges(/*proxy=*/false);
  (void)m.challenges(/*proxy=*/true);
  (void)m.routes();
  (void)m.record_routes();
  (void)m.top_route();
  (void)m.echo_lines();
}

}  // namespace rtplatch
