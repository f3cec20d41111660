// One relay stream's ICE credentials (RFC 8445 5.3): the ufrag and
// password rtplatch put in the SDP for that stream, which a peer's
// connectivity checks must carry (USERNAME "<ufrag>:<theirs>") and be
// signed with (MESSAGE-INTEGRITY keyed by the password). Fixed-size, so a
// FlowCommand carries them through the lcore's ring by value.
#pragma once

#include <cstdint>
#include <string_view>

namespace rtplatch {

// rtplatch-control writes 8 and 24 characters; the limits leave room
// without making every FlowCommand much larger. RFC 8445 allows more, but
// only the party that wrote the SDP ever chooses these.
inline constexpr size_t kIceUfragMin = 4;
inline constexpr size_t kIceUfragMax = 16;
inline constexpr size_t kIcePwdMin = 22;
inline constexpr size_t kIcePwdMax = 32;

struct IceCredentials {
  uint8_t ufrag_len = 0;  // 0: the stream answers no ICE checks
  uint8_t pwd_len = 0;
  char ufrag[kIceUfragMax];
  char pwd[kIcePwdMax];

  bool present() const { return ufrag_len != 0; }
  std::string_view ufrag_view() const { return {ufrag, ufrag_len}; }
  std::string_view pwd_view() const { return {pwd, pwd_len}; }
};

// The ice-char set (ALPHA / DIGIT / "+" / "/") and the lengths above.
bool ValidIceUfrag(std::string_view ufrag);
bool ValidIcePwd(std::string_view pwd);

// Credentials from valid strings (checked by the caller).
IceCredentials MakeIceCredentials(std::string_view ufrag, std::string_view pwd);

}  // namespace rtplatch
