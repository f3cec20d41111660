#include "control/sip/sip_serialize.h"

#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace rtplatch {

absl::Status SetOpaqueBody(osip_message* m, absl::string_view body) {
  osip_list_special_free(&m->bodies, reinterpret_cast<void (*)(void*)>(osip_body_free));
  osip_content_length_free(m->content_length);
  m->content_length = nullptr;
  // osip_message_set_body copies `length` bytes: NULs stay.
  if ((!body.empty() && osip_message_set_body(m, body.data(), body.size()) != OSIP_SUCCESS) ||
      osip_message_set_content_length(m, absl::StrCat(body.size()).c_str()) != OSIP_SUCCESS) {
    return absl::InternalError("SIP: could not set body");
  }
  osip_message_force_update(m);
  return absl::OkStatus();
}

absl::StatusOr<std::string> SerializeSipMessage(osip_message* m) {
  const int parts = osip_list_size(&m->bodies);
  if (parts > 1) {
    return absl::InternalError(
        absl::StrCat("SIP: ", parts, " body parts (one opaque body expected)"));
  }
  absl::string_view body;
  if (parts == 1) {
    const auto* b = static_cast<const osip_body_t*>(osip_list_get(&m->bodies, 0));
    if (b != nullptr && b->body != nullptr) body = absl::string_view(b->body, b->length);
  }

  // Without its body part oSIP2 writes only the headers, ending them with
  // "Content-Length: 0" and the empty line. force_update: oSIP2 may hand
  // back text it cached, and must not keep this body-less text.
  osip_list_t bodies = m->bodies;
  osip_list_init(&m->bodies);
  osip_message_force_update(m);
  char* out = nullptr;
  size_t len = 0;
  const int rc = osip_message_to_str(m, &out, &len);
  m->bodies = bodies;
  osip_message_force_update(m);
  if (rc != OSIP_SUCCESS || out == nullptr) {
    return absl::InternalError(
        absl::StrCat("SIP: could not serialise message (oSIP2 error ", rc, ")"));
  }
  absl::string_view head(out, len);
  constexpr absl::string_view kNoBody = "Content-Length: 0\r\n\r\n";
  const bool framed = absl::ConsumeSuffix(&head, kNoBody);
  std::string bytes = absl::StrCat(head, "Content-Length: ", body.size(), "\r\n\r\n", body);
  osip_free(out);
  if (!framed) return absl::InternalError("SIP: oSIP2 wrote no Content-Length: 0 last");
  return bytes;
}

}  // namespace rtplatch
