#include "dataplane/keepalive/keepalive_payloads.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "dataplane/fastpath/checksum.h"

namespace rtplatch {

KeepalivePayloads::KeepalivePayloads() {
  Intern(std::string("\r\n\r\n")).IgnoreError();
  Intern(std::string(4, '\0')).IgnoreError();
}

absl::StatusOr<uint16_t> KeepalivePayloads::Intern(const std::string& bytes) {
  if (bytes.empty() || bytes.size() > kMaxKeepalivePayload) {
    return absl::InvalidArgumentError(absl::StrCat(
        "payload: ", bytes.size(), " bytes; must be 1..", kMaxKeepalivePayload));
  }
  if (auto it = ids_.find(bytes); it != ids_.end()) return it->second;
  if (count_ == kMaxKeepalivePayloads) {
    return absl::ResourceExhaustedError(
        absl::StrCat("payload: more than ", kMaxKeepalivePayloads, " distinct payloads"));
  }
  auto p = std::make_unique<KeepalivePayload>();
  p->length = static_cast<uint16_t>(bytes.size());
  std::memcpy(p->bytes, bytes.data(), bytes.size());
  p->sum = ChecksumAdd(0, p->bytes, p->length);
  uint16_t id = static_cast<uint16_t>(count_++);
  payloads_[id] = std::move(p);
  ids_[bytes] = id;
  return id;
}

}  // namespace rtplatch
